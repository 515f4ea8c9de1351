package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsctl/wsctl/runtime"
)

// ReadyOptions are the flags of wsctl ready.
type ReadyOptions struct {
	IO     *IOStreams
	Socket SocketOptions
	// Server is the argument: "server" or "backend/server".
	Server string
	// WaitHealthy, when positive, waits this long for the health check to
	// pass on every socket; 0 returns once the state is set.
	WaitHealthy time.Duration
	// Poll is how often health is read while waiting; 0 means 250ms.
	Poll time.Duration
	// Fleet readmits on every load balancer through Consul.
	Fleet FleetOptions
}

// NewCmdReady builds `wsctl ready`.
func NewCmdReady(io *IOStreams, runF func(*ReadyOptions) error) *cobra.Command {
	opts := &ReadyOptions{IO: io}
	cmd := &cobra.Command{
		Use:   "ready SERVER",
		Short: "Put a server back into HAProxy after a drain or maint",
		Long: `Set SERVER ("name" or "backend/name") to READY on every admin socket, from
DRAIN or MAINT (the state a successful "wsctl drain" leaves it in).

Coming back from MAINT, a server with health checks gets new clients only
once a fresh check has passed: HAProxy alone would count it up at once, on
the health it had before the maintenance, before the new instance may even
listen. The server's slowstart from the config then applies: its weight
ramps up, so it is not stampeded by every client looking for a server.

With --wait-healthy D the command then waits until HAProxy's health check
reports the server up on every socket. Exit status: 0 ready (and healthy when
asked), 3 not healthy within D (the server stays READY; HAProxy sends it
traffic as soon as its check passes), 2 error. On success one line on stdout
says so, terminal or not.

With --fleet (no socket) the server's intent is removed from Consul and the
command waits, up to a minute or --wait-healthy, until every live agent
reports it READY (and, with --wait-healthy, up): each agent readmits it on
its own HAProxy. Exit 3 when that takes longer.`,
		Example: `  # After the deploy: back into rotation
  wsctl ready backend2

  # Fail the pipeline step (exit 3) unless its health check passes within 30 s
  wsctl ready ws/backend2 --wait-healthy 30s`,
		Args:              oneServerArg,
		ValidArgsFunction: completeNames(io, &opts.Socket, false),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Server = args[0]
			if err := opts.Fleet.check(&opts.Socket); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			if opts.Fleet.On {
				return readyFleetRun(opts)
			}
			return readyRun(opts)
		},
	}
	opts.Socket.addFlags(cmd)
	opts.Fleet.addFlags(cmd, true)
	durationVar(cmd.Flags(), &opts.WaitHealthy, "wait-healthy", 0, "wait up to this long for the health check to pass (exit 3 if it does not; 0: do not wait)")
	return cmd
}

func readyRun(opts *ReadyOptions) error {
	ctx := context.Background()
	clients, found, err := opts.Socket.find(ctx, opts.IO, opts.Server)
	if err != nil {
		return err
	}
	if err := opts.Socket.recordIntent(ctx, opts.IO, found, ""); err != nil {
		return err
	}
	_, err = eachSocket(ctx, clients, func(ctx context.Context, c *runtime.Client) (struct{}, error) {
		s := serverOn(found, c)
		return struct{}{}, c.Readmit(ctx, s.Backend, s.Server)
	})
	if err != nil {
		return err
	}
	name := found[0].Server.Ref().String()
	// One line on success, terminal or not, so a pipeline log shows it.
	if opts.WaitHealthy == 0 {
		fmt.Fprintf(opts.IO.Out, "%s is READY%s\n", name, onSockets(len(clients)))
		return nil
	}

	start := time.Now()
	sick, err := waitHealthy(ctx, clients, found, opts.WaitHealthy, opts.Poll)
	if err != nil {
		return err
	}
	if len(sick) > 0 {
		fmt.Fprintf(opts.IO.ErrOut, "wsctl: %s is READY but not healthy after %s: %s\n", name, opts.WaitHealthy, strings.Join(sick, "; "))
		return errTimedOut
	}
	fmt.Fprintf(opts.IO.Out, "%s is READY and healthy%s after %s\n", name, onSockets(len(clients)), time.Since(start).Round(100*time.Millisecond))
	return nil
}

// waitHealthy polls every socket until the server is up on all of them or
// the wait is over, and returns a description of each socket where it is
// not.
func waitHealthy(ctx context.Context, clients []*runtime.Client, found []located, wait, poll time.Duration) ([]string, error) {
	if poll <= 0 {
		poll = 250 * time.Millisecond
	}
	deadline := time.Now().Add(wait)
	for {
		states, err := eachSocket(ctx, clients, func(ctx context.Context, c *runtime.Client) (runtime.ServerStatus, error) {
			s := serverOn(found, c)
			return c.Server(ctx, s.Backend, s.Server)
		})
		if err != nil {
			return nil, err
		}
		var sick []string
		for i, s := range states {
			if !healthy(s) {
				check := s.Check
				if check == "" {
					check = "no check"
				}
				sick = append(sick, fmt.Sprintf("%s: %s %s, check %s", clients[i].Path(), s.State, s.Admin, check))
			}
		}
		left := time.Until(deadline)
		if len(sick) == 0 || left <= 0 {
			return sick, nil
		}
		time.Sleep(min(poll, left))
	}
}

// healthy reports whether HAProxy sends the server new clients: READY, and
// up (STARTING is up during slowstart).
func healthy(s runtime.ServerStatus) bool {
	return s.Admin == runtime.Ready && (s.State == runtime.Up || s.State == runtime.Starting)
}

// serverOn returns the server found on c.
func serverOn(found []located, c *runtime.Client) runtime.ServerStatus {
	for _, f := range found {
		if f.Client == c {
			return f.Server
		}
	}
	return runtime.ServerStatus{}
}

// onSockets says how many sockets a change applied to, when several.
func onSockets(n int) string {
	if n < 2 {
		return ""
	}
	return fmt.Sprintf(" on %d sockets", n)
}

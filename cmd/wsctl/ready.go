package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/internal/cli"
	"github.com/wsctl/wsctl/target"
)

// ReadyOptions are the flags of wsctl ready.
type ReadyOptions struct {
	ServerOptions
	// WaitHealthy, when positive, waits this long for the health check to
	// pass on every socket; 0 returns once the state is set.
	WaitHealthy time.Duration
}

// NewCmdReady builds `wsctl ready`.
func NewCmdReady(f *Factory, runF func(*ReadyOptions) error) *cobra.Command {
	opts := &ReadyOptions{}
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
its own HAProxy. Exit 3 when that takes longer.

With --dry-run nothing changes: the command reads where the server stands,
refuses what the real run would refuse (same message, exit 2) and prints
what it would do, a line each ("dry run, nothing changed:"); with -o json
{"server": "ws/backend2", "dry_run": true, "would": ["..."]}.

With -o json (admin sockets) one object, a stable contract:

  {"server": "ws/backend2", "result": "done", "admin": "READY", "sockets": 1,
   "elapsed_s": 0.4, "not_healthy": ["/run/haproxy/admin.sock: DOWN READY, check L4CON"]}

"result" is "done", or "timed_out" (exit 3) when --wait-healthy waited in vain, with "not_healthy" saying where and why. With --fleet, -o json prints
the fleet summary drain --fleet documents.`,
		Example: `  # After the deploy: back into rotation
  wsctl ready backend2

  # Fail the pipeline step (exit 3) unless its health check passes within 30 s
  wsctl ready ws/backend2 --wait-healthy 30s`,
	}
	serverCmd(f, &opts.ServerOptions, cmd, nil, func() error {
		if runF != nil {
			return runF(opts)
		}
		return readyRun(opts)
	})
	cli.DurationVar(cmd.Flags(), &opts.WaitHealthy, "wait-healthy", 0, "wait up to this long for the health check to pass (exit 3 if it does not; 0: do not wait)")
	return cmd
}

func readyRun(opts *ReadyOptions) error {
	verb := "is READY"
	if opts.WaitHealthy > 0 {
		verb = "is READY and healthy"
	}
	admit := func(ctx context.Context, t built) (target.Result, error) {
		return t.Admit(ctx, t.Ref, opts.WaitHealthy)
	}
	return changeRun(&opts.ServerOptions, haproxy.Ready, verb, admit, func(res target.Result) error {
		name := res.Ref.String()
		// One line, terminal or not, so a pipeline log shows it.
		switch {
		case opts.WaitHealthy == 0:
			fmt.Fprintf(opts.IO.Out, "%s is READY%s\n", name, onSockets(res.Places))
		case len(res.Sick) > 0:
			fmt.Fprintf(opts.IO.ErrOut, "wsctl: %s is READY but not healthy after %s: %s\n", name, opts.WaitHealthy, strings.Join(res.Sick, "; "))
			return errTimedOut
		default:
			fmt.Fprintf(opts.IO.Out, "%s is READY and healthy%s after %s\n", name, onSockets(res.Places), res.Elapsed.Round(100*time.Millisecond))
		}
		return nil
	})
}

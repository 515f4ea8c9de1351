package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/target"
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
	// Output is "text" or "json".
	Output string
}

// NewCmdReady builds `wsctl ready`.
func NewCmdReady(f *Factory, runF func(*ReadyOptions) error) *cobra.Command {
	io := f.IO
	opts := &ReadyOptions{IO: io}
	opts.Socket.dial = f.Dial
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
			return readyRun(opts)
		},
	}
	opts.Socket.addFlags(cmd)
	opts.Fleet.addFlags(cmd, true)
	addOutputFlag(cmd, &opts.Output)
	durationVar(cmd.Flags(), &opts.WaitHealthy, "wait-healthy", 0, "wait up to this long for the health check to pass (exit 3 if it does not; 0: do not wait)")
	return cmd
}

func readyRun(opts *ReadyOptions) error {
	ctx, stop := signalContext()
	defer stop()
	shown := terminalProgress(opts.IO)
	if opts.Output == "json" {
		shown = nil
	}
	verb := "is READY"
	if opts.WaitHealthy > 0 {
		verb = "is READY and healthy"
	}
	t, err := opts.Socket.target(ctx, opts.IO, opts.Fleet, opts.Server, fleetProgress(shown, verb))
	if err != nil {
		return err
	}
	res, err := t.Admit(ctx, t.Ref, opts.WaitHealthy)
	switch {
	case err != nil:
		return err
	case res.Planned != nil:
		return writeDryRun(opts.IO, opts.Output, "server", res.Ref.String(), res.Planned)
	case res.Fleet != nil:
		return reportFleet(opts.IO, shown, res, t.Where(), opts.Output, verb, false)
	case opts.Output == "json":
		return writeChangeJSON(opts.IO, res, haproxy.Ready)
	}
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
}

// changeJSON is the result of `wsctl ready -o json` and `wsctl maint -o
// json` on admin sockets: a documented contract, so fields are only ever
// added. (With --fleet they print the fleet's summary, as drain does.)
type changeJSON struct {
	Server string `json:"server"`
	// Result is "done", or "timed_out" when ready --wait-healthy waited
	// in vain (exit 3).
	Result string `json:"result"`
	// Admin is the state set: "READY" or "MAINT".
	Admin   string  `json:"admin"`
	Sockets int     `json:"sockets"`
	Elapsed float64 `json:"elapsed_s"`
	// NotHealthy says, per socket, why the server is not healthy yet.
	NotHealthy []string `json:"not_healthy,omitempty"`
	// SessionsOpen are the sessions a forced MAINT left open.
	SessionsOpen int64 `json:"sessions_open,omitempty"`
}

// writeChangeJSON prints res as changeJSON and maps its outcome to the exit
// code.
func writeChangeJSON(ios *IOStreams, res target.Result, admin haproxy.AdminState) error {
	err := writeJSON(ios.Out, changeJSON{Server: res.Ref.String(), Result: string(res.Outcome), Admin: string(admin), Sockets: res.Places,
		Elapsed: seconds(res.Elapsed), NotHealthy: res.Sick, SessionsOpen: res.Sessions})
	if err == nil && res.Outcome != target.Done {
		return errTimedOut
	}
	return err
}

// onSockets says how many sockets a change applied to, when several.
func onSockets(n int) string {
	if n < 2 {
		return ""
	}
	return fmt.Sprintf(" on %d sockets", n)
}

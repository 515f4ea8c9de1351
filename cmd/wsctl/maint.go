package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/wsctl/wsctl/haproxy"
)

// MaintOptions are the flags of wsctl maint.
type MaintOptions struct {
	IO     *IOStreams
	Socket SocketOptions
	// Server is the argument: "server" or "backend/server".
	Server string
	// Force sets MAINT even while sessions remain, or when no other server
	// of the backend can take new clients.
	Force bool
	// Fleet sets MAINT on every load balancer through Consul.
	Fleet FleetOptions
	// Output is "text" or "json".
	Output string
}

// NewCmdMaint builds `wsctl maint`.
func NewCmdMaint(f *Factory, runF func(*MaintOptions) error) *cobra.Command {
	io := f.IO
	opts := &MaintOptions{IO: io}
	opts.Socket.dial = f.Dial
	cmd := &cobra.Command{
		Use:   "maint SERVER",
		Short: "Put a server in maintenance (refused while it has sessions)",
		Long: `Set SERVER ("name" or "backend/name") to MAINT on every admin socket: HAProxy
sends it no new clients, not even those with its sticky cookie, and stops
its health checks.

MAINT does not close existing sessions, but whatever comes next (stopping
the instance) will, all at once. So the command refuses while the server
has sessions on any socket: drain it first ("wsctl drain SERVER", which ends
in MAINT), or pass --force. "wsctl ready SERVER" brings it back.

Like drain, it also refuses when no other server of the backend can take new
clients on some socket (READY, UP or STARTING, weight above 0): the frontend
would answer 503. --force overrides this too.

On success one line on stdout says so, terminal or not (on stderr, as a
warning, when sessions were left open with --force).

With --fleet (no socket) the intent MAINT is written to Consul and every
agent sets MAINT on its own HAProxy; the command waits until every live
agent reports it. Each agent makes the checks above on its own HAProxy
first: when one refuses (sessions left, or the last server) the command
removes the intent again, so every agent readmits the server, and exits 2
naming it. "wsctl drain SERVER --fleet" empties the server everywhere.

With --dry-run nothing changes: the command reads where the server stands,
refuses what the real run would refuse (same message, exit 2) and prints
what it would do, a line each ("dry run, nothing changed:"); with -o json
{"server": "ws/backend2", "dry_run": true, "would": ["..."]}.

With -o json (admin sockets) one object, a stable contract:

  {"server": "ws/backend2", "result": "done", "admin": "MAINT", "sockets": 1,
   "elapsed_s": 0.4, "sessions_open": 2}

"result" is "done", or "timed_out" (exit 3) (never for maint); "sessions_open" counts the sessions a forced MAINT left open. With --fleet, -o json prints
the fleet summary drain --fleet documents.`,
		Example: `  # An idle server
  wsctl maint backend2

  # Right now, sessions or not (they stay open until the backend closes them)
  wsctl maint ws/backend2 --force

  # Every load balancer, through Consul, with a reason for the audit trail
  wsctl maint ws/backend2 --fleet -c wsctl.yaml --reason "disk replacement"`,
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
			return maintRun(opts)
		},
	}
	opts.Socket.addFlags(cmd)
	opts.Fleet.addFlags(cmd, true)
	addOutputFlag(cmd, &opts.Output)
	cmd.Flags().BoolVar(&opts.Force, "force", false, "set MAINT even while the server has sessions, or is the last one of its backend that can take clients")
	return cmd
}

func maintRun(opts *MaintOptions) error {
	ctx, stop := signalContext()
	defer stop()
	shown := terminalProgress(opts.IO)
	if opts.Output == "json" {
		shown = nil
	}
	t, err := opts.Socket.target(ctx, opts.IO, opts.Fleet, opts.Server, fleetProgress(shown, "is MAINT"))
	if err != nil {
		return err
	}
	res, err := t.Hold(ctx, t.Ref, haproxy.Maint, opts.Force)
	switch {
	case err != nil:
		return refused("maint", opts.Server, err)
	case res.Planned != nil:
		return writeDryRun(opts.IO, opts.Output, "server", res.Ref.String(), res.Planned)
	case res.Fleet != nil:
		return reportFleet(opts.IO, shown, res, t.Where(), opts.Output, "is MAINT", true)
	case opts.Output == "json":
		return writeChangeJSON(opts.IO, res, haproxy.Maint)
	}
	// One line, terminal or not, so a pipeline log shows it.
	if res.Sessions > 0 {
		fmt.Fprintf(opts.IO.ErrOut, "wsctl: %s is MAINT with %d sessions still open; MAINT does not close them\n", res.Ref, res.Sessions)
	} else {
		fmt.Fprintf(opts.IO.Out, "%s is MAINT%s\n", res.Ref, onSockets(res.Places))
	}
	return nil
}

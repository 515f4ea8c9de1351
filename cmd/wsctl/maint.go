package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wsctl/wsctl/runtime"
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
}

// NewCmdMaint builds `wsctl maint`.
func NewCmdMaint(io *IOStreams, runF func(*MaintOptions) error) *cobra.Command {
	opts := &MaintOptions{IO: io}
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
naming it. "wsctl drain SERVER --fleet" empties the server everywhere.`,
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
			if opts.Fleet.On {
				return maintFleetRun(opts)
			}
			return maintRun(opts)
		},
	}
	opts.Socket.addFlags(cmd)
	opts.Fleet.addFlags(cmd, true)
	cmd.Flags().BoolVar(&opts.Force, "force", false, "set MAINT even while the server has sessions, or is the last one of its backend that can take clients")
	return cmd
}

func maintRun(opts *MaintOptions) error {
	ctx := context.Background()
	clients, found, err := opts.Socket.find(ctx, opts.IO, opts.Server)
	if err != nil {
		return err
	}
	if err := checkNotLast(ctx, "maint", drainTargets(found), opts.Force); err != nil {
		return err
	}
	name := found[0].Server.Ref().String()
	var live []string
	var total int64
	for _, f := range found {
		if f.Server.Scur > 0 {
			total += f.Server.Scur
			live = append(live, fmt.Sprintf("%d on %s", f.Server.Scur, f.Client.Path()))
		}
	}
	if total > 0 && !opts.Force {
		return fmt.Errorf("%s has %d live sessions (%s): drain it first with `wsctl drain %s`, or use --force",
			name, total, strings.Join(live, ", "), opts.Server)
	}
	if err := opts.Socket.recordIntent(ctx, opts.IO, found, runtime.Maint); err != nil {
		return err
	}
	// A session may arrive between the count and the change; MAINT does
	// not cut it, so the worst case is one session the next step ends.
	_, err = eachSocket(ctx, clients, func(ctx context.Context, c *runtime.Client) (struct{}, error) {
		s := serverOn(found, c)
		return struct{}{}, c.SetState(ctx, s.Backend, s.Server, runtime.Maint)
	})
	if err != nil {
		return err
	}
	// One line, terminal or not, so a pipeline log shows it.
	if total > 0 {
		fmt.Fprintf(opts.IO.ErrOut, "wsctl: %s is MAINT with %d sessions still open; MAINT does not close them\n", name, total)
	} else {
		fmt.Fprintf(opts.IO.Out, "%s is MAINT%s\n", name, onSockets(len(clients)))
	}
	return nil
}

package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsctl/wsctl/fleet"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/internal/cli"
	"github.com/wsctl/wsctl/target"
)

// StatusOptions are the flags of wsctl status.
type StatusOptions struct {
	IO     *cli.IOStreams
	Socket SocketOptions
	// Backend limits the listing to one backend; "" lists all.
	Backend string
	// Output is "table" or "json".
	Output string
	// Fleet shows every load balancer's reports from Consul.
	Fleet FleetOptions
}

// NewCmdStatus builds `wsctl status`.
func NewCmdStatus(f *Factory, runF func(*StatusOptions) error) *cobra.Command {
	io := f.IO
	opts := &StatusOptions{IO: io}
	opts.Socket.dial = f.Dial
	opts.Socket.operator = f.Fleet
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show each HAProxy server's state, health and sessions",
		Long: `Show every server of HAProxy's backends, read from the admin socket: address,
operational state (UP, DOWN, STARTING during slowstart, STOPPING), admin state
(READY, DRAIN, MAINT), last health check, current, highest and total sessions,
and effective weight.

With -o json the output is an array with one object per server, a stable
contract:

  backend, server, addr   strings ("addr" is "ip:port")
  state                   "UP", "DOWN", "STARTING" or "STOPPING"
  admin                   "READY", "DRAIN" or "MAINT"
  check                   last check status ("L7OK", "L4CON", …; "" without checks)
  scur, smax, stot        current, highest and total sessions (numbers)
  weight                  effective weight (number)
  socket                  the admin socket, only when several are queried

With several sockets every HAProxy is queried at once; the servers of the
sockets that answered are shown even when another fails (exit 2).

With --fleet (no socket) it reads Consul instead: the live agents (load
balancers), what each reports of the servers a fleet operation touched, and
the intents with who set them, when and why (--reason). -o json gives
{"agents": [...], "intents": [...], "servers": [...]}.`,
		Example: `  # All servers of the local HAProxy
  wsctl status

  # One backend, as JSON, for a script
  wsctl status -b ws -o json | jq '.[] | select(.admin != "READY")'

  # Two HAProxy processes at once
  wsctl status --socket /run/haproxy/a.sock --socket /run/haproxy/b.sock`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.Fleet.check(&opts.Socket); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return statusRun(opts)
		},
	}
	opts.Socket.addFlags(cmd)
	opts.Fleet.addFlags(cmd, false)
	cmd.Flags().StringVarP(&opts.Backend, "backend", "b", "", "show only this backend")
	cli.OutputFlag(cmd, &opts.Output, "table", "json")
	return cmd
}

func statusRun(opts *StatusOptions) error {
	ctx := context.Background()
	if opts.Backend != "" {
		if err := haproxy.ValidName(opts.Backend); err != nil {
			return fmt.Errorf("backend: %w", err)
		}
	}
	t, err := opts.Socket.reader(ctx, opts.IO, opts.Fleet)
	if err != nil {
		return err
	}
	st, err := t.Status(ctx, opts.Backend)
	if st.Fleet != nil {
		return writeFleetStatus(opts, *st.Fleet)
	}
	if rows, answered := st.Rows(); answered {
		if err := writeStatus(opts, rows, len(st.Listings) > 1); err != nil {
			return err
		}
	}
	return opts.Socket.found.Explain(err)
}

func writeStatus(opts *StatusOptions, rows []target.Row, several bool) error {
	if opts.Output == "json" {
		return cli.WriteJSON(opts.IO.Out, rows)
	}
	tw := tabwriter.NewWriter(opts.IO.Out, 0, 4, 2, ' ', 0)
	if several {
		fmt.Fprint(tw, "SOCKET\t")
	}
	fmt.Fprintln(tw, "BACKEND\tSERVER\tADDR\tSTATE\tADMIN\tCHECK\tSCUR\tSMAX\tSTOT\tWEIGHT")
	for _, r := range rows {
		if several {
			fmt.Fprintf(tw, "%s\t", r.Socket)
		}
		check := r.Check
		if check == "" {
			check = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\n",
			r.Backend, r.Server, r.Addr, r.State, r.Admin, check, r.Scur, r.Smax, r.Stot, r.Weight)
	}
	return tw.Flush()
}

// writeFleetStatus is `wsctl status --fleet`: load balancers × servers
// from the agents' reports, and the intents with who, when and why.
func writeFleetStatus(opts *StatusOptions, o fleet.Overview) error {
	if opts.Output == "json" {
		return cli.WriteJSON(opts.IO.Out, o)
	}
	tw := tabwriter.NewWriter(opts.IO.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "load balancers (%d live): %v\n", len(o.Agents), o.Agents)
	fmt.Fprintln(tw, "SERVER\tLOAD BALANCER\tADMIN\tSTATE\tPHASE\tSESSIONS\tOP")
	for _, r := range o.Servers {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", r.Server, r.Agent, r.Admin, r.State, r.Phase, r.Sessions, r.Op)
	}
	_ = tw.Flush()
	if len(o.Intents) > 0 {
		fmt.Fprintln(tw, "\nINTENT\tSTATE\tSINCE\tWHO\tREASON")
		for _, i := range o.Intents {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", i.Server, i.State, i.Since.Format(time.RFC3339), i.Who, i.Reason)
		}
		_ = tw.Flush()
	}
	return nil
}

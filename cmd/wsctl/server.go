package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/internal/cli"
	"github.com/wsctl/wsctl/target"
)

// ServerOptions are what drain, ready and maint share: the server, where
// it is acted on and the output.
type ServerOptions struct {
	IO     *cli.IOStreams
	Socket SocketOptions
	// Server is the argument: "server" or "backend/server".
	Server string
	// Fleet acts on every load balancer through Consul.
	Fleet FleetOptions
	// Output is "text" or "json".
	Output string
}

// serverCmd completes cmd, a command on one server whose options are o:
// o reaches out through f, cmd gets the shared flags and its argument,
// and runs run once check (nil: none) and the fleet's check pass.
func serverCmd(f *Factory, o *ServerOptions, cmd *cobra.Command, check func(*cobra.Command) error, run func() error) *cobra.Command {
	o.IO = f.IO
	o.Socket.dial, o.Socket.operator = f.Dial, f.Fleet
	cmd.Args = oneServerArg
	cmd.ValidArgsFunction = completeNames(f.IO, &o.Socket, false)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		o.Server = args[0]
		if check != nil {
			if err := check(cmd); err != nil {
				return err
			}
		}
		if err := o.Fleet.check(&o.Socket); err != nil {
			return err
		}
		return run()
	}
	o.Socket.addFlags(cmd)
	o.Fleet.addFlags(cmd, true)
	cli.OutputFlag(cmd, &o.Output)
	return cmd
}

// oneServerArg wants exactly the SERVER argument, and says so with the
// usage line, not cobra's "accepts 1 arg(s), received 0".
func oneServerArg(cmd *cobra.Command, args []string) error {
	if len(args) == 1 {
		return nil
	}
	got := "none"
	if len(args) > 1 {
		got = fmt.Sprintf("%d: %s", len(args), strings.Join(args, " "))
	}
	return fmt.Errorf("usage: %s SERVER (one server, \"name\" or \"backend/name\"; got %s); see `%s --help`",
		cmd.CommandPath(), got, cmd.CommandPath())
}

// changeRun is ready's and maint's run: act sets the server to admin
// where the flags say, showing a fleet's progress on a terminal as verb
// ("is MAINT"); a dry run, the fleet's summary and -o json are printed
// alike, and text, the line of a change on sockets, by the command.
func changeRun(o *ServerOptions, admin haproxy.AdminState, verb string, act func(context.Context, built) (target.Result, error), text func(target.Result) error) error {
	ctx, stop := cli.SignalContext()
	defer stop()
	shown := cli.TerminalProgress(o.IO)
	if o.Output == "json" {
		shown = nil
	}
	t, err := o.Socket.target(ctx, o.IO, o.Fleet, o.Server, fleetProgress(shown, verb))
	if err != nil {
		return err
	}
	res, err := act(ctx, t)
	switch {
	case err != nil:
		return refused(strings.ToLower(string(admin)), o.Server, err)
	case res.Planned != nil:
		return writeDryRun(o.IO, o.Output, "server", res.Ref.String(), res.Planned)
	case res.Fleet != nil:
		// A readmission removes an intent: none stays behind.
		return reportFleet(o.IO, shown, res, t.Where(), o.Output, verb, admin != haproxy.Ready)
	case o.Output != "json":
		return text(res)
	}
	if err := cli.WriteJSON(o.IO.Out, res.Summary(admin)); err != nil {
		return err
	}
	if res.Outcome != target.Done {
		return errTimedOut
	}
	return nil
}

// onSockets says how many sockets a change applied to, when several.
func onSockets(n int) string {
	if n < 2 {
		return ""
	}
	return fmt.Sprintf(" on %d sockets", n)
}

package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/internal/cli"
	"github.com/wsctl/wsctl/reload"
	"github.com/wsctl/wsctl/serverstate"
	"github.com/wsctl/wsctl/spec"
)

// StateOptions are the flags of wsctl state save and restore.
type StateOptions struct {
	IO       *cli.IOStreams
	SpecPath string
	// Timeout bounds each exchange with HAProxy.
	Timeout time.Duration
}

// NewCmdState builds `wsctl state` and its subcommands.
func NewCmdState(io *cli.IOStreams) *cobra.Command {
	opts := &StateOptions{IO: io}
	cmd := &cobra.Command{
		Use:   "state",
		Short: "Save and restore HAProxy's runtime server state across reloads and restarts",
		Long: `HAProxy forgets at every reload and restart what the runtime API changed:
DRAIN and MAINT, weights, addresses, servers added at haproxy. The config
wsctl renders tells HAProxy to load them from haproxy.state_file
(server-state-file, load-server-state-from-file global); these commands keep
that file current without the agent. wsctl reload uses them itself; the
wsctl package ships a systemd drop-in for haproxy.service that runs them at
stop, reload and start once enabled (see docs/operations.md).`,
		Example: `  # Before stopping or reloading HAProxy by hand
  wsctl state save -c /etc/wsctl/wsctl.yaml

  # After it started again: add back the servers added at runtime
  wsctl state restore -c /etc/wsctl/wsctl.yaml`,
		Args: cobra.NoArgs,
	}
	cmd.PersistentFlags().StringVarP(&opts.SpecPath, "config", "c", "", "path of the wsctl spec "+specDefaultHelp)
	cli.PositiveDurationVar(cmd.PersistentFlags(), &opts.Timeout, "timeout", 5*time.Second, "bound on each exchange with HAProxy")
	cmd.AddCommand(&cobra.Command{
		Use:   "save",
		Short: "Write HAProxy's server state to haproxy.state_file",
		Long: `Write "show servers state" of the HAProxy behind haproxy.admin_socket to
haproxy.state_file, atomically. When HAProxy is not running (no socket), the
file is kept as it is, and created empty if there is none, so HAProxy never
starts without one: run it before HAProxy stops, reloads and starts.`,
		Example: "  wsctl state save -c /etc/wsctl/wsctl.yaml",
		Args:    cobra.NoArgs,
		RunE:    func(*cobra.Command, []string) error { return stateSave(opts) },
	}, &cobra.Command{
		Use:   "restore",
		Short: "Add back the servers added at runtime that HAProxy lost at a restart",
		Long: `HAProxy applies the saved state to the servers of its config by itself.
Servers added at runtime are in no config: restore adds each one saved in
haproxy.state_file whose backend the running HAProxy has, at its saved
address and weight, with its backend's health check, in its saved state.`,
		Example: "  wsctl state restore -c /etc/wsctl/wsctl.yaml",
		Args:    cobra.NoArgs,
		RunE:    func(*cobra.Command, []string) error { return stateRestore(opts) },
	})
	return cmd
}

func stateSave(opts *StateOptions) error {
	s, err := loadSpec(opts.IO, opts.SpecPath)
	if err != nil {
		return err
	}
	ctx, stop := cli.SignalContext()
	defer stop()
	hap := s.HAProxy
	saved, err := serverstate.SaveRunning(ctx, hap.AdminSocket, opts.Timeout, hap.StateFile)
	switch {
	case err != nil:
		return err
	case saved.Pid != 0:
		fmt.Fprintf(opts.IO.ErrOut, "saved the server state of HAProxy %d to %s\n", saved.Pid, hap.StateFile)
	case saved.Created:
		fmt.Fprintf(opts.IO.ErrOut, "HAProxy is not running (%s); created %s empty\n", hap.AdminSocket, hap.StateFile)
	default:
		fmt.Fprintf(opts.IO.ErrOut, "HAProxy is not running (%s); %s kept\n", hap.AdminSocket, hap.StateFile)
	}
	return nil
}

func stateRestore(opts *StateOptions) error {
	s, err := loadSpec(opts.IO, opts.SpecPath)
	if err != nil {
		return err
	}
	ctx, stop := cli.SignalContext()
	defer stop()
	c, err := haproxy.Dial(ctx, s.HAProxy.AdminSocket, opts.Timeout)
	if err != nil {
		return err
	}
	added, err := reload.RestoreAdded(ctx, c, s)
	sayAdded(opts.IO, s, added)
	return err
}

// sayAdded says which servers added at runtime were added back from the
// spec's state file (by wsctl state restore, or after wsctl reload).
func sayAdded(io *cli.IOStreams, s *spec.Spec, added []haproxy.Ref) {
	for _, r := range added {
		fmt.Fprintf(io.ErrOut, "added %s back from %s\n", r, s.HAProxy.StateFile)
	}
}

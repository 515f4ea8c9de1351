package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/spf13/cobra"

	"github.com/wsctl/wsctl/internal/cli"
	"github.com/wsctl/wsctl/top"
)

// TopOptions are the flags of wsctl top.
type TopOptions struct {
	IO     *cli.IOStreams
	Socket SocketOptions
	// Master is the master CLI whose old workers are shown; "" means the
	// spec's haproxy.master_socket, none without a spec.
	Master string
	// Fleet shows every load balancer's reports from Consul.
	Fleet bool
	// Refresh is how often the view is sampled.
	Refresh time.Duration
	// Once prints one snapshot without colours and exits: for a log or
	// a script, where there is no terminal.
	Once bool
}

// NewCmdTop builds `wsctl top`.
func NewCmdTop(f *Factory, runF func(*TopOptions) error) *cobra.Command {
	io := f.IO
	opts := &TopOptions{IO: io}
	opts.Socket.dial = f.Dial
	opts.Socket.operator = f.Fleet
	cmd := &cobra.Command{
		Use:   "top",
		Short: "Watch the WebSockets live: servers, sessions, drains, hand-overs and rollouts",
		Long: `A live view of where the WebSockets are, refreshed every --refresh (1 s),
one backend at a time: every server on every admin socket with its admin
state (READY/DRAIN/MAINT), operational state, last health check, current
sessions with a sparkline of the last 3 minutes, new connections per second
(from HAProxy's session totals) and weight.

Below it, what is in progress: servers in DRAIN or MAINT with sessions left
(a drain, a rollout's drain or a rebalance closing them), the operators'
intents (the spec's intent store: the file beside haproxy.state_file, or
Consul), each backend's rollout from its state file, and the old workers a
reload left with the WebSockets they still hold (through the master CLI).
With --fleet, every load balancer's reports from Consul (their wsctl
agents). A source that fails is named at the bottom; the others still show.

Keys: tab or → next backend, shift-tab or ← previous, s sorts by name,
sessions or state (what needs a look first), q or ctrl-c quits and restores
the terminal.

top needs a terminal on stdout and refuses without one (exit 2); --once
prints one snapshot as plain text instead, for a log or a script.`,
		Example: `  # The packaged setup
  wsctl top -c /etc/wsctl/wsctl.yaml

  # Two HAProxy processes and their master CLI, no spec
  wsctl top --socket /run/haproxy/a.sock --socket /run/haproxy/b.sock --master /run/haproxy/master.sock

  # Every load balancer of the fleet, as their agents report to Consul
  wsctl top -c wsctl.yaml --fleet

  # One snapshot into a CI log
  wsctl top -c wsctl.yaml --once`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !opts.Once && !opts.IO.IsTTY {
				return errors.New("top draws on a terminal and stdout is not one: use --once for a single snapshot as text")
			}
			if runF != nil {
				return runF(opts)
			}
			return topRun(opts)
		},
	}
	opts.Socket.addFlags(cmd)
	cmd.Flags().StringVar(&opts.Master, "master", "", "HAProxy master CLI `path` for the old workers (default: the spec's haproxy.master_socket)")
	cmd.Flags().BoolVar(&opts.Fleet, "fleet", false, "show every load balancer's reports from Consul (needs the spec's consul)")
	cli.PositiveDurationVar(cmd.Flags(), &opts.Refresh, "refresh", time.Second, "how often to sample")
	cmd.Flags().BoolVar(&opts.Once, "once", false, "print one snapshot as plain text and exit (no terminal needed)")
	return cmd
}

func topRun(opts *TopOptions) error {
	ctx := context.Background()
	src, err := opts.sources(ctx)
	if err != nil {
		return err
	}
	sample := func(ctx context.Context) top.Snapshot { return top.Sample(ctx, src) }
	m := top.New(sample, opts.Refresh)
	if opts.Once {
		ctx, cancel := context.WithTimeout(ctx, opts.Socket.Timeout)
		defer cancel()
		next, _ := m.Update(top.SnapshotMsg(sample(ctx)))
		_, err := fmt.Fprint(opts.IO.Out, ansi.Strip(next.View().Content))
		return err
	}
	_, err = tea.NewProgram(m, tea.WithInput(opts.IO.In), tea.WithOutput(opts.IO.Out)).Run()
	return err
}

// sources are what top reads (top.SourcesFor): the sockets, dialled
// now, and with a spec what it says is in progress.
func (opts *TopOptions) sources(ctx context.Context) (top.Sources, error) {
	sp, err := opts.Socket.spec(opts.IO)
	if err != nil {
		return top.Sources{}, err
	}
	sockets, err := opts.Socket.sockets(ctx, opts.IO)
	if err != nil {
		return top.Sources{}, err
	}
	return top.SourcesFor(sp, sockets, top.Want{Master: opts.Master, Timeout: opts.Socket.Timeout, Fleet: opts.Fleet}, opts.Socket.reachFleet)
}

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsctl/wsctl/internal/cli"
	"github.com/wsctl/wsctl/rebalance"
)

// RebalanceOptions are the flags of wsctl rebalance.
type RebalanceOptions struct {
	IO     *cli.IOStreams
	Socket SocketOptions
	// Backend is the argument.
	Backend string
	// CloseRate is sessions closed per second across all sockets.
	CloseRate backendRate
	// Tolerance is in percent.
	Tolerance float64
	Timeout   time.Duration
	// Fleet acts through every load balancer's agent (--fleet); its
	// DryRun is --dry-run.
	Fleet  FleetOptions
	Output string
	// Quiet shows no progress.
	Quiet bool
	// Settle and Poll are the rebalance's; 0: its defaults.
	Settle, Poll time.Duration
}

// NewCmdRebalance builds `wsctl rebalance`.
func NewCmdRebalance(f *Factory, runF func(*RebalanceOptions) error) *cobra.Command {
	io := f.IO
	opts := &RebalanceOptions{IO: io}
	opts.Socket.dial = f.Dial
	opts.Socket.operator = f.Fleet
	cmd := &cobra.Command{
		Use:   "rebalance BACKEND",
		Short: "Even out a backend's WebSockets with the fewest moves",
		Long: `Even out the WebSockets of BACKEND among its servers, closing as few as
possible. leastconn places only new connections: after a rollout the server
deployed last is nearly empty, and a server added to full ones takes only new
clients, for as long as the WebSockets live.

Each server's target is its share of the sessions by weight (srv_uweight),
at most the backend's server_maxconn, among the servers that take clients
(READY, UP or STARTING, weight above 0, on every socket). Servers in DRAIN
or MAINT keep their sessions (emptying them is "wsctl drain"'s business).
The minimum to move is the sum of max(0, sessions - target). Then, on every
admin socket at once:

 1. every server above its target, and every one at its target, goes to
    MAINT: with option redispatch a client that comes back with its sticky
    cookie is sent to another server (DRAIN would let it back in), so the
    moved clients land only on the servers below target; existing
    WebSockets stay;
 2. its excess is closed, oldest WebSockets first, at --close-rate per
    second across all servers and sockets;
 3. wsctl waits until the clients have reconnected (to the servers below
    target, the only ones taking clients), then sets the servers READY;
 4. it counts again: if some server is still off by more than --tolerance,
    one more round, never more.

A rebalance never leaves a server in MAINT: on an error, Ctrl-C, SIGTERM or
the timeout, the servers it put in MAINT are set READY again.

The oldest WebSockets move: the youngest are often clients a drain or a
rollout has just moved, and they are the likeliest to leave by themselves.

Refused (exit 2, nothing changed) when no server takes clients, or when the
backend is uneven but no server is below its target (every one at its
server_maxconn). Already within --tolerance: nothing to do, exit 0.

--dry-run prints the plan (sessions, target and moves per server) and
changes nothing.

Exit status: 0 balanced, 3 not balanced within --timeout or after the second
round, 2 error or refused. Progress on stderr: a line per step, the closes
at most a line a second on a terminal and every 2 s in a log (--quiet:
none); the result on stdout when balanced, on stderr otherwise. With -o json one object per line:
a step per phase of each round

  {"type": "step", "backend": "ws", "step": "plan", "round": 1,
   "sessions": 300, "moves": 100, "closed": 0, "elapsed_s": 0.01,
   "servers": [{"server": "s1", "sessions": 150, "weight": 100, "target": 100,
     "moves": 50, "within": false, "eligible": true}, ...]}

("step" is "plan", "closing", "settled" or "readmitted"), then a summary

  {"type": "rebalance", "backend": "ws", "result": "balanced", "rounds": 1,
   "minimum": 100, "closed": 100, "elapsed_s": 1.6, "before": [...],
   "after": [...]}

"result" is "balanced", "unbalanced", "timed_out", "canceled", "error" (with
"error") or, with --dry-run, "planned" (no steps, "after" equals "before").

--fleet: through the "wsctl agent" of every load balancer, with no socket
(Consul only, as "wsctl drain --fleet"). The counts are the sessions every
live agent reports for the backend, summed per server; each load balancer
closes its part of a donor's excess (its share of that server's sessions
fleet-wide) on its part of one fleet-wide schedule, so --close-rate is
fleet-wide; the servers at or above target are in MAINT on every load
balancer until the reconnects landed (an agent stopped readmits them; one
killed does when it runs again, from its state file). An agent that stops reporting is exit 2 naming it
(--allow-missing carries on without it); one that never reports within
30 s is exit 2 too. With --dry-run the agents still report (nothing
changes on any HAProxy). Refused while a drain, maint or rollout holds a
server of the backend, or another rebalance of it runs.`,
		Example: `  # What would move, changing nothing
  wsctl rebalance -c wsctl.yaml ws --dry-run

  # Even out ws at 50 closes per second, within 5 %
  wsctl rebalance -c wsctl.yaml ws --close-rate 50 --tolerance 5

  # Two HAProxy processes, a JSON line per step for the pipeline
  wsctl rebalance -c wsctl.yaml ws --socket /run/haproxy/a.sock \
      --socket /run/haproxy/b.sock -o json

  # Every load balancer through its agent, 200 closes per second fleet-wide
  wsctl rebalance -c wsctl.yaml ws --fleet --close-rate 200 --reason "after deploy 1.4.2"`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeNames(io, &opts.Socket, true),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Backend = args[0]
			if err := opts.options(opts.CloseRate.unloaded(), 0).Validate(); err != nil {
				return err
			}
			if err := opts.Fleet.check(&opts.Socket); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return rebalanceRun(opts)
		},
	}
	opts.Socket.addFlags(cmd)
	opts.Fleet.addFlags(cmd, true)
	fl := cmd.Flags()
	backendRateVar(fl, &opts.CloseRate, "sessions closed per second across all sockets (with --fleet: load balancers), "+closeRateBounds)
	fl.Float64Var(&opts.Tolerance, "tolerance", 100*rebalance.DefaultTolerance, "percent of its target a server may be off and count as balanced")
	cli.DurationVar(fl, &opts.Timeout, "timeout", 5*time.Minute, "give up after this long with exit 3, every server READY (0: no limit)")
	cli.StepsOutputFlag(cmd, &opts.Output)
	cli.QuietFlag(cmd, &opts.Quiet)
	return cmd
}

// options are the rebalance's options at rate with the backend's cap.
func (o *RebalanceOptions) options(rate float64, cap int64) rebalance.Options {
	return rebalance.Options{Backend: o.Backend, Cap: cap, Tolerance: o.Tolerance / 100, Rate: rate,
		Timeout: o.Timeout, Settle: o.Settle, Poll: o.Poll}
}

func rebalanceRun(opts *RebalanceOptions) error {
	sp, err := opts.Socket.load(opts.IO)
	if err != nil {
		return fmt.Errorf("rebalance needs the spec (-c FILE): %w", err)
	}
	b, err := sp.Backend(opts.Backend)
	if err != nil {
		return err
	}
	rate := opts.CloseRate.of(*b)
	ro := opts.options(rate, int64(b.ServerMaxConn))
	if err := ro.Validate(); err != nil {
		return err
	}
	// Ctrl-C or a pipeline's SIGTERM stops the rebalance; the servers it
	// put in MAINT are set READY again.
	ctx, stop := cli.SignalContext()
	defer stop()
	t, _, err := opts.Socket.where(ctx, opts.IO, opts.Fleet, nil)
	if err != nil {
		return err
	}
	human := opts.Output != "json"
	enc := json.NewEncoder(opts.IO.Out)
	switch {
	case opts.Fleet.DryRun:
	case !human:
		ro.Progress = func(s rebalance.Step) { _ = enc.Encode(s.JSON(b.Name)) }
	default:
		if shown := cli.NewProgress(opts.IO, opts.Quiet, human); shown != nil {
			// A round's plan, settling and readmission are a line
			// each; the closes in between are paced like a drain's.
			ro.Progress = func(s rebalance.Step) {
				shown.Show(s.Kind != rebalance.Closing, func(w io.Writer) { writeRebalanceStep(w, b.Name, s) })
			}
			defer shown.Done()
		}
	}
	res, err := t.Rebalance(ctx, ro)
	if opts.Fleet.DryRun {
		return writeRebalancePlan(opts, b.Name, rate, res, err)
	}
	if err != nil {
		if human && len(res.Before.Servers) > 0 {
			writePlan(opts.IO.ErrOut, res.Before)
		}
		return err
	}
	if !human {
		if err := enc.Encode(res.Summary(b.Name, nil)); err != nil {
			return err
		}
	}
	switch res.Outcome {
	case rebalance.Balanced:
		if human {
			fmt.Fprintf(opts.IO.Out, "%s balanced: %d sessions moved (minimum %d) in %d rounds, %s; %s\n", b.Name, res.Closed,
				res.Before.Moves, res.Rounds, res.Elapsed.Round(100*time.Millisecond), sessionsLine(res.After))
		}
		return nil
	case rebalance.Unbalanced, rebalance.TimedOut:
		if human {
			fmt.Fprintf(opts.IO.ErrOut, "wsctl: %s not balanced (%s) after %d rounds, %d sessions moved: %s; every server is READY\n",
				b.Name, res.Outcome, res.Rounds, res.Closed, sessionsLine(res.After))
		}
		return errTimedOut
	}
	if !human {
		return reported(opts.IO.ErrOut, fmt.Errorf("rebalance %s: %w", b.Name, res.Err))
	}
	return fmt.Errorf("rebalance %s (%s): %w", b.Name, res.Outcome, res.Err)
}

// writeRebalancePlan reports a --dry-run: the plan, or why it is refused
// (exit 2).
func writeRebalancePlan(opts *RebalanceOptions, backend string, rate float64, res rebalance.Result, err error) error {
	plan := res.Before
	if opts.Output == "json" {
		if len(plan.Servers) == 0 && err != nil {
			return err // the count failed
		}
		if err := json.NewEncoder(opts.IO.Out).Encode(res.Summary(backend, err)); err != nil {
			return err
		}
		if err != nil {
			return reported(opts.IO.ErrOut, fmt.Errorf("rebalance %s: %w", backend, err))
		}
		return nil
	}
	if len(plan.Servers) > 0 {
		writePlan(opts.IO.Out, plan)
	}
	switch {
	case err != nil:
		return err
	case plan.Balanced():
		fmt.Fprintf(opts.IO.Out, "%s is balanced within %g %%: nothing to move\n", backend, opts.Tolerance)
	default:
		fmt.Fprintf(opts.IO.Out, "%d sessions to move (the minimum) at %g/s; nothing changed (--dry-run)\n", plan.Moves, rate)
	}
	return nil
}

// writePlan is the plan as a table.
func writePlan(w io.Writer, p rebalance.Plan) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVER\tSESSIONS\tWEIGHT\tTARGET\tMOVES\t")
	for _, s := range p.Servers {
		target, note := fmt.Sprint(s.Target), ""
		switch {
		case !s.Eligible:
			target, note = "-", "takes no clients: left alone"
		case !s.Within:
			note = fmt.Sprintf("off by more than %g %%", 100*p.Tolerance)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%d\t%s\n", s.Server, s.Sessions, s.Weight, target, s.Moves, note)
	}
	_ = tw.Flush()
}

// sessionsLine is "s1 100, s2 100, s3 100".
func sessionsLine(p rebalance.Plan) string {
	var parts []string
	for _, s := range p.Servers {
		parts = append(parts, fmt.Sprintf("%s %d", s.Server, s.Sessions))
	}
	return strings.Join(parts, ", ")
}

// writeRebalanceStep is a step's progress line.
func writeRebalanceStep(w io.Writer, backend string, s rebalance.Step) {
	el := s.Elapsed.Round(100 * time.Millisecond)
	switch s.Kind {
	case rebalance.Planned:
		var held []string
		for _, d := range s.Plan.Held() {
			held = append(held, fmt.Sprintf("%s -%d", d.Server, d.Moves))
		}
		fmt.Fprintf(w, "%s round %d: moving %d sessions, in MAINT meanwhile: %s (%s)\n", backend, s.Round, s.Plan.Moves, strings.Join(held, ", "), el)
	case rebalance.Closing:
		fmt.Fprintf(w, "%s round %d: %d of %d closed (%s)\n", backend, s.Round, s.Closed, s.Plan.Moves, el)
	case rebalance.Settled:
		fmt.Fprintf(w, "%s round %d: %d sessions back of %d (%s)\n", backend, s.Round, s.Sessions, s.Plan.Total, el)
	case rebalance.Readmitted:
		fmt.Fprintf(w, "%s round %d: servers READY again (%s)\n", backend, s.Round, el)
	}
}

package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsctl/wsctl/drain"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/internal/cli"
	"github.com/wsctl/wsctl/paced"
)

// DrainOptions are the flags of wsctl drain.
type DrainOptions struct {
	ServerOptions
	// Timeout bounds the drain; 0 waits for ever.
	Timeout time.Duration
	// CloseAfter starts closing the sessions left, when CloseSet.
	CloseAfter time.Duration
	CloseSet   bool
	// CloseRate is sessions closed per second across all sockets; 0 closes
	// them all at once.
	CloseRate float64
	// Poll is how often sessions are counted; 0 means drain.DefaultPoll.
	Poll time.Duration
	// Force drains even the last server of its backend that can take new
	// clients.
	Force bool
	// Quiet shows no progress.
	Quiet bool
}

// NewCmdDrain builds `wsctl drain`.
func NewCmdDrain(f *Factory, runF func(*DrainOptions) error) *cobra.Command {
	opts := &DrainOptions{}
	cmd := &cobra.Command{
		Use:   "drain SERVER",
		Short: "Take a server out of HAProxy without dropping its WebSockets",
		Long: `Drain SERVER ("name" or "backend/name") on every admin socket at once:

 1. set it to DRAIN: no new clients, existing WebSockets stay;
 2. wait until its sessions reach 0 (the backend closes them on SIGTERM,
    or clients leave);
 3. with --close-after D: after D, set it to MAINT first, then close what
    remains at --close-rate sessions per second (shared by all sockets), or
    all at once with --close-rate 0. MAINT before closing matters: in DRAIN,
    HAProxy lets clients that carry the server's sticky cookie back in, so
    they would reconnect straight to the server being drained;
 4. once no session is left, leave the server in MAINT so nobody lands on
    it while it is stopped. "wsctl ready SERVER" brings it back.

Before changing anything the drain is refused when, on some socket, no other
server of the backend can take new clients (READY, UP or STARTING, weight
above 0): its clients would have nowhere to go and the frontend would answer
503. --force drains it anyway.

--close-rate is 0 or between 0.01 and 100000 per second, and needs
--close-after (without it nothing is closed). --timeout and --close-after are
at most 744h (31 days); an intent in Consul is held to the same bounds.

A reload of HAProxy during the drain hands the socket to a new worker that
knows nothing of the drain, while the old worker keeps the sessions where the
socket cannot see them: the drain notices (the worker's pid changes) and
stops with exit 2 and a message saying what to do, never "drained".

Exit status: 0 drained on every socket, 3 timed out with sessions left (the
server stays in DRAIN, or MAINT once closing began), 2 error or refused.
Progress goes to stderr: on a terminal a line a second; without one (a CI
log) a line at most every 2 s and one at the end, in text and JSON alike,
so a pipeline shows what is happening; --quiet shows none. The result is
one line per socket, terminal or not: on stdout when drained, on stderr
otherwise.

With -o json a summary is printed once the drain has begun:

  {"server": "backend2", "result": "drained", "elapsed_s": 12.5,
   "sockets": [{"socket": "/run/haproxy/admin.sock", "backend": "ws",
     "server": "backend2", "result": "drained", "sessions_before": 40,
     "sessions_left": 0, "closed": 12, "admin": "MAINT", "elapsed_s": 12.5}]}

"result" is "drained", "timed_out", "canceled" or "error" (the worst socket's
for the top level); a failed socket carries "error" with the message.
"elapsed_s" is rounded to the millisecond.

With --fleet the drain runs on every load balancer at once, through Consul,
from anywhere that reaches Consul (a CI runner): no socket is given. It
writes the intent (DRAIN, --close-after, --close-rate, --timeout, an
operation id, who and --reason) with check-and-set under the spec's
consul.kv_prefix; every "wsctl agent" runs the drain above on its own HAProxy
and reports its progress; the command follows the reports with blocking
queries (a table on a terminal) until every live agent reports the server in
MAINT with no session left. --close-rate is then fleet-wide: each agent
closes at its share, in proportion to the sessions it holds, so the sum over
the fleet stays within the rate. An agent that was live at the start and
stops reporting fails the drain (exit 2, naming it) unless --allow-missing;
a load balancer that joins meanwhile follows the intent. An agent refuses,
changing nothing, to drain the last server of its backend that can take
clients (without --force): the command then removes the intent it wrote, so
every agent readmits the server, and exits 2 ("withdrawn": true in JSON).
After a timeout or another error the intent stays until
"wsctl ready SERVER --fleet". With -o json:

  {"server": "ws/backend2", "op": "20250101T120000-1a2b3c4d", "result": "done",
   "elapsed_s": 8.2, "total": {"sessions": 0, "closed": 30},
   "load_balancers": [{"agent": "lb1", "admin": "MAINT", "state": "UP",
     "phase": "drained", "sessions": 0, "closed": 10, "done": true,
     "missing": false}]}

"result" is "done", "timed_out" or "error" (with "error" saying why).

With --dry-run nothing changes: the command reads where the server stands,
refuses what the real run would refuse (same message, exit 2) and prints
what it would do, a line each ("dry run, nothing changed:"); with -o json
{"server": "ws/backend2", "dry_run": true, "would": ["..."]}.`,
		Example: `  # Wait up to 5 minutes for backend2's WebSockets to leave
  wsctl drain backend2

  # After 30 s, close what is left at 50 per second; give up after 3 minutes
  wsctl drain ws/backend2 --close-after 30s --close-rate 50 --timeout 3m

  # The only server left up in its backend, knowingly: its clients get 503s
  wsctl drain ws/backend2 --force --close-after 10s --close-rate 0

  # Every load balancer, from the deploy pipeline, through Consul
  wsctl drain ws/backend2 --fleet -c wsctl.yaml --close-after 30s --close-rate 50 \
      --reason "deploy 1.4.2"

  # Two HAProxy processes, JSON summary for the pipeline
  wsctl drain backend2 --socket /run/haproxy/a.sock --socket /run/haproxy/b.sock \
      --close-after 1m -o json`,
	}
	check := func(cmd *cobra.Command) error {
		opts.CloseSet = cmd.Flags().Changed("close-after")
		if cmd.Flags().Changed("close-rate") && !opts.CloseSet {
			return errors.New("--close-rate needs --close-after: without it no session is closed, so the rate would do nothing")
		}
		return opts.drainOptions().Validate()
	}
	serverCmd(f, &opts.ServerOptions, cmd, check, func() error {
		if runF != nil {
			return runF(opts)
		}
		return drainRun(opts)
	})
	cli.DurationVar(cmd.Flags(), &opts.Timeout, "timeout", 5*time.Minute, "give up after this long with exit 3 (0: wait for ever)")
	cli.DurationVar(cmd.Flags(), &opts.CloseAfter, "close-after", 0, "after this long, switch to MAINT and close the sessions left (0: at once)")
	cmd.Flags().Float64Var(&opts.CloseRate, "close-rate", 10, "sessions closed per second after --close-after, across all sockets: "+closeRateBounds+", or 0 for all at once")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "drain even when no other server of the backend can take new clients")
	cli.QuietFlag(cmd, &opts.Quiet)
	return cmd
}

func (opts *DrainOptions) drainOptions() drain.Options {
	o := drain.Options{Timeout: opts.Timeout, Poll: opts.Poll, Force: opts.Force}
	if opts.CloseSet {
		o.Close = &drain.Close{After: opts.CloseAfter, Rate: opts.CloseRate}
	}
	return o
}

func drainRun(opts *DrainOptions) error {
	dopts := opts.drainOptions()
	// Ctrl-C or a pipeline's SIGTERM stops the drain; the server stays in
	// DRAIN or MAINT and the report says so.
	ctx, stop := cli.SignalContext()
	defer stop()
	human := opts.Output != "json"
	shown := cli.NewProgress(opts.IO, opts.Quiet, human)
	defer shown.Done()
	t, err := opts.Socket.target(ctx, opts.IO, opts.Fleet, opts.Server, fleetProgress(shown, "drained"))
	if err != nil {
		return err
	}
	dopts.Progress = newDrainProgress(shown, t.Sockets, dopts)
	res, err := t.Drain(ctx, t.Ref, dopts)
	shown.Done()
	switch {
	case err != nil:
		return refused("drain", opts.Server, err)
	case res.Planned != nil:
		return writeDryRun(opts.IO, opts.Output, "server", res.Ref.String(), res.Planned)
	case res.Fleet != nil:
		return reportFleet(opts.IO, shown, res, t.Where(), opts.Output, "drained", true)
	}
	if human {
		writeDrainText(opts.IO, res.Drain)
	} else if err := cli.WriteJSON(opts.IO.Out, drain.Summarize(opts.Server, res.Drain)); err != nil {
		return err
	}
	return pacedExit(opts.IO, human, "drain "+opts.Server, res.Drain.Failure())
}

// pacedExit is the exit of a paced operation (a drain, a hand-over) once
// its report is printed, from its Failure: nil when it succeeded, 3 when
// it timed out, else 2 with its errors — said once on stderr under -o
// json, whose object already carries them, so stdout stays parseable.
func pacedExit(io *cli.IOStreams, human bool, what string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, paced.ErrTimedOut):
		return errTimedOut
	case !human:
		return reported(io.ErrOut, fmt.Errorf("%s: %w", what, err))
	}
	return fmt.Errorf("%s: %w", what, err)
}

// writeDrainText reports the end of a drain, a line per socket, terminal or
// not: a pipeline's log shows what happened. Success goes to stdout,
// timeouts and failures to stderr.
func writeDrainText(ios *cli.IOStreams, res drain.Result) {
	n := len(res.Reports)
	for _, r := range res.Reports {
		ref := r.Backend + "/" + r.Server
		name := ref + socketLabel(n, r.Target)
		switch r.Outcome {
		case drain.Drained:
			fmt.Fprintf(ios.Out, "%s drained in %s (%d sessions at the start, %d closed by wsctl); now %s, `wsctl ready %s` brings it back\n",
				name, r.Elapsed.Round(100*time.Millisecond), r.Before, r.Closed, r.Admin, ref)
		case drain.TimedOut:
			fmt.Fprintf(ios.ErrOut, "wsctl: %s: timed out with %d sessions left; the server stays %s\n", name, r.Left, r.Admin)
		default:
			// After a reload Admin is the old worker's state; the
			// error says what the new one does.
			if r.Admin != "" && r.Admin != haproxy.Ready && !errors.Is(r.Err, drain.ErrReloaded) {
				fmt.Fprintf(ios.ErrOut, "wsctl: %s: drain stopped; the server stays %s\n", name, r.Admin)
			}
		}
	}
}

// newDrainProgress shows how many sessions are left on all n sockets
// together; nil when p is (--quiet).
func newDrainProgress(p *cli.Progress, n int, opts drain.Options) func(drain.Progress) {
	if p == nil {
		return nil
	}
	return paced.Total(n, func(pr drain.Progress, t paced.Totals) {
		name := pr.Backend + "/" + pr.Server
		el := pr.Elapsed.Round(time.Second)
		p.Show(false, func(w io.Writer) {
			switch {
			case !t.Closing:
				next := ""
				if opts.Close != nil {
					next = fmt.Sprintf(", closing starts in %s", (opts.Close.After - pr.Elapsed).Round(time.Second))
				}
				fmt.Fprintf(w, "%s: %d sessions left, waiting for them to leave (%s%s)\n", name, t.Left, el, next)
			case opts.Close.Rate == 0:
				fmt.Fprintf(w, "%s: %d sessions left, all closed at once (%s)\n", name, t.Left, el)
			default:
				fmt.Fprintf(w, "%s: %d sessions left, closing at %g/s, %d closed (%s)\n", name, t.Left, opts.Close.Rate, t.Closed, el)
			}
		})
	})
}

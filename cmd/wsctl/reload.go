package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsctl/wsctl/handover"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/internal/cli"
	"github.com/wsctl/wsctl/model"
	"github.com/wsctl/wsctl/paced"
	"github.com/wsctl/wsctl/reload"
	"github.com/wsctl/wsctl/spec"
)

// ReloadOptions are the flags of wsctl reload.
type ReloadOptions struct {
	IO  *cli.IOStreams
	Gen GenerateOptions
	// HAProxyConfig is the file the running HAProxy loads.
	HAProxyConfig string
	// HandoverAfter overrides haproxy.handover_after when set.
	HandoverAfter time.Duration
	HandoverSet   bool
	// Timeout bounds the hand-over; 0 means until haproxy.hard_stop_after.
	Timeout time.Duration
	// ReloadTimeout bounds the reload, until the new worker answers.
	ReloadTimeout time.Duration
	Output        string
	// Poll is how often sessions are counted; 0 means handover.DefaultPoll.
	Poll time.Duration
	// Quiet shows no progress.
	Quiet bool
	// DryRun checks and reports what a reload would do, and changes
	// nothing.
	DryRun bool
	// host is Factory.Reload, or reload.SpecSite.
	host func(s *spec.Spec, configFile string) reload.Host
}

// NewCmdReload builds `wsctl reload`.
func NewCmdReload(f *Factory, runF func(*ReloadOptions) error) *cobra.Command {
	io := f.IO
	opts := &ReloadOptions{IO: io, host: f.Reload}
	if opts.host == nil {
		opts.host = reload.SpecSite
	}
	cmd := &cobra.Command{
		Use:   "reload",
		Short: "Reload HAProxy with the rendered config and hand its WebSockets over gently",
		Long: `Render the config from the spec, validate it with haproxy -c, write it to
--haproxy-config atomically, save the server state (haproxy.state_file), and
reload HAProxy through its master CLI (haproxy.master_socket), until a new
worker answers. A config HAProxy rejects changes nothing: no reload, the old
file kept, HAProxy's messages shown, exit 2.

Then the hand-over: the old workers keep their WebSockets after a reload,
until hard-stop-after cuts them all in the same instant. After
haproxy.handover_after (default 1m) wsctl closes what is left in every old
worker, at each backend's close_rate (sessions per second, one pace per
backend shared by all old workers), so the clients reconnect to the new
worker spread over time and the old workers exit early. Servers added at
runtime are added back to the new worker from the saved state.

Exit status: 0 reloaded and every old worker exited, 2 error (rejected
config, failed reload), 3 timed out with an old worker still there (it ends
at hard-stop-after). Progress goes to stderr: a line a second on a terminal,
at most every 2 s and one at the end without one (a CI log), --quiet none;
the result is one line, terminal or not.

With -o json a summary is printed once the reload is done:

  {"result": "exited", "old_pid": 41, "new_pid": 57, "elapsed_s": 63.2,
   "workers": [{"pid": 41, "result": "exited", "sessions_before": 900,
     "sessions_left": 0, "closed": 870, "elapsed_s": 63.2}]}

"result" is "exited", "timed_out", "canceled" or "error".

With --dry-run nothing changes (no write, no state save, no reload): the
config is rendered, validated with haproxy -c, compared with
--haproxy-config (the unified diff is shown), the worker that answers now
is found, and the hand-over that would follow is counted: the sessions in
each worker, and per backend its sessions and close_rate. The exit status
is the real run's before it changes anything: 2 on a rejected config or an
unreachable HAProxy, else 0. With -o json:

  {"dry_run": true, "reload": true, "config": "/etc/haproxy/haproxy.cfg",
   "changed": true, "diff": "--- …", "old_pid": 41,
   "state_file": "/run/wsctl/server-state", "create_state_file": false,
   "handover": {"after_s": 60, "timeout_s": 1800,
     "workers": [{"pid": 41, "current": true, "sessions": 900}],
     "backends": [{"backend": "ws", "sessions": 900, "close_rate": 50,
       "close_s": 18}]}}`,
		Example: `  # Reload the packaged setup, hand-over after the spec's grace period
  wsctl reload -c /etc/wsctl/wsctl.yaml --haproxy-config /etc/haproxy/haproxy.cfg

  # Start closing old WebSockets after 10 s, give up waiting after 5 minutes
  wsctl reload --haproxy-config /etc/haproxy/haproxy.cfg --handover-after 10s --timeout 5m -o json

  # What would a reload change, and how many WebSockets would move?
  wsctl reload -c /etc/wsctl/wsctl.yaml --haproxy-config /etc/haproxy/haproxy.cfg --dry-run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.HandoverSet = cmd.Flags().Changed("handover-after")
			if opts.HAProxyConfig == "" {
				return errors.New("--haproxy-config is required: the file the running HAProxy loads")
			}
			if runF != nil {
				return runF(opts)
			}
			return reloadRun(opts)
		},
	}
	opts.Gen.addFlags(cmd)
	cmd.Flags().StringVar(&opts.HAProxyConfig, "haproxy-config", "", "the config file the running HAProxy loads (required)")
	cli.DurationVar(cmd.Flags(), &opts.HandoverAfter, "handover-after", 0, "grace period before closing the old workers' WebSockets (0: none; default: haproxy.handover_after)")
	cli.PositiveDurationVar(cmd.Flags(), &opts.Timeout, "timeout", 0, "give up waiting for the old workers after this long with exit 3 (default: haproxy.hard_stop_after)")
	cli.PositiveDurationVar(cmd.Flags(), &opts.ReloadTimeout, "reload-timeout", 30*time.Second, "how long the new worker may take to answer")
	cli.OutputFlag(cmd, &opts.Output)
	cli.QuietFlag(cmd, &opts.Quiet)
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "validate, diff and count the sessions to hand over; write, save and reload nothing")
	return cmd
}

func reloadRun(opts *ReloadOptions) error {
	opts.Gen.Target = model.TargetHAProxy
	g, err := opts.Gen.generate(opts.IO)
	if err != nil {
		return err
	}
	s := g.Spec
	ctx, stop := cli.SignalContext()
	defer stop()
	host := opts.host(s, opts.HAProxyConfig)
	ropts := reload.Options{StateFile: s.HAProxy.StateFile, Wait: opts.ReloadTimeout}
	hopts := handover.SpecOptions(s)
	hopts.Poll = opts.Poll
	if opts.HandoverSet {
		hopts.After = opts.HandoverAfter
	}
	if opts.Timeout > 0 {
		hopts.Timeout = opts.Timeout
	}
	if opts.DryRun {
		plan, err := host.Preview(ctx, g.Config, ropts)
		if err != nil {
			return reloadStopped(opts, err)
		}
		fc, err := handover.Predict(ctx, host.Master(), hopts)
		if err != nil {
			return err
		}
		return writeReloadPlan(opts, s.HAProxy.StateFile, g.Config, plan, hopts, fc)
	}
	human := opts.Output != "json"
	shown := cli.NewProgress(opts.IO, opts.Quiet, human)
	if shown != nil {
		hopts.Progress = newHandoverProgress(shown, hopts.After)
	}
	rl, res, err := reload.Cycle(ctx, host, g.Config, ropts, hopts, func(rl reload.Applied) {
		if human {
			what := "unchanged"
			if rl.Changed {
				what = "written"
			}
			fmt.Fprintf(opts.IO.ErrOut, "%s %s; reloaded: worker %d replaced by %d\n", opts.HAProxyConfig, what, rl.Old, rl.New)
		}
		sayAdded(opts.IO, s, rl.Added)
	})
	shown.Done()
	switch {
	case rl.New == 0:
		return reloadStopped(opts, err)
	case err != nil:
		return err
	}
	if human {
		writeReloadText(opts.IO, res)
	} else if err := cli.WriteJSON(opts.IO.Out, reload.Summarize(rl, res)); err != nil {
		return err
	}
	return pacedExit(opts.IO, human, "reload: hand-over", res.Failure())
}

// reloadStopped is the error of a reload that stopped: one stopped by
// HAProxy's binary changed nothing, and says so; HAProxy's startup
// messages, when the master gave them, go to stderr.
func reloadStopped(opts *ReloadOptions, err error) error {
	var rerr *haproxy.ReloadError
	switch {
	case reload.StoppedAt(err) == reload.StepValidate:
		return fmt.Errorf("%w; nothing changed: %s kept, no reload", err, opts.HAProxyConfig)
	case errors.As(err, &rerr) && rerr.Startup != "":
		fmt.Fprintf(opts.IO.ErrOut, "HAProxy's startup messages:\n%s\n", rerr.Startup)
	}
	return err
}

// writeReloadText is the one line of the hand-over's end.
func writeReloadText(ios *cli.IOStreams, res handover.Result) {
	before, closed, left := 0, 0, 0
	for _, r := range res.Reports {
		before, closed, left = before+r.Before, closed+r.Closed, left+r.Left
	}
	switch res.Outcome() {
	case handover.Exited:
		fmt.Fprintf(ios.Out, "hand-over done in %s: %d old workers exited (%d sessions at the start, %d closed by wsctl)\n",
			res.Elapsed.Round(100*time.Millisecond), len(res.Reports), before, closed)
	case handover.TimedOut:
		fmt.Fprintf(ios.ErrOut, "wsctl: hand-over timed out with %d sessions left in old workers; hard-stop-after ends them\n", left)
	}
}

// newHandoverProgress shows the sessions left in all old workers together.
func newHandoverProgress(p *cli.Progress, after time.Duration) func(handover.Progress) {
	return paced.Total(0, func(pr handover.Progress, t paced.Totals) {
		p.Show(false, func(w io.Writer) {
			if pr.Phase == handover.Waiting {
				fmt.Fprintf(w, "old workers: %d sessions left, closing starts in %s\n", t.Left, (after - pr.Elapsed).Round(time.Second))
				return
			}
			fmt.Fprintf(w, "old workers: %d sessions left, %d closed (%s)\n", t.Left, t.Closed, pr.Elapsed.Round(time.Second))
		})
	})
}

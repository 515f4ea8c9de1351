package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsctl/wsctl/discovery"
	"github.com/wsctl/wsctl/discovery/consul"
	"github.com/wsctl/wsctl/drain"
	"github.com/wsctl/wsctl/intent"
	"github.com/wsctl/wsctl/internal/cli"
	"github.com/wsctl/wsctl/internal/logging"
	"github.com/wsctl/wsctl/rollout"
	"github.com/wsctl/wsctl/spec"
	"github.com/wsctl/wsctl/target"
)

// RolloutOptions are the flags of wsctl rollout.
type RolloutOptions struct {
	IO     *cli.IOStreams
	Socket SocketOptions
	// Backend is the argument.
	Backend string
	// Exec deploys one server (sh -c); empty with Pause or Next.
	Exec  string
	Pause bool
	// Flags are the rest of the rollout's flags; its CloseRate is
	// closeRate's, its Sockets and AllowMissing Socket's and Fleet's.
	rollout.Flags
	closeRate backendRate
	Output    string
	// Quiet shows no progress.
	Quiet bool
	// Fleet's AllowMissing and Reason are for a rollout across the fleet,
	// its DryRun reads and plans the rollout and changes nothing; its On
	// is unused (the backend's discovery chooses).
	Fleet FleetOptions
	// deploy makes the --exec deployer (Factory.Deploy); nil runs it with
	// sh -c.
	deploy func(script string, env []string, stdout, stderr io.Writer) rollout.Deployer
	// discover is Factory.Discover, or consul.Once.
	discover func(ctx context.Context, s *spec.Spec) (discovery.Snapshot, error)
}

// NewCmdRollout builds `wsctl rollout`.
func NewCmdRollout(f *Factory, runF func(*RolloutOptions) error) *cobra.Command {
	io := f.IO
	opts := &RolloutOptions{IO: io, deploy: f.Deploy, discover: f.Discover}
	if opts.discover == nil {
		opts.discover = func(ctx context.Context, sp *spec.Spec) (discovery.Snapshot, error) {
			return consul.Once(ctx, sp, logging.Warnings(io.ErrOut))
		}
	}
	opts.Socket.dial, opts.Socket.operator = f.Dial, f.Fleet
	cmd := &cobra.Command{
		Use:   "rollout BACKEND (--exec COMMAND | --pause | --next)",
		Short: "Deploy a backend's servers one by one, moving each WebSocket client about once",
		Long: `Deploy the servers of BACKEND one after the other on every admin socket,
so that each WebSocket client is moved about once.

A loop of "wsctl drain", deploy, "wsctl ready" moves the clients of the first
server onto servers still to be deployed, which cuts them again later. The
rollout chooses where the clients of each server land: from the second server
on, only on the servers already deployed. While a server is drained, the
servers still to be deployed are held in DRAIN: they keep every WebSocket they
have and take no new one. With C clients on N servers that is about C + C/N
cuts (the first server's clients must land on old servers); the emptiest
server goes first.

Every server of the backend is rolled, except the surge and the spare slots
rendered disabled; one already in MAINT has no client and goes first, and is
readmitted like the others. For each server:
 1. choose the landing set and hold the servers still to deploy in DRAIN;
 2. drain the server as "wsctl drain" does with --close-after, --close-rate
    (default: the backend's close_rate) and --timeout: DRAIN, wait, MAINT,
    close the rest at the rate; it ends in MAINT with no session;
 3. run --exec COMMAND with sh -c, with WSCTL_SERVER (its name) and
    WSCTL_ADDRESS (host:port) in the environment; its output goes to stderr.
    A non-zero exit stops the rollout: the server stays in MAINT, the rest as
    they are;
 4. readmit it with a fresh health check (as "wsctl ready") and wait up to
    --wait-healthy for it to be up; go on with the next.

With --pause instead of --exec the rollout stops after step 2 (exit 0) and
says which server to deploy; the pipeline deploys it and runs the same
command with --next (instead of --pause), which readmits it and drains the
next one, until the last is readmitted.

Guard rails:
 - a per-server ceiling on WebSockets (--max-per-server, default the
   backend's server_maxconn, 0 none): when the deployed servers would hold
   more than that each, the step falls back to the plain order (no hold, the
   clients land on every other server) and says so;
 - --max-unavailable N (default 1): a server is not taken out when that
   leaves more than N servers of the rollout in MAINT or DOWN;
 - as for "wsctl drain", a server is not taken out when no other server can
   take its clients (--force overrides);
 - --surge NAME: a server of the backend in MAINT (a spare instance the
   pipeline started) readmitted first to take the first server's clients,
   drained and left in MAINT at the end.

The holds and the server in progress are recorded as operator intents, so
"wsctl agent" keeps them. The rollout's place is kept in a state file
(--state, default wsctl-rollout-BACKEND.json beside haproxy.state_file),
written at every phase: run the same command again after a failure, a kill or
a reboot and it goes on where it stopped, and says where. The file is removed
when the rollout is done, or when a new rollout's first drain is refused
(nothing changed). A state file that names a server the backend does
not have, or holds anything else no rollout writes, is refused with exit 2
before anything runs.

Stopped early (a failed command, a timeout, Ctrl-C or SIGTERM: the command
gets SIGTERM too), every server stays as it is: the deployed ones READY, the
held ones in DRAIN with their clients, the one in progress in DRAIN or MAINT
while drained, MAINT while deployed, READY (perhaps not yet healthy) while
readmitted. To give up instead of going on: "wsctl ready" each held server
and remove the state file.

Output: a line per step (drained, cut, landing set, times), with the drain's
progress on stderr (a line a second on a terminal, every 2 s in a log;
--quiet: none). With -o json one object per line: per step

  {"type": "step", "backend": "ws", "server": "backend1", "step": 1, "of": 3,
   "landing": ["backend2", "backend3"], "held": [], "sessions_before": 10,
   "cuts": 10, "drain": "drained", "drain_s": 2.1, "deploy_s": 4.0,
   "readmit_s": 1.2, "elapsed_s": 7.3}

("fallback" says why nothing was held when the ceiling forced it; "surge":
true for the surge's removal), then a summary

  {"type": "rollout", "backend": "ws", "result": "done", "steps": 3,
   "cuts": 40, "elapsed_s": 21.9}

"result" is "done", "paused" (with "paused": {"server", "address"}) or
"stopped" (with "stopped": {"server", "phase", "error"}); "resumed" says where
a resumed rollout went on.

--rebalance: the server deployed last is nearly empty at the end (leastconn
places only new clients). Once every server is READY the rollout runs
"wsctl rebalance" on the backend (its targets, tolerance 10 %, MAINT on the
servers above target while their oldest WebSockets are closed) at
--close-rate (or the backend's close_rate), within --timeout; across the
fleet, as "wsctl rebalance --fleet" (the fleet's counts, the fleet-wide rate).

With --dry-run the rollout is read and planned, its checks made (the
state file, the servers, the last server), and nothing changes: it prints
what it would do per server (JSON: {"backend", "dry_run": true, "would":
[…]}) and exits as the real run would before its first change.

Exit status: 0 done or paused, 3 a drain timed out, a readmitted server
was not healthy in time or (--rebalance) the backend was not balanced in
time (every server READY, the rollout done), 2 anything else that stopped the rollout (the
command failed, refused, interrupted).

Across the fleet: a backend discovered from Consul is rolled through the
"wsctl agent" of every load balancer, with no socket (Consul only, as
"wsctl drain --fleet"). Its servers are the ones Consul discovers, by name;
the holds are DRAIN intents every agent holds; each drain is a fleet drain at
the fleet-wide --close-rate; each readmission removes the intent and waits
until every agent has readmitted the server (healthy, with --wait-healthy).
The state file, resume, --pause/--next and exit codes are the same.
--allow-missing goes on when an agent stops reporting; --reason goes into the
intents. --surge is not supported across the fleet yet; the order is by
name, without a ceiling.`,
		Example: `  # Deploy every server of ws_cluster with the pipeline's script
  wsctl rollout -c wsctl.yaml ws_cluster --exec './deploy.sh "$WSCTL_SERVER"' \
      --close-after 30s --close-rate 50

  # What it would do, in which order, changing nothing
  wsctl rollout -c wsctl.yaml ws_cluster --exec './deploy.sh "$WSCTL_SERVER"' --dry-run

  # A pipeline that deploys by itself: drain the first server, then each
  # --next readmits the deployed one and drains the next
  wsctl rollout -c wsctl.yaml ws_cluster --pause -o json
  wsctl rollout -c wsctl.yaml ws_cluster --next -o json

  # Deploy, then even out the WebSockets (exit 3 if not balanced)
  wsctl rollout -c wsctl.yaml ws_cluster --exec ./deploy.sh --rebalance

  # A backend discovered from Consul: through the agents, from a CI runner
  wsctl rollout -c wsctl.yaml ws_consul --exec ./deploy.sh --close-rate 100 \
      --state ./rollout-state.json --reason "release 2.0"`,
		ValidArgsFunction: completeNames(io, &opts.Socket, true),
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("usage: %s BACKEND (one backend; got %d arguments); see `%s --help`", cmd.CommandPath(), len(args), cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Backend = args[0]
			if err := opts.check(); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return rolloutRun(opts)
		},
	}
	fl := cmd.Flags()
	opts.Socket.addFlags(cmd)
	fl.StringVar(&opts.Exec, "exec", "", "deploy each server with this shell `command` (WSCTL_SERVER, WSCTL_ADDRESS in its environment)")
	fl.BoolVar(&opts.Pause, "pause", false, "stop after draining each server for the pipeline to deploy it; go on with --next")
	fl.BoolVar(&opts.Next, "next", false, "the server a paused rollout drained is deployed: readmit it and drain the next")
	cli.DurationVar(fl, &opts.Timeout, "timeout", 10*time.Minute, "give up a server's drain after this long with exit 3 (0: wait for ever)")
	cli.DurationVar(fl, &opts.CloseAfter, "close-after", 30*time.Second, "after this long, switch the server to MAINT and close its sessions left (0: at once)")
	backendRateVar(fl, &opts.closeRate, "sessions closed per second after --close-after, across all sockets: "+closeRateBounds+", or 0 for all at once")
	cli.DurationVar(fl, &opts.WaitHealthy, "wait-healthy", time.Minute, "wait up to this long for a readmitted server's health check (exit 3 if it fails; 0: do not wait)")
	fl.StringVar(&opts.Surge, "surge", "", "a server `name` in MAINT taken in for the rollout and left in MAINT at the end")
	fl.Int64Var(&opts.MaxPerServer, "max-per-server", -1, "WebSockets one server may hold per HAProxy process when choosing the landing set (default: the backend's server_maxconn; 0: no limit)")
	// The usage states the default in words; pflag would add "(default -1)".
	fl.Lookup("max-per-server").DefValue = "0"
	fl.IntVar(&opts.MaxUnavailable, "max-unavailable", 1, "servers of the rollout that may be out of rotation (MAINT or DOWN) at once")
	fl.StringVar(&opts.State, "state", "", "state `file` for resuming (default: wsctl-rollout-BACKEND.json beside haproxy.state_file)")
	opts.Fleet.changeFlags(cmd)
	fl.BoolVar(&opts.Rebalance, "rebalance", false, "after the last server, even out the backend's WebSockets as wsctl rebalance does (exit 3 if not balanced within --timeout)")
	fl.BoolVar(&opts.Force, "force", false, "drain even when no other server of the backend can take new clients")
	cli.StepsOutputFlag(cmd, &opts.Output)
	cli.QuietFlag(cmd, &opts.Quiet)
	return cmd
}

// check refuses flag combinations that cannot work, before anything runs.
func (o *RolloutOptions) check() error {
	modes := 0
	for _, on := range []bool{o.Exec != "", o.Pause, o.Next} {
		if on {
			modes++
		}
	}
	switch {
	case modes != 1:
		return errors.New("give one of --exec COMMAND (deploy each server), --pause (start a paused rollout) or --next (go on with one)")
	case o.MaxUnavailable < 1:
		return fmt.Errorf("--max-unavailable %d: want 1 or more", o.MaxUnavailable)
	case o.MaxPerServer < -1:
		return fmt.Errorf("--max-per-server %d is negative", o.MaxPerServer)
	}
	return drain.Options{Timeout: o.Timeout, Close: &drain.Close{After: o.CloseAfter, Rate: o.closeRate.unloaded()}}.Validate()
}

// deployer is --exec's deployer; nil (pause) without it.
func (o *RolloutOptions) deployer() rollout.Deployer {
	if o.Exec == "" {
		return nil
	}
	deploy := o.deploy
	if deploy == nil {
		deploy = rollout.Command
	}
	// The command's output goes to stderr: stdout stays the report.
	return deploy(o.Exec, nil, o.IO.ErrOut, o.IO.ErrOut)
}

func rolloutRun(opts *RolloutOptions) error {
	sp, err := loadSpec(opts.IO, opts.Socket.SpecPath)
	if err != nil {
		return fmt.Errorf("rollout needs the spec (-c FILE): %w", err)
	}
	b, err := sp.Backend(opts.Backend)
	if err != nil {
		return err
	}
	f := opts.Flags
	f.CloseRate, f.Sockets, f.AllowMissing = opts.closeRate.given(), len(opts.Socket.Sockets) > 0, opts.Fleet.AllowMissing
	ro, err := rollout.OptionsFor(sp, *b, f)
	if err != nil {
		return err
	}
	ro.Deploy = opts.deployer()
	// Ctrl-C or a pipeline's SIGTERM stops the rollout where it is; the
	// state file keeps the place.
	ctx, stop := cli.SignalContext()
	defer stop()
	human := opts.Output != "json"
	shown := cli.NewProgress(opts.IO, opts.Quiet, human)
	defer shown.Done()
	// The backend's discovery decides where the rollout acts.
	sockets := func(ctx context.Context) ([]target.Socket, error) {
		opts.Socket.SpecPath = cmp.Or(opts.Socket.SpecPath, sp.File)
		return opts.Socket.sockets(ctx, opts.IO)
	}
	t, err := target.ForBackend(ctx, sp, *b, target.Reach{Discover: opts.discover, Timeout: consulTimeout, Operator: opts.Socket.reachFleet, Sockets: sockets},
		target.Fleet{AllowMissing: opts.Fleet.AllowMissing, Who: intent.Who(opts.IO.Env), Reason: strings.TrimSuffix("wsctl rollout: "+opts.Fleet.Reason, ": "), Update: fleetProgress(shown, "rollout")},
		target.Local{Reason: "wsctl rollout", Poll: opts.Poll})
	if err != nil {
		return err
	}
	if l, ok := t.(*target.Local); ok {
		ro.Drain.Progress = newDrainProgress(shown, len(l.Sockets), ro.Drain)
	}
	ro.Target = t

	ro.Note = func(s string) { fmt.Fprintf(opts.IO.ErrOut, "wsctl: %s\n", s) }
	if opts.Fleet.DryRun {
		would, err := rollout.Preview(ctx, ro)
		if err != nil {
			return err
		}
		return writeDryRun(opts.IO, opts.Output, "backend", b.Name, would)
	}
	enc := json.NewEncoder(opts.IO.Out)
	ro.Step = func(s rollout.Step) {
		if human {
			writeRolloutStep(opts.IO.Out, b.Name, s)
			return
		}
		_ = enc.Encode(s.JSON(b.Name))
	}
	start := time.Now()
	res, err := rollout.Run(ctx, ro)
	if !res.Began() {
		return err // refused before anything changed
	}
	sum := res.Summary(b.Name, err, time.Since(start))
	if !human {
		if err := enc.Encode(sum); err != nil {
			return err
		}
	}
	switch {
	case err != nil:
		fmt.Fprintf(opts.IO.ErrOut, "wsctl: rollout of %s stopped: %v\n", b.Name, err)
		if sum.Stopped.Server != "" {
			fmt.Fprintf(opts.IO.ErrOut, "wsctl: %s/%s is in phase %s; deployed servers are READY, held ones DRAIN; state in %s: run the same command again to go on\n",
				b.Name, sum.Stopped.Server, sum.Stopped.Phase, ro.StatePath)
		}
		if rollout.TimedOut(err) {
			return errTimedOut
		}
		return errSilent{code: exitError}
	case !human:
	case res.Paused != nil:
		fmt.Fprintf(opts.IO.Out, "%s/%s is drained and in MAINT: deploy it (%s), then run this command again with --next instead of --pause\n",
			b.Name, res.Paused.Name, res.Paused.Addr)
	default:
		fmt.Fprintf(opts.IO.Out, "rollout of %s done: %d servers, %d sessions cut\n", b.Name, len(res.Steps), res.Cuts())
	}
	return nil
}

// writeRolloutStep is the line of one step.
func writeRolloutStep(w io.Writer, backend string, s rollout.Step) {
	land := "clients to " + strings.Join(s.Landing, " ")
	if len(s.Landing) == 0 {
		land = "no other server"
	}
	if len(s.Held) > 0 {
		land += ", held " + strings.Join(s.Held, " ")
	}
	if s.Fallback != "" {
		land += " (plain order: ceiling)"
	}
	drained, deployed, ready, _ := s.Durations()
	if s.Surge {
		fmt.Fprintf(w, "surge %s/%s removed: %d sessions, %d cut, %s, in %s\n", backend, s.Server, s.Before, s.Cuts, land,
			drained.Round(100*time.Millisecond))
		return
	}
	fmt.Fprintf(w, "step %d/%d %s/%s: %d sessions, %d cut, %s; drained %s, deployed %s, ready %s\n", s.Number, s.Of, backend, s.Server,
		s.Before, s.Cuts, land, drained.Round(100*time.Millisecond), deployed.Round(100*time.Millisecond), ready.Round(100*time.Millisecond))
}

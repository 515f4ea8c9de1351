// Package rollout deploys the servers of one HAProxy backend one after the
// other so that each WebSocket client is moved about once.
//
// A loop of drain, deploy, ready moves the clients of the first server onto
// servers still to be deployed, which cuts them again, and so on: with N
// servers and C clients it cuts far more than C. A rollout instead chooses,
// for every server k, where its clients may land: from the second server
// on, only the servers already deployed. The servers still to be deployed
// are held in DRAIN while k is drained: they keep every WebSocket they have
// and take no new one. k is drained the drain package's way (DRAIN, wait,
// MAINT, paced close), so with `option redispatch` its clients ignore their
// sticky cookie and land on the deployed servers only. The first server's
// clients have nowhere new to go and land on the old servers, so the floor
// is C + C/N cuts; Order puts the emptiest server first.
//
// A surge server (Options.Surge, in MAINT at the start) is readmitted
// first and takes the first server's clients, so they land on the new
// version at once; it is held in DRAIN from the second server on, then
// drained (its clients move to the deployed servers) and left in MAINT with
// a MAINT intent. Its removal cuts what it holds, so the cuts stay about
// C + C/N; what it buys is that no client ever lands on a server still to
// be deployed.
//
// For each server the steps are: choose the landing set and set the holds;
// drain the server (it ends in MAINT with no session); deploy it (a
// Deployer, or, paused, the pipeline); readmit it with a fresh health check
// and wait until it is healthy (target.Target.Admit); go on. The holds are
// released server by server as each is readmitted.
//
// Guard rails: a per-server ceiling on WebSockets (Options.Ceiling) that
// the landing set must not exceed, else the step falls back to the plain
// order (every other server takes clients) and says so; a maximum of
// servers out of rotation (Options.MaxUnavailable); drain's own refusal to
// take out the last server that takes clients. The place is kept in a state
// file after every phase change: Run again with the same file goes on where
// a killed or failed rollout stopped.
//
// When Run stops early (a failed deploy, a timeout, a cancelled context)
// every server stays as it is at that moment, which is always one of:
// deployed servers READY; held servers DRAIN (their clients stay); the
// server in progress DRAIN or MAINT while drained, MAINT with no session
// while deployed, READY (maybe not yet healthy) while readmitted. The
// operator intents (package intent) say the same, so an agent keeps the
// states.
//
// Every step acts through Options.Target (package target): the local admin
// sockets with the local intent store, or the wsctl agents of every load
// balancer through Consul, where the holds are intents with a hold op, the
// drain a fleet drain at the fleet-wide close rate and the readmission the
// intent's removal, each waited for until every live agent reports it done.
// The agents report no load before a server's drain, so across the fleet
// the order is by name and the ceiling has nothing to compare.
package rollout

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/wsctl/wsctl/drain"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/paced"
	"github.com/wsctl/wsctl/rebalance"
	"github.com/wsctl/wsctl/spec"
	"github.com/wsctl/wsctl/target"
)

// Server is the server a Deployer deploys.
type Server struct {
	Name string
	// Addr is "host:port" as HAProxy has it.
	Addr string
}

// Deployer deploys one server while it is in MAINT with no session. An
// error stops the rollout with the server left in MAINT.
type Deployer func(ctx context.Context, s Server) error

// Options describe a rollout.
type Options struct {
	Backend string
	// Target is where every step acts: the HAProxy processes that run
	// the backend (target.Local, whose intent store records the holds
	// and the server in progress, so an agent does not readmit them), or
	// every load balancer (target.Fleet).
	Target target.Target
	// Servers limits the rollout to these servers of the backend; empty
	// means every server except the surge and the unused slots.
	Servers []string
	// Drain is how each server is drained (its Timeout is per server).
	Drain drain.Options
	// Deploy deploys each server; nil pauses after each drain (Run
	// returns with Result.Paused) for a pipeline that deploys by itself
	// and calls Run again with Next.
	Deploy Deployer
	// Next goes on with a rollout whose server in progress waits to be
	// deployed (paused, or stopped by a failed deploy): the pipeline has
	// deployed it. A rollout stopped in another phase just resumes.
	Next bool
	// WaitHealthy bounds the wait for a readmitted server's health check
	// (0: do not wait).
	WaitHealthy time.Duration
	// Ceiling is the most WebSockets one server may hold on one HAProxy
	// process (0: no limit): the landing set must not exceed it.
	Ceiling int64
	// MaxUnavailable is how many servers of the rollout may be out of
	// rotation (MAINT, or DOWN) at once, the one being drained included;
	// 0 means 1.
	MaxUnavailable int
	// Surge names a server in MAINT added for the rollout: readmitted
	// first, it takes the first server's clients, which then need not land
	// on servers still to be deployed; it is held in DRAIN from the second
	// server on, and drained and left in MAINT at the end (its clients
	// move to the deployed servers).
	Surge string
	// StatePath is the state file (DefaultStatePath unless the operator
	// names one).
	StatePath string
	// Step is called when a step ends, and Note with a message worth a
	// line (a resume, a fallback). Either may be nil.
	Step func(Step)
	Note func(string)
	// Rebalance, when not nil, evens out the backend once every server is
	// deployed (its Backend is the rollout's); see rebalance.go.
	Rebalance *rebalance.Options
}

// Step is one server's part of a rollout: what it moved, and when its
// phases ended. The state file keeps the steps as JSON.
type Step struct {
	Move
	// Times of the phases' ends.
	Started  time.Time `json:"started"`
	Drained  time.Time `json:"drained,omitzero"`
	Deployed time.Time `json:"deployed,omitzero"`
	Ready    time.Time `json:"ready,omitzero"`
}

// Move is what a step did with the clients of its server: the part of a
// Step that the state file and `wsctl rollout -o json` both carry, under
// the same names.
type Move struct {
	Server string `json:"server"`
	// Number counts from 1 to Of; the surge's removal is Of+1.
	Number int  `json:"step"`
	Of     int  `json:"of"`
	Surge  bool `json:"surge,omitempty"`
	// Landing are the servers the cut clients could go to, Held the
	// servers in DRAIN during the drain, Fallback why Held is empty
	// although some servers were still to be deployed.
	Landing  []string `json:"landing"`
	Held     []string `json:"held"`
	Fallback string   `json:"fallback,omitempty"`
	// Before is the sessions on the server (every socket) at the start of
	// its drain, Cuts how many the drain closed.
	Before int64         `json:"sessions_before"`
	Cuts   int           `json:"cuts"`
	Drain  drain.Outcome `json:"drain,omitempty"`
}

// Durations are how long a finished step's phases took: the drain, the
// deploy, the readmission and the whole step (a surge's removal is only
// drained: its deploy and readmission are zero).
func (s Step) Durations() (drained, deployed, ready, total time.Duration) {
	if s.Surge {
		d := s.Drained.Sub(s.Started)
		return d, 0, 0, d
	}
	return s.Drained.Sub(s.Started), s.Deployed.Sub(s.Drained), s.Ready.Sub(s.Deployed), s.Ready.Sub(s.Started)
}

// Result is how far a Run went.
type Result struct {
	// Steps are the finished steps, from the start of the rollout.
	Steps []Step
	// Current is the step in progress when Run stopped early, with Phase.
	Current *Step
	Phase   Phase
	// Resumed says where a resumed rollout went on ("" for a new one).
	Resumed string
	// Paused names the server drained and waiting for the pipeline.
	Paused *Server
	// Done is set once every server is deployed and the state file gone.
	Done bool
	// Rebalance is the rebalance after the last server (Options.Rebalance).
	Rebalance *rebalance.Result
}

// Cuts is the sessions closed by every step, finished or not.
func (r Result) Cuts() int {
	n := 0
	for _, s := range r.Steps {
		n += s.Cuts
	}
	if r.Current != nil {
		n += r.Current.Cuts
	}
	return n
}

// Began reports whether Run got as far as its first change; when not, its
// error is a refusal and nothing changed.
func (r Result) Began() bool {
	return len(r.Steps) > 0 || r.Current != nil || r.Paused != nil || r.Done
}

// The errors that stop a rollout (Run's error wraps them).
var (
	ErrDeployFailed  = errors.New("the deploy failed")
	ErrNotHealthy    = errors.New("the readmitted server is not healthy")
	ErrDrainTimedOut = errors.New("the drain timed out with sessions left")
	ErrUnavailable   = errors.New("too many servers out of rotation")
	ErrNoRollout     = errors.New("no rollout in progress")
	ErrPausedAlready = errors.New("the rollout is paused")
)

// TimedOut reports whether err stopped a rollout for want of time rather
// than for a failure: a drain timed out, a readmitted server was not
// healthy within WaitHealthy, or the rebalance after the last server did
// not end balanced (every server READY, the rollout done).
func TimedOut(err error) bool {
	return errors.Is(err, ErrDrainTimedOut) || errors.Is(err, ErrNotHealthy) || errors.Is(err, ErrNotBalanced)
}

// Validate reports options that cannot work.
func (o Options) Validate() error {
	switch {
	case o.Backend == "":
		return errors.New("rollout: no backend")
	case o.Target == nil:
		return errors.New("rollout: no target (admin sockets or fleet)")
	case o.StatePath == "":
		return errors.New("rollout: no state file")
	case o.Ceiling < 0:
		return fmt.Errorf("rollout: ceiling %d is negative", o.Ceiling)
	case o.MaxUnavailable < 0:
		return fmt.Errorf("rollout: max-unavailable %d is negative", o.MaxUnavailable)
	case o.WaitHealthy < 0:
		return fmt.Errorf("rollout: wait-healthy %s is negative", o.WaitHealthy)
	case o.Deploy != nil && o.Next:
		return errors.New("rollout: next is for a paused rollout, which has no deployer")
	case o.Surge != "" && slices.Contains(o.Servers, o.Surge):
		return fmt.Errorf("rollout: the surge %s is also a server to deploy", o.Surge)
	}
	// The names reach the deploy command's environment.
	if o.Surge != "" {
		if err := checkName("surge", o.Surge); err != nil {
			return fmt.Errorf("rollout: %w", err)
		}
	}
	for i, s := range o.Servers {
		if err := checkName(fmt.Sprintf("servers[%d]", i), s); err != nil {
			return fmt.Errorf("rollout: %w", err)
		}
	}
	return o.Drain.Validate()
}

// run is one call of Run.
type run struct {
	o   Options
	st  *Checkpoint
	res Result
	// next: the server found in PhaseDeploy at the start was deployed
	// by the pipeline (Options.Next).
	next bool
}

// Run starts the rollout the state file does not hold yet, or goes on with
// the one it holds (saying where in Result.Resumed and through Note). It
// returns when every server is deployed (Result.Done), when paused, or at
// the first error, with the state file kept for the next Run.
func Run(ctx context.Context, o Options) (Result, error) {
	r, resumed, err := prepare(ctx, o)
	if err != nil {
		return Result{}, err
	}
	if !resumed {
		if err := r.save(); err != nil {
			return Result{}, err
		}
	}
	err = r.loop(ctx)
	if err != nil && !resumed && r.untouched() {
		// Refused before its first change: no rollout to resume.
		if rerr := os.Remove(o.StatePath); rerr != nil {
			err = errors.Join(err, fmt.Errorf("rollout: %w", rerr))
		}
	}
	if err == nil && r.res.Done && o.Rebalance != nil {
		err = r.rebalance(ctx)
	}
	r.res.Steps = r.st.Steps
	if !r.res.Done && r.res.Paused == nil {
		r.res.Current, r.res.Phase = r.st.Current, r.st.Phase
	}
	return r.res, err
}

// prepare is Run up to its first change: the options checked, the state
// file read (resumed reports whether it held a rollout) and checked
// against the backend, or a new rollout planned.
func prepare(ctx context.Context, o Options) (r *run, resumed bool, err error) {
	if err := o.Validate(); err != nil {
		return nil, false, err
	}
	if o.MaxUnavailable == 0 {
		o.MaxUnavailable = 1
	}
	st, resumed, err := LoadCheckpoint(o.StatePath)
	if err != nil {
		return nil, false, err
	}
	r = &run{o: o, st: st}
	switch {
	case !resumed && o.Next:
		return nil, false, fmt.Errorf("rollout: %w for backend %s (no state file %s)", ErrNoRollout, o.Backend, o.StatePath)
	case resumed && st.Backend != o.Backend:
		return nil, false, fmt.Errorf("rollout: state file %s is for backend %s, not %s", o.StatePath, st.Backend, o.Backend)
	case resumed && st.Surge != o.Surge:
		return nil, false, fmt.Errorf("rollout: state file %s has surge %q, not %q: resume with the same surge", o.StatePath, st.Surge, o.Surge)
	case resumed && st.Paused && o.Deploy == nil && !o.Next:
		return nil, false, fmt.Errorf("rollout: %w: %s waits to be deployed; deploy it, then go on with next", ErrPausedAlready, st.server())
	case resumed:
		if err := r.checkServers(ctx); err != nil {
			return nil, false, err
		}
		r.next = o.Next && st.Phase == PhaseDeploy
		r.res.Resumed = st.Where()
		r.note("resuming the rollout of %s started %s: %s", st.Backend, st.Started.Local().Format(time.DateTime), r.res.Resumed)
	default:
		if r.st, err = r.plan(ctx); err != nil {
			return nil, false, err
		}
	}
	return r, resumed, nil
}

// Preview says what Run would do with the same options, read and checked
// but not started: nothing is written, held, drained or run. Its lines are
// the state file it would write (or where a resumed rollout stands), then
// each server still to deploy, in order; an error is the one Run would
// return before changing anything.
func Preview(ctx context.Context, o Options) ([]string, error) {
	r, resumed, err := prepare(ctx, o)
	if err != nil {
		return nil, err
	}
	o, st := r.o, r.st
	var would []string
	if resumed {
		would = append(would, "go on with the rollout in "+o.StatePath+": "+st.Where())
	} else {
		would = append(would, "write the state file "+o.StatePath)
	}
	closing := "wait for its sessions to leave"
	if c := o.Drain.Close; c != nil {
		closing = fmt.Sprintf("after %s set MAINT and close the rest at %g/s", c.After, c.Rate)
	}
	for i, server := range st.Order[st.Index:] {
		left := fmt.Sprintf("DRAIN, %s (timeout %s), deploy, readmit", closing, o.Drain.Timeout)
		// A resumed step whose server is drained goes on from there.
		switch {
		case i > 0:
		case st.Phase == PhaseReadmit, st.Phase == PhaseDeploy && r.next:
			left = "drained already: readmit"
		case st.Phase == PhaseDeploy:
			left = "drained already: deploy, readmit"
		}
		would = append(would, fmt.Sprintf("%s/%s: %s and wait up to %s for a passing check", o.Backend, server, left, o.WaitHealthy))
	}
	if o.Rebalance != nil {
		would = append(would, "rebalance "+o.Backend+" (wsctl rebalance)")
	}
	return would, nil
}

// plan lists the backend's servers on every socket and orders them.
func (r *run) plan(ctx context.Context) (*Checkpoint, error) {
	statuses, loads, err := r.read(ctx)
	if err != nil {
		return nil, err
	}
	servers := r.o.Servers
	if len(servers) == 0 {
		for _, s := range statuses[0].Servers {
			// Unused slots are rendered disabled: nothing to deploy.
			if s.Server != r.o.Surge && !s.Flags.Disabled() {
				servers = append(servers, s.Server)
			}
		}
	}
	want := slices.Clone(servers)
	if r.o.Surge != "" {
		want = append(want, r.o.Surge)
	}
	if _, err := r.findServers(statuses, want); err != nil {
		return nil, fmt.Errorf("rollout: %w", err)
	}
	if len(servers) == 0 {
		return nil, fmt.Errorf("rollout: backend %s has no server to deploy", r.o.Backend)
	}
	return &Checkpoint{Backend: r.o.Backend, Order: Order(servers, loads), Phase: PhaseDrain, Surge: r.o.Surge, Started: time.Now().UTC()}, nil
}

// findServers checks that every name is a server of the backend at every
// place (statuses, as read returns them). It returns the index of the
// first that is not, with why.
func (r *run) findServers(statuses []target.Listing, names []string) (int, error) {
	for i, name := range names {
		for _, l := range statuses {
			if _, err := haproxy.Match(l.Servers, haproxy.Ref{Backend: r.o.Backend, Server: name}); err != nil {
				return i, fmt.Errorf("%s: %w", l.Place, err)
			}
		}
	}
	return -1, nil
}

// checkServers refuses a resumed rollout whose state names a server the
// backend does not have, before anything runs.
func (r *run) checkServers(ctx context.Context) error {
	statuses, _, err := r.read(ctx)
	if err != nil {
		return err
	}
	names := r.st.Order
	if r.st.Surge != "" {
		names = append(slices.Clone(names), r.st.Surge)
	}
	if i, err := r.findServers(statuses, names); err != nil {
		field := "surge"
		if i < len(r.st.Order) {
			field = fmt.Sprintf("order[%d]", i)
		}
		return damaged(r.o.StatePath, fmt.Errorf("%s: %w", field, err))
	}
	return nil
}

// read lists the backend's servers at every place of the target, with
// their loads.
func (r *run) read(ctx context.Context) ([]target.Listing, []Load, error) {
	statuses, err := r.o.Target.Read(ctx, r.o.Backend)
	if err != nil {
		return nil, nil, err
	}
	loads := make([]Load, len(statuses))
	for i, l := range statuses {
		loads[i] = Load{}
		for _, st := range l.Servers {
			loads[i][st.Server] = st.Scur
		}
	}
	return statuses, loads, nil
}

// loop runs the phases until done, paused or stopped.
func (r *run) loop(ctx context.Context) error {
	for {
		if r.st.Index == len(r.st.Order) && !r.st.SurgeUp {
			return r.finish(ctx)
		}
		var err error
		switch r.st.Phase {
		case PhaseDrain:
			err = r.drain(ctx)
		case PhaseDeploy:
			if r.o.Deploy == nil && !r.st.Paused && !r.next {
				r.st.Paused = true
				r.res.Paused = r.server(ctx)
				return r.save()
			}
			err = r.deploy(ctx)
		case PhaseReadmit:
			err = r.readmit(ctx)
		default:
			err = fmt.Errorf("rollout: state file %s: unknown phase %q", r.o.StatePath, r.st.Phase)
		}
		if err != nil {
			return err
		}
	}
}

// drain chooses the landing set, sets the holds and drains the server in
// progress; the surge, first, is readmitted.
func (r *run) drain(ctx context.Context) error {
	st := r.st
	if st.Surge != "" && st.Index == 0 && !st.SurgeUp {
		if err := r.admit(ctx, st.Surge); err != nil {
			return err
		}
		st.SurgeUp = true
		if err := r.save(); err != nil {
			return err
		}
	}
	server := st.server()
	removing := st.Index == len(st.Order)
	statuses, loads, err := r.read(ctx)
	if err != nil {
		return err
	}
	if err := r.checkUnavailable(server, statuses); err != nil {
		return err
	}
	deployed := slices.Clone(st.Order[:st.Index])
	var old []string
	if !removing {
		old = slices.Clone(st.Order[st.Index+1:])
		// The surge takes the first server's clients, then is held: what
		// it holds is cut once more when it is removed.
		switch {
		case st.SurgeUp && st.Index == 0:
			deployed = []string{st.Surge}
		case st.SurgeUp:
			old = append(old, st.Surge)
		}
	}
	land := Choose(server, deployed, old, loads, r.o.Ceiling)
	if land.Fallback != "" {
		r.note("%s/%s: %s", r.o.Backend, server, land.Fallback)
	}
	step := Step{Move: Move{Server: server, Number: st.Index + 1, Of: len(st.Order), Surge: removing,
		Landing: land.Servers, Held: land.Held, Fallback: land.Fallback}, Started: time.Now()}
	if step.Held == nil {
		step.Held = []string{}
	}
	prev := st.Current
	if prev != nil && prev.Server == server {
		// A resumed drain: the sessions closed before the stop count.
		step.Cuts, step.Before, step.Started = prev.Cuts, prev.Before, prev.Started
	}
	if err := r.hold(ctx, land.Held); err != nil {
		return err
	}
	st.Current = &step
	if err := r.save(); err != nil {
		return err
	}
	// The target records the intent, DRAIN then MAINT.
	out, err := r.o.Target.Drain(ctx, haproxy.Ref{Backend: r.o.Backend, Server: server}, r.o.Drain)
	if errors.Is(err, drain.ErrLastServer) {
		// Nothing of the drain began: let the held servers take
		// clients again; the step is where it was.
		st.Current = prev
		return errors.Join(fmt.Errorf("rollout: %w", err), r.hold(ctx, nil), r.save())
	}
	if err != nil {
		return fmt.Errorf("rollout: drain %s/%s: %w", r.o.Backend, server, err)
	}
	res := out.Drain
	fresh := step.Before == 0
	for _, rep := range res.Reports {
		if fresh {
			step.Before += rep.Before
		}
		step.Cuts += rep.Closed
	}
	step.Drain = res.Outcome()
	switch step.Drain {
	case drain.Drained:
	case drain.TimedOut:
		return errors.Join(fmt.Errorf("rollout: %s/%s: %w", r.o.Backend, server, ErrDrainTimedOut), r.save())
	case drain.Canceled:
		return errors.Join(ctx.Err(), r.save())
	default:
		return errors.Join(fmt.Errorf("rollout: drain %s/%s: %w", r.o.Backend, server, res.Err()), r.save())
	}
	step.Drained = time.Now()
	if removing {
		// The surge stays in MAINT; its step is over.
		st.SurgeUp = false
		return r.endStep()
	}
	st.Phase = PhaseDeploy
	return r.save()
}

// checkUnavailable refuses to take server out when, with it, more than
// MaxUnavailable servers of the rollout would be out of rotation on some
// socket.
func (r *run) checkUnavailable(server string, statuses []target.Listing) error {
	ours := slices.Clone(r.st.Order)
	if r.st.SurgeUp {
		ours = append(ours, r.st.Surge)
	}
	for _, l := range statuses {
		var out []string
		for _, s := range l.Servers {
			if s.Server == server || !slices.Contains(ours, s.Server) {
				continue
			}
			if s.Admin == haproxy.Maint || s.State == haproxy.Down || s.State == haproxy.Stopping {
				out = append(out, fmt.Sprintf("%s %s %s", s.Server, s.Admin, s.State))
			}
		}
		if len(out)+1 > r.o.MaxUnavailable {
			return fmt.Errorf("rollout: %s: taking %s/%s out would leave %d servers out of rotation, more than %d: %w (already out: %s)",
				l.Place, r.o.Backend, server, len(out)+1, r.o.MaxUnavailable, ErrUnavailable, strings.Join(out, ", "))
		}
	}
	return nil
}

// hold sets want to DRAIN where they take clients, and readmits the servers
// held so far that are no longer wanted (but not the one in progress,
// which the drain takes over).
func (r *run) hold(ctx context.Context, want []string) error {
	current := r.st.server()
	for _, s := range r.st.Held {
		if slices.Contains(want, s) || s == current {
			continue
		}
		res, err := r.o.Target.Admit(ctx, haproxy.Ref{Backend: r.o.Backend, Server: s}, 0)
		if err := r.done(ctx, "readmit", s, res, err); err != nil {
			return err
		}
	}
	r.st.Held = nil
	for _, s := range want {
		// A server out already (DRAIN, MAINT) is kept so.
		res, err := r.o.Target.Hold(ctx, haproxy.Ref{Backend: r.o.Backend, Server: s}, haproxy.Drain, false)
		if err := r.done(ctx, "hold in DRAIN", s, res, err); err != nil {
			return err
		}
		r.st.Held = append(r.st.Held, s)
	}
	return r.save()
}

// done turns a hold's or a release's result into the rollout's error: nil
// once carried out everywhere.
func (r *run) done(ctx context.Context, what, server string, res target.Result, err error) error {
	switch {
	case err != nil:
		return fmt.Errorf("rollout: %s %s/%s: %w", what, r.o.Backend, server, err)
	case res.Outcome == target.Done:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return fmt.Errorf("rollout: %s %s/%s: %s %v", what, r.o.Backend, server, res.Outcome, res.Err)
}

// deploy runs the Deployer on the drained server, or takes a paused
// server as deployed by the pipeline.
func (r *run) deploy(ctx context.Context) error {
	if r.o.Deploy != nil {
		s := r.server(ctx)
		if err := r.o.Deploy(ctx, *s); err != nil {
			if ctx.Err() != nil {
				return errors.Join(ctx.Err(), err)
			}
			return fmt.Errorf("rollout: %s/%s: %w: %w (the server stays in MAINT)", r.o.Backend, s.Name, ErrDeployFailed, err)
		}
	}
	r.st.Paused, r.next = false, false
	r.st.Current.Deployed = time.Now()
	r.st.Phase = PhaseReadmit
	return r.save()
}

// server is the server in progress with its address.
func (r *run) server(ctx context.Context) *Server {
	name := r.st.server()
	s := &Server{Name: name}
	if statuses, _, err := r.read(ctx); err == nil {
		if st, err := haproxy.Match(statuses[0].Servers, haproxy.Ref{Backend: r.o.Backend, Server: name}); err == nil {
			s.Addr = st.Addr
		}
	}
	return s
}

// readmit brings the deployed server back and ends its step.
func (r *run) readmit(ctx context.Context) error {
	if err := r.admit(ctx, r.st.server()); err != nil {
		return err
	}
	r.st.Current.Ready = time.Now()
	r.st.Index++
	r.st.Phase = PhaseDrain
	return r.endStep()
}

// endStep files the step in progress and reports it.
func (r *run) endStep() error {
	step := *r.st.Current
	r.st.Steps = append(r.st.Steps, step)
	r.st.Current = nil
	if err := r.save(); err != nil {
		return err
	}
	if r.o.Step != nil {
		r.o.Step(step)
	}
	return nil
}

// admit readmits server everywhere, forgets its intent and waits until its
// fresh health check passes everywhere.
func (r *run) admit(ctx context.Context, server string) error {
	res, err := r.o.Target.Admit(ctx, haproxy.Ref{Backend: r.o.Backend, Server: server}, r.o.WaitHealthy)
	switch {
	case err != nil:
		return fmt.Errorf("rollout: readmit %s/%s: %w", r.o.Backend, server, err)
	case res.Outcome == target.Done:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case res.Outcome == paced.TimedOut:
		why := strings.Join(res.Sick, "; ")
		if why == "" {
			why = fmt.Sprint(res.Err)
		}
		return fmt.Errorf("rollout: %s/%s: %w after %s (%s); it stays READY and takes clients once its check passes",
			r.o.Backend, server, ErrNotHealthy, r.o.WaitHealthy, why)
	}
	return fmt.Errorf("rollout: readmit %s/%s: %v", r.o.Backend, server, res.Err)
}

// finish releases what is still held and removes the state file.
func (r *run) finish(ctx context.Context) error {
	if err := r.hold(ctx, nil); err != nil {
		return err
	}
	if err := os.Remove(r.o.StatePath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("rollout: %w", err)
	}
	r.res.Done = true
	return nil
}

func (r *run) save() error { return r.st.save(r.o.StatePath) }

// untouched reports whether the rollout has changed nothing in HAProxy
// yet: no step begun or done, no surge taken in, no server held.
func (r *run) untouched() bool {
	st := r.st
	return len(st.Steps) == 0 && st.Current == nil && st.Index == 0 && !st.SurgeUp && len(st.Held) == 0
}

func (r *run) note(format string, args ...any) {
	if r.o.Note != nil {
		r.o.Note(fmt.Sprintf(format, args...))
	}
}

// DefaultStatePath is where a rollout of backend keeps its place when the
// operator names no file: beside the spec's haproxy.state_file, where
// `wsctl top` looks for it too.
func DefaultStatePath(sp *spec.Spec, backend string) string {
	return filepath.Join(filepath.Dir(sp.HAProxy.StateFile), "wsctl-rollout-"+backend+".json")
}

package agent

import (
	"context"
	"fmt"
	"reflect"
	"time"

	"github.com/wsctl/wsctl/discovery/consul"
	"github.com/wsctl/wsctl/drain"
	"github.com/wsctl/wsctl/fleet"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/intent"
	"github.com/wsctl/wsctl/internal/pace"
)

// fleetState is the agent's part in a fleet of load balancers (package
// fleet): it carries out the operations the intents ask for (`wsctl drain
// --fleet`, `wsctl maint --fleet`) on its own HAProxy and reports on them.
type fleetState struct {
	member  *fleet.Member
	views   chan *fleet.View
	results chan fleetResult
	// intents are the intents of the last view: a change makes the agent
	// sync at once (hold a new one, readmit a server whose one is gone).
	intents map[haproxy.Ref]intent.Intent
	// ops are the servers an operation touched; their state is reported
	// until the server is READY and up with no operation in force, when
	// the report is deleted.
	ops map[haproxy.Ref]*fleetOp
	// early is a view that came before the first complete sync: an
	// operation waits for the servers discovery brings (see fleetTick);
	// a view after that sync replaces it.
	early *fleet.View
	// last is the latest view; ignored are its intents with an operation
	// on a server this load balancer does not have (anyone who may write
	// the KV can write thousands): no drain, no report, only a gauge, and
	// a look at each tick in case discovery brings the server.
	last    *fleet.View
	ignored map[haproxy.Ref]bool
	// current reports whether the member's latest read of the fleet's
	// keys succeeded (fleet.Member.Current): only then do last's intents
	// stand for Consul's (see currentIntents).
	current func() bool
	// rebalances are the fleet rebalances the agent takes part in, by
	// backend (fleetrebalance.go).
	rebalances map[string]*fleetRebalance
}

// fleetOp is one server an operation touched.
type fleetOp struct {
	// op is the operation in force ("" once its intent is gone).
	op string
	// running is set while the drain package drains the server for op;
	// cancel stops it, and its reports are the ones published.
	running bool
	cancel  context.CancelFunc
	// phase, closed and err are the end of the last operation.
	phase  string
	closed int
	err    string
}

// fleetDrives reports whether a fleet operation is in force on
// backend/server.
func (a *Agent) fleetDrives(backend, server string) bool {
	if a.fleet == nil {
		return false
	}
	t := a.fleet.ops[haproxy.Ref{Backend: backend, Server: server}]
	return t != nil && t.op != ""
}

// fleetResult is the end of a fleet drain.
type fleetResult struct {
	ref haproxy.Ref
	op  string
	rep drain.Report
	err error
	// state is the drain it ran for: once replaced (a newer operation
	// took the server over) the result no longer speaks for the server.
	state *drainState
}

// newFleet returns the agent's fleet membership when its intents live in
// Consul (nil otherwise: without Consul there is no fleet).
func (a *Agent) newFleet() (*fleetState, error) {
	if _, ok := a.intents.(*intent.Consul); !ok {
		return nil, nil
	}
	client, addr, err := consul.NewClient(a.spec.Consul)
	if err != nil {
		return nil, err
	}
	member := fleet.NewMember(client, addr, a.spec.Consul.KVPrefix, a.cfg.AgentID, a.spec.Consul.AgentTTL.D(), a.cfg.Log)
	return &fleetState{
		member:  member,
		views:   make(chan *fleet.View, 1),
		results: make(chan fleetResult),
		ops:     map[haproxy.Ref]*fleetOp{},
		ignored: map[haproxy.Ref]bool{},
		current: member.Current,
	}, nil
}

// fleetView takes a new read of the fleet's keys: an intent with a new
// operation starts it; a removed one ends it. It reports whether the
// intents changed, so the loop syncs at once.
func (a *Agent) fleetView(ctx context.Context, v *fleet.View) bool {
	f := a.fleet
	if !a.synced {
		f.early = v
		return false
	}
	// Views come in order: this one supersedes a view kept from before
	// the first sync, which fleetTick would otherwise apply later over
	// it (a stale view, whose intents differ from this one's, hides the
	// next change: a removed intent whose server is never readmitted).
	f.early = nil
	changed := !reflect.DeepEqual(v.Intents, f.intents)
	f.intents, f.last = v.Intents, v
	known := a.appliedServers()
	clear(f.ignored)
	for ref, in := range v.Intents {
		if in.Op == nil {
			continue
		}
		t := f.ops[ref]
		if t == nil && !known[ref] {
			f.ignored[ref] = true
			continue
		}
		if t == nil {
			t = &fleetOp{}
			f.ops[ref] = t
		}
		if t.op == in.Op.ID {
			continue
		}
		if t.cancel != nil {
			t.cancel()
		}
		t.op, t.phase, t.closed, t.err, t.running, t.cancel = in.Op.ID, "", 0, "", false, nil
		a.startFleetOp(ctx, in, t)
	}
	for ref, t := range f.ops {
		if _, ok := v.Intents[ref]; !ok && t.op != "" {
			// The server is the agent's again: the sync readmits it
			// (it is in a.drains) once the drain, if any, let go.
			if t.cancel != nil {
				t.cancel()
			}
			t.op, t.phase, t.closed, t.err, t.running, t.cancel = "", "", 0, "", false, nil
		}
	}
	a.metrics.FleetIgnored.Store(int64(len(f.ignored)))
	a.fleetRebalanceView(ctx, v)
	return changed
}

// appliedServers are the servers of the snapshot last applied.
func (a *Agent) appliedServers() map[haproxy.Ref]bool {
	out := map[haproxy.Ref]bool{}
	for backend, instances := range a.applied {
		for _, in := range instances {
			out[haproxy.Ref{Backend: backend, Server: in.ID}] = true
		}
	}
	return out
}

// startFleetOp carries in's operation out: the state at once for a maint
// or a hold (a rollout's DRAIN of the servers still to deploy),
// else the same drain as `wsctl drain --close-after`, in the background,
// closing at this load balancer's share of the fleet-wide rate.
func (a *Agent) startFleetOp(ctx context.Context, in intent.Intent, t *fleetOp) {
	ref, op := in.Ref(), *in.Op
	// The server is the agent's to hold, and to readmit when the intent
	// goes (see Plan's drained).
	d := &drainState{started: in.Since}
	if old, ok := a.drains[ref]; ok && old.cancel != nil {
		old.cancel()
	}
	a.drains[ref] = d
	defer a.saveOwn()
	a.log.Info("fleet operation", "server", ref.String(), "op", op.ID, "state", in.State, "who", in.Who, "reason", in.Reason)
	if op.Hold || in.State == haproxy.Maint && op.CloseAfter == nil {
		d.done = true
		t.phase = fleet.PhaseHeld
		if err := a.checkMaint(ctx, ref, op.Force || op.Hold); err != nil {
			a.log.Error("fleet maint refused", "server", ref.String(), "op", op.ID, "err", err)
			t.phase, t.err = fleet.PhaseRefused, err.Error()
			return
		}
		if err := a.rt.SetState(ctx, ref.Backend, ref.Server, in.State); err != nil {
			a.metrics.RuntimeErrors.Add(1, ref.Backend, opMaint)
			t.phase, t.err = fleet.PhaseError, err.Error()
		}
		a.metrics.RuntimeOps.Add(1, ref.Backend, opMaint)
		return
	}
	opts := drain.Options{Force: op.Force, Poll: min(a.cfg.DrainPoll, drain.DefaultPoll)}
	since := func(s float64) time.Duration {
		return time.Until(in.Since.Add(time.Duration(s * float64(time.Second))))
	}
	if op.Timeout > 0 {
		opts.Timeout = max(since(op.Timeout), time.Millisecond)
	}
	if op.CloseAfter != nil {
		opts.Close = &drain.Close{After: max(since(*op.CloseAfter), 0), Rate: op.CloseRate}
		if opts.Timeout > 0 {
			opts.Close.After = min(opts.Close.After, opts.Timeout-time.Nanosecond)
		}
		if op.CloseRate > 0 {
			// Every agent's closes follow one schedule from the moment
			// the intent says closing begins: together they hold the
			// fleet-wide rate.
			member := a.fleet.member
			opts.Close.Start = in.Since.Add(time.Duration(*op.CloseAfter * float64(time.Second)))
			opts.Close.Part = func() pace.Part {
				v := member.View()
				if v == nil {
					return pace.Part{}
				}
				return v.Part(ref, op.ID, member.ID())
			}
		}
	}
	member := a.fleet.member
	opts.Progress = func(p drain.Progress) {
		admin := haproxy.Drain
		if p.Phase == drain.Closing {
			admin = haproxy.Maint
		}
		member.Publish(fleet.Progress{Backend: ref.Backend, Server: ref.Server, Op: op.ID, Admin: admin,
			Phase: string(p.Phase), Sessions: p.Left, Closed: p.Closed})
	}
	dctx, cancel := context.WithCancel(a.runCtx)
	d.closing, d.cancel = true, cancel
	t.running, t.cancel = true, cancel
	target := drain.Target{Socket: a.rt.Path(), Runtime: a.rt, Backend: ref.Backend, Server: ref.Server}
	results := a.fleet.results
	a.wg.Go(func() {
		defer cancel()
		res, err := drain.Run(dctx, []drain.Target{target}, opts)
		r := fleetResult{ref: ref, op: op.ID, err: err, state: d}
		if len(res.Reports) == 1 {
			r.rep = res.Reports[0]
		}
		select {
		case results <- r:
		case <-a.runCtx.Done():
		}
	})
}

// checkMaint refuses, unless force, a fleet maint of a server that still
// has sessions on this HAProxy (MAINT does not close them; whatever comes
// next would, all at once) or whose backend has no other server to take
// new clients: the checks of a local `wsctl maint`.
func (a *Agent) checkMaint(ctx context.Context, ref haproxy.Ref, force bool) error {
	if force {
		return nil
	}
	s, err := a.rt.Server(ctx, ref.Backend, ref.Server)
	if err != nil {
		return err
	}
	if s.Scur > 0 {
		return fmt.Errorf("%s has %d live sessions on %s: drain it first (`wsctl drain --fleet`), or use --force", ref, s.Scur, a.rt.Path())
	}
	return drain.CheckNotLast(ctx, []drain.Target{{Socket: a.rt.Path(), Runtime: a.rt, Backend: ref.Backend, Server: ref.Server}})
}

// fleetDone takes the end of a fleet drain: the server stays where the
// drain left it, held by the intent, and the outcome is reported.
func (a *Agent) fleetDone(r fleetResult) {
	t := a.fleet.ops[r.ref]
	current := t != nil && t.op == r.op
	// A drain superseded by a newer op leaves the server to that one's.
	if d, ok := a.drains[r.ref]; ok && d == r.state {
		d.closing, d.cancel, d.done = false, nil, true
		a.saveOwn()
	}
	if !current {
		return // the next report says the rest
	}
	t.running, t.cancel, t.closed = false, nil, r.rep.Closed
	switch {
	case r.err != nil:
		// drain.Run fails only before it changes anything: the last
		// server of its backend here, or HAProxy unreadable.
		t.phase, t.err = fleet.PhaseRefused, r.err.Error()
	case r.rep.Outcome == drain.Drained:
		t.phase = fleet.PhaseDrained
	case r.rep.Outcome == drain.TimedOut:
		t.phase = fleet.PhaseTimedOut
	default:
		t.phase, t.err = fleet.PhaseError, fmt.Sprint(r.rep.Err)
	}
	if t.phase == fleet.PhaseError || t.phase == fleet.PhaseRefused {
		a.metrics.RuntimeErrors.Add(1, r.ref.Backend, opCloseSessions)
		a.log.Error("fleet drain", "server", r.ref.String(), "op", r.op, "err", t.err)
	} else {
		a.log.Info("fleet drain ended", "server", r.ref.String(), "op", r.op, "outcome", t.phase, "closed", t.closed)
	}
	a.fleet.member.Publish(fleet.Progress{Backend: r.ref.Backend, Server: r.ref.Server, Op: r.op, Admin: r.rep.Admin,
		Phase: t.phase, Sessions: r.rep.Left, Closed: t.closed, Error: t.err})
}

// fleetTick takes a view that came before the first sync, then reports,
// from one read of HAProxy, every server an operation touched whose drain
// is not running (a running drain reports itself).
func (a *Agent) fleetTick(ctx context.Context, servers serverRead) {
	if a.fleet == nil {
		return
	}
	if v := a.fleet.early; v != nil && a.synced {
		a.fleet.early = nil
		a.fleetView(ctx, v)
	} else if len(a.fleet.ignored) > 0 {
		known := a.appliedServers()
		for ref := range a.fleet.ignored {
			if known[ref] {
				a.fleetView(ctx, a.fleet.last) // discovery brought it
				break
			}
		}
	}
	a.fleetRebalanceTick(ctx, servers)
	var refs []haproxy.Ref
	for ref, t := range a.fleet.ops {
		// A running drain reports itself; a fleet rebalance reports
		// every server of its backend.
		if !t.running && a.fleet.rebalances[ref.Backend] == nil {
			refs = append(refs, ref)
		}
	}
	if len(refs) == 0 {
		return
	}
	byRef := servers(refs...)
	if byRef == nil {
		return
	}
	for _, ref := range refs {
		t := a.fleet.ops[ref]
		p := fleet.Progress{Backend: ref.Backend, Server: ref.Server, Op: t.op, Phase: t.phase, Closed: t.closed, Error: t.err}
		s, ok := byRef[ref]
		if ok && t.op == "" && s.Admin == haproxy.Ready && s.State == haproxy.Up {
			// Back in service with no operation in force: the report
			// would only go stale (`ready --fleet` takes none as done).
			a.fleet.member.Forget(ref)
			delete(a.fleet.ops, ref)
			continue
		}
		if ok {
			p.Admin, p.State, p.Sessions = s.Admin, s.State, s.Scur
		} else if t.op != "" && t.phase != fleet.PhaseError {
			p.Phase, p.Error = fleet.PhaseError, "this HAProxy has no such server"
		}
		a.fleet.member.Publish(p)
	}
}

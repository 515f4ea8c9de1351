package agent

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/wsctl/wsctl/drain"
	"github.com/wsctl/wsctl/fleet"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/intent"
	"github.com/wsctl/wsctl/internal/pace"
	"github.com/wsctl/wsctl/rebalance"
)

// A fleet rebalance (`wsctl rebalance --fleet`, intent.Rebalance, one key
// per backend) is carried out by every agent on its own HAProxy: while its
// key stands the agent reports every server of the backend (sessions,
// state, weight: the operator's counts sum them); in a round it sets every
// server of the round (the donors and those at their target) to MAINT and
// closes its part of each donor's excess, oldest first, with rebalance's
// own closing (Sockets.ShedAt) on the slots of its part of the fleet-wide
// schedule; it readmits them when the key says so, when the key goes, at
// the key's Until, and when it stops. A server a fleet rebalance holds in
// MAINT is not the agent's (not in a.drains): its syncs leave it alone, as
// they leave a local `wsctl rebalance`'s. The servers it set to MAINT are
// in its state file before the MAINT, so an agent killed half-way readmits
// them once it runs again (restoreFleetRebalances).

// fleetRebalance is the agent's part in one backend's fleet rebalance. The
// loop owns it; the closing goroutine reports through mu.
type fleetRebalance struct {
	mu sync.Mutex
	r  intent.Rebalance
	// round is the last round the agent started; readmitted is set once
	// its donors are READY again.
	round      int
	readmitted bool
	// maint are the servers the agent set to MAINT and not yet readmitted
	// (kept in the state file: ownRebalance).
	maint map[string]bool
	// closed are the round's closes by donor; shed is set when they are
	// over, failed when they failed.
	closed map[string]int
	shed   bool
	failed string
	// refused says why the agent takes no part ("": it does).
	refused string
	// reported are the servers reported on, forgotten at the end.
	reported map[haproxy.Ref]bool
	cancel   context.CancelFunc
	done     chan struct{}
}

// fleetRebalanceView follows the rebalance keys of a new view: a new key
// starts the agent's part, a changed one moves it on, a removed or
// replaced one ends it.
func (a *Agent) fleetRebalanceView(ctx context.Context, v *fleet.View) {
	f := a.fleet
	if f.rebalances == nil {
		f.rebalances = map[string]*fleetRebalance{}
	}
	for _, backend := range slices.Sorted(maps.Keys(f.rebalances)) {
		if r, ok := v.Rebalances[backend]; !ok || r.ID != f.rebalances[backend].r.ID {
			a.endFleetRebalance(ctx, backend)
		}
	}
	for _, backend := range slices.Sorted(maps.Keys(v.Rebalances)) {
		if a.specBackend(backend) == nil {
			continue // no such backend here: nothing to report
		}
		fr := f.rebalances[backend]
		if fr == nil {
			fr = newFleetRebalance()
			fr.refused = a.fleetRebalanceBusy(backend)
			f.rebalances[backend] = fr
			a.log.Info("fleet rebalance", "backend", backend, "id", v.Rebalances[backend].ID, "who", v.Rebalances[backend].Who,
				"refused", fr.refused)
		}
		fr.mu.Lock()
		fr.r = v.Rebalances[backend]
		fr.mu.Unlock()
		a.stepFleetRebalance(ctx, backend, fr)
	}
}

// fleetRebalanceBusy says what keeps the agent from taking part in a
// fleet rebalance of backend, or "": its own drain of one of its servers,
// a fleet operation on one (their reports are on the same keys), or its own
// rebalance of the backend.
func (a *Agent) fleetRebalanceBusy(backend string) string {
	for ref, d := range a.drains {
		if ref.Backend == backend && !d.done {
			return "the agent drains " + ref.String()
		}
	}
	for ref, t := range a.fleet.ops {
		if ref.Backend == backend && t.op != "" {
			return "a fleet operation drives " + ref.String()
		}
	}
	if st := a.rebalances[backend]; st != nil && st.cancel != nil {
		return "the agent rebalances " + backend + " after adding a server"
	}
	return ""
}

// stepFleetRebalance does what the key asks that the agent has not done:
// start a new round's closes, or readmit the round's donors (asked, or the
// key's Until passed).
func (a *Agent) stepFleetRebalance(ctx context.Context, backend string, fr *fleetRebalance) {
	fr.mu.Lock()
	r, round, readmitted, refused := fr.r, fr.round, fr.readmitted, fr.refused
	fr.mu.Unlock()
	switch {
	case refused != "":
	case !time.Now().Before(r.Until):
		a.readmitFleetDonors(ctx, backend, fr)
		fr.mu.Lock()
		fr.refused = "the rebalance's until passed: its donors are READY again"
		fr.mu.Unlock()
	case r.Round > round && len(r.Moves) > 0 && !r.Readmit:
		a.startFleetShed(backend, fr, r)
	case r.Readmit && r.Round == round && !readmitted:
		a.readmitFleetDonors(ctx, backend, fr)
	}
}

func newFleetRebalance() *fleetRebalance {
	return &fleetRebalance{maint: map[string]bool{}, closed: map[string]int{}, reported: map[haproxy.Ref]bool{}}
}

// startFleetShed starts round r.Round: every server of the round to MAINT,
// then this load balancer's part of each donor's excess closed in the
// background.
func (a *Agent) startFleetShed(backend string, fr *fleetRebalance, r intent.Rebalance) {
	me := a.fleet.member.ID()
	var held []rebalance.Share
	fr.mu.Lock()
	fr.round, fr.readmitted, fr.shed, fr.failed = r.Round, false, false, ""
	clear(fr.closed)
	for _, server := range slices.Sorted(maps.Keys(r.Moves)) {
		fr.maint[server] = true // recorded first: a MAINT that fails is readmitted too
		held = append(held, rebalance.Share{Load: rebalance.Load{Server: server}, Moves: r.Moves[server][me]})
	}
	ctx, cancel := context.WithCancel(a.runCtx)
	fr.cancel, fr.done = cancel, make(chan struct{})
	done := fr.done
	fr.mu.Unlock()
	// On disk before the first MAINT: a restarted agent readmits them.
	a.saveOwn()
	part := r.Part(me)
	slots := pace.NewScheduled(pace.Schedule{Start: r.Start, Rate: r.CloseRate}, func() pace.Part { return part })
	sockets := rebalance.NewSockets([]rebalance.Socket{{Name: a.rt.Path(), Runtime: a.rt}})
	a.log.Info("fleet rebalance round", "backend", backend, "id", r.ID, "round", r.Round, "held", len(held), "part", part)
	a.wg.Go(func() {
		defer close(done)
		defer cancel()
		_, err := sockets.ShedAt(ctx, backend, held, slots, func(server string, n int64) {
			fr.mu.Lock()
			fr.closed[server] += int(n)
			fr.mu.Unlock()
		})
		fr.mu.Lock()
		if err != nil && ctx.Err() == nil {
			fr.failed = err.Error()
		}
		fr.shed = true
		fr.mu.Unlock()
		if err != nil && ctx.Err() == nil {
			a.metrics.RuntimeErrors.Add(1, backend, opCloseSessions)
			a.log.Error("fleet rebalance", "backend", backend, "round", r.Round, "err", err)
		}
		all, err := a.rt.Servers(ctx, backend)
		if err == nil {
			a.reportFleetRebalance(backend, fr, all)
		}
	})
}

// stopFleetShed stops a round's closes and waits until they stopped, so
// no MAINT comes after a readmission.
func (fr *fleetRebalance) stopFleetShed() {
	fr.mu.Lock()
	cancel, done := fr.cancel, fr.done
	fr.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// readmitFleetDonors sets the servers the agent holds in MAINT READY
// again, but for one an operator's intent holds now, and forgets them in
// its state file.
func (a *Agent) readmitFleetDonors(ctx context.Context, backend string, fr *fleetRebalance) {
	fr.stopFleetShed()
	fr.mu.Lock()
	servers := slices.Sorted(maps.Keys(fr.maint))
	fr.mu.Unlock()
	if len(servers) > 0 {
		defer a.saveOwn()
	}
	for _, server := range servers {
		ref := haproxy.Ref{Backend: backend, Server: server}
		if _, held := a.fleet.intents[ref]; !held {
			if err := a.rt.Readmit(ctx, backend, server); err != nil {
				a.metrics.RuntimeErrors.Add(1, backend, string(OpReady))
				a.log.Error("fleet rebalance: readmit", "server", ref.String(), "err", err)
				continue
			}
			a.metrics.RuntimeOps.Add(1, backend, string(OpReady))
		}
		fr.mu.Lock()
		delete(fr.maint, server)
		fr.mu.Unlock()
	}
	fr.mu.Lock()
	fr.readmitted = len(fr.maint) == 0
	fr.mu.Unlock()
	if all, err := a.rt.Servers(ctx, backend); err == nil {
		a.reportFleetRebalance(backend, fr, all)
	}
}

// endFleetRebalance ends the agent's part when the key went: donors READY
// again, reports forgotten.
func (a *Agent) endFleetRebalance(ctx context.Context, backend string) {
	fr := a.fleet.rebalances[backend]
	a.readmitFleetDonors(ctx, backend, fr)
	fr.mu.Lock()
	for ref := range fr.reported {
		a.fleet.member.Forget(ref)
	}
	fr.mu.Unlock()
	delete(a.fleet.rebalances, backend)
	a.log.Info("fleet rebalance ended", "backend", backend, "id", fr.r.ID)
}

// fleetRebalanceTick reports, from one read of HAProxy, every backend a
// fleet rebalance is under way on, and readmits donors past a key's Until.
// Not before a view was applied: until then the intents that may hold a
// server a previous run set to MAINT are unknown.
func (a *Agent) fleetRebalanceTick(ctx context.Context, servers serverRead) {
	if len(a.fleet.rebalances) == 0 || a.fleet.last == nil {
		return
	}
	byRef := servers()
	if byRef == nil {
		return
	}
	for _, backend := range slices.Sorted(maps.Keys(a.fleet.rebalances)) {
		fr := a.fleet.rebalances[backend]
		a.stepFleetRebalance(ctx, backend, fr)
		var all []haproxy.ServerStatus
		for ref, s := range byRef {
			if ref.Backend == backend {
				all = append(all, s)
			}
		}
		a.reportFleetRebalance(backend, fr, all)
	}
}

// reportFleetRebalance publishes the agent's report on every server of
// backend in all (spare slots aside): its sessions and state, and for a
// donor of the round its phase and closes.
func (a *Agent) reportFleetRebalance(backend string, fr *fleetRebalance, all []haproxy.ServerStatus) {
	var servers []haproxy.ServerStatus
	for _, s := range all {
		if s.Backend == backend && !isSlot(s.Server) {
			servers = append(servers, s)
		}
	}
	fr.mu.Lock()
	defer fr.mu.Unlock()
	for _, s := range servers {
		p := fleet.Progress{Backend: backend, Server: s.Server, Op: fr.r.ID, Admin: s.Admin, State: s.State, Sessions: s.Scur,
			Weight: s.UserWeight, Round: fr.round, Servers: len(servers), Phase: fleet.PhaseCounted}
		_, donor := fr.r.Moves[s.Server]
		switch {
		case fr.refused != "":
			p.Phase, p.Error = fleet.PhaseRefused, fr.refused
		case !donor || fr.round != fr.r.Round || fr.round == 0:
		case fr.readmitted:
			p.Phase, p.Closed = fleet.PhaseReadmitted, fr.closed[s.Server]
		case fr.failed != "":
			p.Phase, p.Error, p.Closed = fleet.PhaseError, fr.failed, fr.closed[s.Server]
		case fr.shed:
			p.Phase, p.Closed = fleet.PhaseShed, fr.closed[s.Server]
		default:
			p.Phase, p.Closed = string(drain.Closing), fr.closed[s.Server]
		}
		fr.reported[s.Ref()] = true
		a.fleet.member.Publish(p)
	}
}

// fleetRebalanceStop readmits, as the agent stops, the servers it holds in
// MAINT for fleet rebalances, within stopReadmitTimeout: the operator
// counts an agent gone as a failure, and a server left in MAINT would take
// no client until the agent runs again.
func (a *Agent) fleetRebalanceStop() {
	if a.fleet == nil || len(a.fleet.rebalances) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), stopReadmitTimeout)
	defer cancel()
	for _, backend := range slices.Sorted(maps.Keys(a.fleet.rebalances)) {
		a.readmitFleetDonors(ctx, backend, a.fleet.rebalances[backend])
	}
}

// stopReadmitTimeout bounds the readmissions of an agent that stops.
const stopReadmitTimeout = 5 * time.Second

// restoreFleetRebalances takes back the servers a previous run set to
// MAINT for fleet rebalances (its state file): each backend's rebalance is
// followed as if the agent had not stopped, from the round it was in, so
// its servers are readmitted when the key says so, once it is gone or
// another replaced it (the first view), or at its Until.
func (a *Agent) restoreFleetRebalances(own map[string]ownRebalance) {
	for _, backend := range slices.Sorted(maps.Keys(own)) {
		o := own[backend]
		if a.fleet == nil {
			a.log.Error("agent state: servers a fleet rebalance set to MAINT, and this agent is in no fleet: `wsctl ready` each",
				"backend", backend, "servers", o.Maint)
			continue
		}
		if a.fleet.rebalances == nil {
			a.fleet.rebalances = map[string]*fleetRebalance{}
		}
		fr := newFleetRebalance()
		fr.r = intent.Rebalance{ID: o.ID, Backend: backend, Round: o.Round, Until: o.Until}
		fr.round = o.Round
		for _, server := range o.Maint {
			fr.maint[server] = true
		}
		a.fleet.rebalances[backend] = fr
		a.log.Info("fleet rebalance: servers it set to MAINT before it stopped", "backend", backend, "id", o.ID, "servers", o.Maint)
	}
}

// ownFleetRebalances are the servers held in MAINT for fleet rebalances,
// for the state file.
func (a *Agent) ownFleetRebalances() map[string]ownRebalance {
	if a.fleet == nil {
		return nil
	}
	out := map[string]ownRebalance{}
	for backend, fr := range a.fleet.rebalances {
		fr.mu.Lock()
		if len(fr.maint) > 0 {
			out[backend] = ownRebalance{ID: fr.r.ID, Round: fr.round, Until: fr.r.Until.UTC(), Maint: slices.Sorted(maps.Keys(fr.maint))}
		}
		fr.mu.Unlock()
	}
	return out
}

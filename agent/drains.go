package agent

import (
	"context"
	"errors"
	"time"

	"github.com/wsctl/wsctl/drain"
	"github.com/wsctl/wsctl/haproxy"
)

// drainState is one drain the agent started (a server discovery reports
// failing, or one that left discovery).
type drainState struct {
	started time.Time
	// remove deletes the server once drained; otherwise it stays in MAINT
	// until discovery reports it healthy.
	remove bool
	// closing is set while the drain package closes the sessions left
	// after drain_timeout; cancel stops it.
	closing bool
	cancel  context.CancelFunc
	// done is set once the server is in MAINT with its sessions gone.
	done bool
}

// drainResult is what a closing drain reports back to the loop.
type drainResult struct {
	res drain.Result
	err error
	// states are the drains it was started for: a report on a server
	// whose drain was replaced meanwhile (a fleet operation took it over)
	// is late and says nothing about the drain in force.
	states map[haproxy.Ref]*drainState
}

// errPostponed marks an op left for the next sync.
var errPostponed = errors.New("postponed: the server's sessions are being closed")

// startDrain records a drain the agent began (or makes an existing one end
// with the server's removal).
func (a *Agent) startDrain(ref haproxy.Ref, remove bool) {
	if d, ok := a.drains[ref]; ok {
		if remove && !d.remove {
			d.remove, d.done = true, false
		}
		return
	}
	a.drains[ref] = &drainState{started: time.Now(), remove: remove}
}

// forgetDrain ends the agent's claim on ref's state.
func (a *Agent) forgetDrain(ref haproxy.Ref) {
	if d, ok := a.drains[ref]; ok && d.cancel != nil {
		d.cancel()
	}
	delete(a.drains, ref)
}

// forgetOvertaken forgets the drains, with nothing running for them, whose
// server the sync's listing shows READY: a readmission that took though it
// reported an error (its read-back timed out, a later step was refused),
// or an operator's `set server … state ready`. Kept, such a record would
// set a wanted server to MAINT at the next drain tick, and keep one that
// leaves discovery from being drained again; the plan decides anew from
// the server as HAProxy has it.
func (a *Agent) forgetOvertaken() {
	forgot := false
	for ref, d := range a.drains {
		s, listed := a.listed[ref.Backend][ref.Server]
		if !listed || s.Admin != haproxy.Ready || d.closing || d.cancel != nil || a.fleetDrives(ref.Backend, ref.Server) {
			continue
		}
		a.log.Info("drain overtaken: the server is READY", "server", ref.String())
		delete(a.drains, ref)
		forgot = true
	}
	if forgot {
		a.saveOwn()
	}
}

// progressDrains moves the agent's drains on, from one read of every
// server: a server whose sessions are gone goes to MAINT (so sticky clients
// go elsewhere) and, when it left discovery, is deleted; one whose backend's
// drain_timeout passed with sessions left is handed to the drain package,
// which sets MAINT first and closes the rest at the backend's close_rate —
// the same sequence as `wsctl drain --close-after`, never all at once.
func (a *Agent) progressDrains(ctx context.Context, servers serverRead) {
	var refs []haproxy.Ref
	for ref, d := range a.drains {
		if !d.closing && !d.done {
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
	var changes []haproxy.Change
	var finished []haproxy.Ref
	toClose := map[string][]drain.Target{}
	for ref, d := range a.drains {
		if d.closing || d.done {
			continue
		}
		st, ok := byRef[ref]
		if !ok { // deleted behind the agent's back, or the backend is gone
			a.forgetDrain(ref)
			continue
		}
		switch {
		case st.Scur == 0:
			if st.Admin != haproxy.Maint {
				changes = append(changes, haproxy.Change{Kind: haproxy.ChangeState, Backend: ref.Backend, Server: ref.Server, State: haproxy.Maint})
			}
			if d.remove {
				changes = append(changes, haproxy.Change{Kind: haproxy.ChangeDelete, Backend: ref.Backend, Server: ref.Server})
			}
			finished = append(finished, ref)
		case time.Since(d.started) >= a.drainTimeout(ref.Backend):
			d.closing = true
			toClose[ref.Backend] = append(toClose[ref.Backend], drain.Target{
				Socket: a.rt.Path(), Runtime: a.rt, Backend: ref.Backend, Server: ref.Server,
			})
		}
	}
	if len(changes) > 0 {
		failed := map[haproxy.Ref]bool{}
		for i, err := range a.rt.Apply(ctx, changes) {
			if err != nil {
				failed[haproxy.Ref{Backend: changes[i].Backend, Server: changes[i].Server}] = true
				a.metrics.RuntimeErrors.Add(1, changes[i].Backend, drainStep(changes[i]))
				a.log.Error("finish drain", "err", err)
			}
		}
		for _, ch := range changes {
			a.metrics.RuntimeOps.Add(1, ch.Backend, drainStep(ch))
		}
		for _, ref := range finished {
			if failed[ref] {
				continue
			}
			a.finished(ref, 0)
		}
	}
	for backend, targets := range toClose {
		a.closeSessions(backend, targets)
	}
	a.saveOwn()
}

// serverRead is one drain tick's read of HAProxy's servers, shared by its
// steps. Called with refs, it gives every server's state (`show servers
// state`, read once) with the sessions and checks (`show stat`) of those
// servers alone, one row each; called without, every server's in full.
// With 1,000 servers the whole `show stat` took ~10 ms of the agent's
// loop every second while any drain was in progress, in the path of the
// next registration; a drain needs the rows of its own servers. The map is
// nil when a read failed (logged and counted once).
type serverRead func(refs ...haproxy.Ref) map[haproxy.Ref]haproxy.ServerStatus

// serversOnce returns the serverRead of one drain tick: no read is made
// when no step needs one, and none twice.
func (a *Agent) serversOnce(ctx context.Context) serverRead {
	var (
		byRef   map[haproxy.Ref]haproxy.ServerStatus
		full    bool
		failed  bool
		statted = map[haproxy.Ref]bool{}
	)
	fail := func(err error) map[haproxy.Ref]haproxy.ServerStatus {
		failed, byRef = true, nil
		a.metrics.RuntimeErrors.Add(1, "", opList)
		a.log.Error("read servers for drains and the fleet's reports", "err", err)
		return nil
	}
	keep := func(all []haproxy.ServerStatus) {
		byRef = make(map[haproxy.Ref]haproxy.ServerStatus, len(all))
		for _, s := range all {
			byRef[s.Ref()] = s
		}
	}
	readAll := func(c haproxy.Conn) error {
		all, err := c.Servers("")
		if err == nil {
			keep(all)
			full = true
		}
		return err
	}
	return func(refs ...haproxy.Ref) map[haproxy.Ref]haproxy.ServerStatus {
		if failed || full {
			return byRef
		}
		err := a.rt.Session(ctx, func(c haproxy.Conn) error {
			if len(refs) == 0 {
				return readAll(c)
			}
			if byRef == nil {
				all, err := c.States("")
				if err != nil {
					return err
				}
				keep(all)
			}
			var rows []haproxy.ServerStatus
			for _, ref := range refs {
				if s, ok := byRef[ref]; ok && !statted[ref] {
					rows = append(rows, s)
				}
			}
			rows, err := c.WithStats(rows)
			if gone := (*haproxy.UnknownServerError)(nil); errors.As(err, &gone) {
				// Deleted since the states were read (a drain this
				// tick finished): read everything afresh.
				return readAll(c)
			}
			if err != nil {
				return err
			}
			for _, s := range rows {
				byRef[s.Ref()], statted[s.Ref()] = s, true
			}
			return nil
		})
		if err != nil {
			return fail(err)
		}
		return byRef
	}
}

// closeSessions hands targets, all of backend and past its drain_timeout,
// to the drain package in the background; the result comes back to the
// loop on a.drainResults.
func (a *Agent) closeSessions(backend string, targets []drain.Target) {
	ctx, cancel := context.WithCancel(a.runCtx)
	states := make(map[haproxy.Ref]*drainState, len(targets))
	for _, t := range targets {
		ref := haproxy.Ref{Backend: t.Backend, Server: t.Server}
		a.drains[ref].cancel = cancel
		states[ref] = a.drains[ref]
	}
	rate := a.closeRate(backend)
	a.log.Info("drain timeout passed; closing the sessions left", "backend", backend, "servers", len(targets), "rate_per_s", rate)
	a.wg.Go(func() {
		defer cancel()
		// Force: the agent's drains follow discovery, which the
		// keep-non-empty rule already guards.
		res, err := drain.Run(ctx, targets, drain.Options{
			Close: &drain.Close{Rate: rate}, Force: true, Poll: a.cfg.DrainPoll,
		})
		select {
		case a.drainResults <- drainResult{res: res, err: err, states: states}:
		case <-a.runCtx.Done():
		}
	})
}

// drainClosed takes a closing drain's result: drained servers are done (and
// deleted when they left discovery); the others are tried again on a later
// tick.
func (a *Agent) drainClosed(ctx context.Context, r drainResult) {
	if r.err != nil {
		a.log.Error("close sessions", "err", r.err)
	}
	var deletes []haproxy.Change
	for _, rep := range r.res.Reports {
		ref := haproxy.Ref{Backend: rep.Backend, Server: rep.Server}
		d, ok := a.drains[ref]
		if !ok || d != r.states[ref] {
			continue
		}
		d.closing, d.cancel = false, nil
		if rep.Outcome != drain.Drained {
			if rep.Outcome != drain.Canceled {
				a.metrics.RuntimeErrors.Add(1, ref.Backend, opCloseSessions)
				a.log.Error("close sessions", "server", ref.String(), "outcome", rep.Outcome, "err", rep.Err)
			}
			continue
		}
		if d.remove {
			deletes = append(deletes, haproxy.Change{Kind: haproxy.ChangeDelete, Backend: ref.Backend, Server: ref.Server})
			continue
		}
		a.finished(ref, rep.Closed)
	}
	for i, err := range a.rt.Apply(ctx, deletes) {
		ref := haproxy.Ref{Backend: deletes[i].Backend, Server: deletes[i].Server}
		if err != nil {
			a.metrics.RuntimeErrors.Add(1, ref.Backend, opDelete)
			a.log.Error("delete drained server", "server", ref.String(), "err", err)
			continue
		}
		a.finished(ref, 0)
	}
	for _, ch := range deletes {
		a.metrics.RuntimeOps.Add(1, ch.Backend, opDelete)
	}
	a.saveOwn()
}

// finished ends a drain: a removed server is forgotten, another stays in
// MAINT, the agent's, until discovery reports it healthy.
func (a *Agent) finished(ref haproxy.Ref, closed int) {
	d := a.drains[ref]
	if d.remove {
		delete(a.drains, ref)
		// HAProxy no longer has it: a registration again is an add,
		// which needs no listing (see ahead).
		delete(a.listed[ref.Backend], ref.Server)
		a.log.Info("server removed", "server", ref.String(), "closed", closed)
		return
	}
	d.done = true
	a.log.Info("server drained", "server", ref.String(), "closed", closed)
}

package agent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/intent"
	"github.com/wsctl/wsctl/rebalance"
	"github.com/wsctl/wsctl/spec"
)

// A backend with `rebalance: true` is evened out after the agent adds a
// server to it: leastconn sends the new server only new clients, so
// without a rebalance it stays nearly empty next to full ones for as long
// as the WebSockets live. The rebalance is rebalance.Run, the one of
// `wsctl rebalance`, at the backend's close_rate, in the background; the
// loop starts it from its drain tick and takes its end on
// rebalanceResults.

// rebalanceState is the automatic rebalance of one backend.
type rebalanceState struct {
	// added are the servers added and not yet rebalanced for: the
	// rebalance starts once each is up and has taken its first clients or
	// passed its check.
	added map[string]bool
	// cancel stops the running rebalance (nil: none runs); stopping is set
	// once it was asked to stop.
	cancel   context.CancelFunc
	stopping bool
}

// rebalanceResult is the end of a rebalance, reported to the loop.
type rebalanceResult struct {
	backend string
	res     rebalance.Result
	err     error
}

// rebalanceAdded records that server was added to backend, when the
// backend asks for rebalances.
func (a *Agent) rebalanceAdded(backend, server string) {
	b := a.specBackend(backend)
	if b == nil || !b.Rebalance {
		return
	}
	st := a.rebalances[backend]
	if st == nil {
		st = &rebalanceState{added: map[string]bool{}}
		a.rebalances[backend] = st
	}
	st.added[server] = true
}

// rebalanceTick starts the rebalances whose added servers are ready and
// nothing else is under way on their backend, and stops a running one
// once something is (a drain, an intent, a fleet operation): the
// rebalance then sets its donors READY again, and the sync that follows
// its end (see Run) gives the operators' holds back.
func (a *Agent) rebalanceTick(ctx context.Context, servers serverRead) {
	if len(a.rebalances) == 0 {
		return
	}
	byRef := servers()
	if byRef == nil {
		return
	}
	intents, err := a.currentIntents(ctx)
	if err != nil {
		a.metrics.IntentErrors.Add(1)
		a.log.Error("operator intents unreadable; no rebalance starts meanwhile", "err", err)
	}
	for _, backend := range slices.Sorted(maps.Keys(a.rebalances)) {
		st := a.rebalances[backend]
		busy := a.rebalanceBusy(backend, byRef, intents)
		if err != nil {
			busy = "the operator intents are unreadable"
		}
		if st.cancel != nil {
			if busy != "" && !st.stopping {
				a.log.Info("stopping the rebalance", "backend", backend, "because", busy)
				st.cancel()
				st.stopping = true
			}
			continue
		}
		if busy != "" {
			continue
		}
		ready := true
		for server := range st.added {
			s, ok := byRef[haproxy.Ref{Backend: backend, Server: server}]
			if !ok || s.Admin != haproxy.Ready {
				// Gone, or drained or held since: not one to make room for.
				delete(st.added, server)
				continue
			}
			ready = ready && s.State == haproxy.Up && s.UserWeight > 0 && (s.Scur > 0 || checkPassed(s))
		}
		switch {
		case len(st.added) == 0:
			delete(a.rebalances, backend)
		case ready:
			a.startRebalance(backend, st)
		}
	}
}

// checkPassed reports whether s's last health check succeeded (L4OK,
// L6OK, L7OK, L7OKC).
func checkPassed(s haproxy.ServerStatus) bool {
	return s.Checked && strings.HasPrefix(s.Check, "L") && strings.Contains(s.Check, "OK")
}

// rebalanceBusy says what keeps backend from being rebalanced now, or "":
// a drain the agent runs, an operator's intent or a rollout's hold on one
// of its servers, a fleet operation or rebalance, a server in DRAIN (`wsctl
// drain` or `wsctl rollout` at work), or a runtime batch not completed.
func (a *Agent) rebalanceBusy(backend string, byRef map[haproxy.Ref]haproxy.ServerStatus, intents map[haproxy.Ref]intent.Intent) string {
	for ref, d := range a.drains {
		if ref.Backend == backend && !d.done {
			return "the agent drains " + ref.String()
		}
	}
	for ref := range intents {
		if ref.Backend == backend {
			return "an intent holds " + ref.String()
		}
	}
	for ref := range a.changing {
		if ref.Backend == backend {
			return "a runtime batch on " + ref.String() + " is not completed"
		}
	}
	if a.fleet != nil && a.fleet.rebalances[backend] != nil {
		return "a fleet rebalance of " + backend + " is under way"
	}
	for ref, s := range byRef {
		switch {
		case ref.Backend != backend:
		case a.fleetDrives(ref.Backend, ref.Server):
			return "a fleet operation drives " + ref.String()
		case s.Admin == haproxy.Drain:
			return ref.String() + " is in DRAIN"
		}
	}
	return ""
}

// startRebalance runs rebalance.Run on backend in the background; servers
// added from now on call for another rebalance after it.
func (a *Agent) startRebalance(backend string, st *rebalanceState) {
	b := a.specBackend(backend)
	ctx, cancel := context.WithCancel(a.runCtx)
	st.cancel, st.stopping = cancel, false
	clear(st.added)
	o := rebalance.Options{Backend: backend, Cap: int64(b.ServerMaxConn), Rate: b.CloseRate, Poll: a.cfg.DrainPoll}
	a.log.Info("rebalancing after a server was added", "backend", backend, "rate_per_s", o.Rate)
	a.wg.Go(func() {
		defer cancel()
		res, err := rebalance.Run(ctx, rebalance.NewSockets([]rebalance.Socket{{Name: a.rt.Path(), Runtime: a.rt}}), o)
		select {
		case a.rebalanceResults <- rebalanceResult{backend: backend, res: res, err: err}:
		case <-a.runCtx.Done():
		}
	})
}

// rebalanceEnded takes a rebalance's end: it is counted and logged, and a
// donor the agent began to drain meanwhile (its DRAIN found it in MAINT,
// and the rebalance set it READY again) is forgotten, so the next sync
// drains it again from READY.
func (a *Agent) rebalanceEnded(r rebalanceResult) {
	if st := a.rebalances[r.backend]; st != nil {
		st.cancel, st.stopping = nil, false
		if len(st.added) == 0 {
			delete(a.rebalances, r.backend)
		}
	}
	outcome := string(r.res.Outcome)
	switch {
	case errors.Is(r.err, rebalance.ErrNoServer), errors.Is(r.err, rebalance.ErrNothingBelow):
		outcome = "refused"
	case r.err != nil:
		outcome = string(rebalance.Failed)
	}
	a.metrics.Rebalances.Add(1, r.backend, outcome)
	a.metrics.RebalanceMoved.Add(uint64(max(0, r.res.Closed)), r.backend)
	for _, server := range r.res.Restored {
		ref := haproxy.Ref{Backend: r.backend, Server: server}
		if d, ok := a.drains[ref]; ok && !d.closing && !d.done {
			delete(a.drains, ref)
		}
	}
	args := []any{"backend", r.backend, "outcome", outcome, "moved", r.res.Closed, "minimum", r.res.Before.Moves,
		"rounds", r.res.Rounds, "elapsed", r.res.Elapsed.Round(100 * time.Millisecond)}
	switch err := errors.Join(r.err, r.res.Err); {
	case outcome == "refused":
		a.log.Info("rebalance refused", append(args, "reason", err)...)
	case err != nil:
		a.log.Error("rebalance", append(args, "err", fmt.Errorf("rebalance %s: %w", r.backend, err))...)
	default:
		a.log.Info("rebalance ended", args...)
	}
}

// specBackend is the spec's backend name (nil when the spec has none).
func (a *Agent) specBackend(name string) *spec.Backend {
	for i := range a.spec.Backends {
		if a.spec.Backends[i].Name == name {
			return &a.spec.Backends[i]
		}
	}
	return nil
}

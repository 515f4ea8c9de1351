package agent

import (
	"errors"
	"fmt"
	"time"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/model"
	"github.com/wsctl/wsctl/serverstate"
)

// applyOps makes ops in one batch on c (one read-back) and does the agent's bookkeeping for those that took. running
// is what HAProxy ran when the ops were planned. It reports whether every
// op succeeded. whole says the ops are a plan's, made from a listing:
// once they all took, nothing of an earlier unfinished batch is left to
// finish; ahead's are not (Agent.ahead), and leave the rest of that batch
// the agent's.
func (a *Agent) applyOps(c haproxy.Conn, m *model.Model, running map[string][]haproxy.ServerStatus, ops []Op, whole bool) bool {
	if len(ops) == 0 {
		// Nothing left to change: a batch a previous run left unfinished
		// is finished, and its servers are no longer the agent's (an
		// operator's DRAIN on one later must not be undone).
		if whole && len(a.changing) > 0 {
			clear(a.changing)
			a.saveOwn()
		}
		return true
	}
	backends := map[string]model.Backend{}
	for _, b := range m.Backends {
		backends[b.Name] = b
	}
	status := map[haproxy.Ref]haproxy.ServerStatus{}
	for _, servers := range running {
		for _, s := range servers {
			status[s.Ref()] = s
		}
	}
	var changes []haproxy.Change
	owner := make([]int, 0, len(ops)) // op index of each change
	opErr := make([]error, len(ops))
	for i, op := range ops {
		chs, err := a.changes(backends[op.Backend], op, status[haproxy.Ref{Backend: op.Backend, Server: op.Server.Name}])
		if err != nil {
			opErr[i] = err
			continue
		}
		for _, ch := range chs {
			changes = append(changes, ch)
			owner = append(owner, i)
		}
		if len(chs) > 0 {
			a.metrics.RuntimeOps.Add(1, op.Backend, string(op.Kind))
		}
	}
	// What the agent is about to change is its own: a restart in the middle
	// of the batch must finish it, not take it for an operator's doing.
	for _, op := range ops {
		a.changing[haproxy.Ref{Backend: op.Backend, Server: op.Server.Name}] = true
	}
	a.saveOwn()
	for j, err := range c.Apply(changes) {
		if err != nil && opErr[owner[j]] == nil {
			opErr[owner[j]] = err
		}
		if err == nil && !a.changeLive && !a.changedAt.IsZero() {
			a.metrics.Runtime.Observe(time.Since(a.changedAt))
			a.changeLive = true
		}
	}
	ok := true
	for i, op := range ops {
		ref := haproxy.Ref{Backend: op.Backend, Server: op.Server.Name}
		if err := opErr[i]; errors.Is(err, errPostponed) {
			a.log.Info("runtime operation postponed", "op", op.String(), "reason", err)
			ok = false
			continue
		} else if err != nil {
			if errors.Is(err, haproxy.ErrNotAdded) {
				// Nothing was changed: a server of that name is not the
				// agent's to bring to the desired state (an operator's
				// in MAINT must not be readied).
				delete(a.changing, ref)
			}
			a.metrics.RuntimeErrors.Add(1, op.Backend, string(op.Kind))
			a.log.Error("runtime operation", "op", op.String(), "err", err)
			ok = false
			continue
		}
		a.log.Info("runtime operation", "op", op.String())
		switch op.Kind {
		case OpDrain:
			a.startDrain(ref, op.Remove)
		case OpReady:
			a.forgetDrain(ref)
		case OpAdd:
			if listed := a.listed[op.Backend]; listed != nil {
				listed[op.Server.Name] = haproxy.ServerStatus{Backend: op.Backend, Server: op.Server.Name}
			}
			a.rebalanceAdded(op.Backend, op.Server.Name)
		}
	}
	switch {
	case ok && whole:
		clear(a.changing)
	case ok:
		for _, op := range ops {
			delete(a.changing, haproxy.Ref{Backend: op.Backend, Server: op.Server.Name})
		}
	}
	a.saveOwn()
	return ok
}

// changes turns one op into runtime changes; b is the op's backend in the
// model and cur the server as HAProxy ran it when planned.
func (a *Agent) changes(b model.Backend, op Op, cur haproxy.ServerStatus) ([]haproxy.Change, error) {
	s := op.Server
	ref := haproxy.Ref{Backend: op.Backend, Server: s.Name}
	one := func(ch haproxy.Change) []haproxy.Change {
		ch.Backend, ch.Server = op.Backend, s.Name
		return []haproxy.Change{ch}
	}
	switch op.Kind {
	case OpAdd:
		addr, ok := s.Host.IP()
		if !ok {
			return nil, fmt.Errorf("add %s: %s is a host name; HAProxy's runtime API takes IP addresses", ref, s.Host)
		}
		return one(haproxy.Change{
			Kind: haproxy.ChangeAdd, Addr: addr, Port: int(s.Port),
			Options:        serverOptions(b, s),
			DynamicCookies: b.Cookie != nil && b.Cookie.Dynamic,
		}), nil
	case OpSetAddr:
		addr, ok := s.Host.IP()
		if !ok {
			return nil, fmt.Errorf("set addr %s: %s is a host name; HAProxy's runtime API takes IP addresses", ref, s.Host)
		}
		return one(haproxy.Change{Kind: haproxy.ChangeAddr, Addr: addr, Port: int(s.Port)}), nil
	case OpSetWeight:
		return one(haproxy.Change{Kind: haproxy.ChangeWeight, Weight: s.Weight}), nil
	case OpDrain:
		if _, ok := a.drains[ref]; ok || op.Current != haproxy.Ready {
			return nil, nil // already draining, or not taking clients
		}
		return one(haproxy.Change{Kind: haproxy.ChangeState, State: haproxy.Drain}), nil
	case OpHold:
		return one(haproxy.Change{Kind: haproxy.ChangeState, State: op.State}), nil
	case OpReady:
		if d, ok := a.drains[ref]; ok && d.closing {
			// Ready it once the drain package has let go of it.
			d.cancel()
			return nil, errPostponed
		}
		// The same protection as `wsctl ready` (a server back from MAINT
		// is UP only once a fresh check passed), decided from the state
		// and sessions read in the write that readmits it.
		return one(haproxy.Change{Kind: haproxy.ChangeReadmit, ID: cur.ID, Checked: cur.Checked, State: op.Current}), nil
	}
	return nil, fmt.Errorf("unknown operation %q", op.Kind)
}

// serverOptions are the keywords a server added at runtime gets: the
// backend's DefaultServer (the template's default-server line), then the
// server's own weight and cookie, as its rendered line has them.
func serverOptions(b model.Backend, s model.Server) haproxy.ServerOptions {
	o := serverstate.AddOptions(b)
	o.Weight, o.Cookie = s.Weight, s.Cookie
	return o
}

// drainTimeout is the backend's drain_timeout (0 for an unknown backend).
func (a *Agent) drainTimeout(backend string) time.Duration {
	if b := a.specBackend(backend); b != nil {
		return b.DrainTimeout.D()
	}
	return 0
}

// closeRate is the backend's close_rate.
func (a *Agent) closeRate(backend string) float64 {
	if b := a.specBackend(backend); b != nil {
		return b.CloseRate
	}
	return 0
}

// runtimeCan reports whether HAProxy's runtime API can make op: it takes IP
// addresses only, and HAProxy before 3.0 refuses `cookie` on `add server`.
func (a *Agent) runtimeCan(op Op) bool {
	switch op.Kind {
	case OpAdd:
		if op.Server.Cookie != "" && !a.rt.Info().AtLeast(haproxy.CookieFrom[0], haproxy.CookieFrom[1]) {
			return false
		}
		fallthrough
	case OpSetAddr:
		_, isIP := op.Server.Host.IP()
		return isIP
	}
	return true
}

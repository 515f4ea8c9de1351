package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wsctl/wsctl/model"
	"github.com/wsctl/wsctl/runtime"
)

// apply runs one planned operation; b is the op's backend in the model.
func (a *Agent) apply(ctx context.Context, b model.Backend, op Op) error {
	s := op.Server
	ref := runtime.Ref{Backend: op.Backend, Server: s.Name}
	a.metrics.RuntimeOps.Add(1)
	switch op.Kind {
	case OpAdd:
		addr, ok := s.Host.IP()
		if !ok {
			return fmt.Errorf("add %s: %s is a host name; HAProxy's runtime API takes IP addresses", ref, s.Host)
		}
		o := runtime.ServerOptions{
			Check: true, Inter: b.Health.Interval, Fall: b.Health.Fall, Rise: b.Health.Rise,
			Weight: s.Weight, Cookie: s.Cookie, Slowstart: b.Slowstart, MaxConn: b.ServerMaxConn,
		}
		if err := a.rt.AddServer(ctx, op.Backend, s.Name, addr, int(s.Port), o); err != nil {
			return err
		}
		if b.Cookie != nil && b.Cookie.Dynamic {
			if err := a.rt.EnableDynamicCookies(ctx, op.Backend); err != nil {
				return err
			}
		}
		if err := a.rt.EnableHealth(ctx, op.Backend, s.Name); err != nil {
			return err
		}
		return a.rt.SetState(ctx, op.Backend, s.Name, runtime.Ready)
	case OpSetAddr:
		addr, ok := s.Host.IP()
		if !ok {
			return fmt.Errorf("set addr %s: %s is a host name; HAProxy's runtime API takes IP addresses", ref, s.Host)
		}
		return a.rt.SetAddr(ctx, op.Backend, s.Name, addr, int(s.Port))
	case OpSetWeight:
		return a.rt.SetWeight(ctx, op.Backend, s.Name, s.Weight)
	case OpDrain:
		if d, ok := a.drains[ref]; ok {
			d.remove = d.remove || op.Remove
			if d.remove {
				d.done = false // finish it: delete the server
			}
			return nil
		}
		if op.Current == runtime.Ready {
			if err := a.rt.SetState(ctx, op.Backend, s.Name, runtime.Drain); err != nil {
				return err
			}
		}
		a.drains[ref] = &drainState{started: time.Now(), remove: op.Remove}
		return nil
	case OpHold:
		return a.rt.SetState(ctx, op.Backend, s.Name, op.State)
	case OpReady:
		if err := a.rt.SetState(ctx, op.Backend, s.Name, runtime.Ready); err != nil {
			return err
		}
		delete(a.drains, ref)
		return nil
	}
	return fmt.Errorf("unknown operation %q", op.Kind)
}

// progressDrains finishes the drains whose sessions are gone or whose
// backend's drain_timeout passed: MAINT (so sticky clients go elsewhere),
// close what is left, and delete the servers that left discovery.
func (a *Agent) progressDrains(ctx context.Context) {
	for ref, d := range a.drains {
		if d.done {
			continue
		}
		st, err := a.rt.Server(ctx, ref.Backend, ref.Server)
		if errors.Is(err, runtime.ErrUnknownServer) {
			delete(a.drains, ref)
			continue
		}
		if err != nil {
			a.metrics.RuntimeErrors.Add(1)
			a.log.Error("count sessions", "server", ref.String(), "err", err)
			continue
		}
		if st.Scur > 0 && time.Since(d.started) < a.drainTimeout(ref.Backend) {
			continue
		}
		if err := a.finishDrain(ctx, ref, st, d.remove); err != nil {
			a.metrics.RuntimeErrors.Add(1)
			a.log.Error("finish drain", "server", ref.String(), "err", err)
			continue
		}
		if d.remove {
			delete(a.drains, ref)
			a.log.Info("server removed", "server", ref.String(), "closed", st.Scur)
		} else {
			d.done = true
			a.log.Info("server drained", "server", ref.String(), "closed", st.Scur)
		}
	}
}

func (a *Agent) finishDrain(ctx context.Context, ref runtime.Ref, st runtime.ServerStatus, remove bool) error {
	if st.Admin != runtime.Maint {
		a.metrics.RuntimeOps.Add(1)
		if err := a.rt.SetState(ctx, ref.Backend, ref.Server, runtime.Maint); err != nil {
			return err
		}
	}
	if st.Scur > 0 || remove {
		// del server refuses while any connection remains, even one that
		// arrived between the count and the maint.
		a.metrics.RuntimeOps.Add(1)
		if err := a.rt.ShutdownSessions(ctx, ref.Backend, ref.Server); err != nil {
			return err
		}
	}
	if !remove {
		return nil
	}
	a.metrics.RuntimeOps.Add(1)
	return a.rt.DeleteServer(ctx, ref.Backend, ref.Server)
}

func (a *Agent) drainTimeout(backend string) time.Duration {
	for _, b := range a.spec.Backends {
		if b.Name == backend {
			return b.DrainTimeout.D()
		}
	}
	return 0
}

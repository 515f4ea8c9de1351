package target

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/wsctl/wsctl/drain"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/intent"
	"github.com/wsctl/wsctl/paced"
	"github.com/wsctl/wsctl/rebalance"
)

// Runtime is what a Local target needs from one HAProxy admin socket.
type Runtime interface {
	drain.Runtime
	// Readmit, and the sessions by age a rebalance after a rollout moves.
	rebalance.Runtime
	// Find finds "server" or "backend/server"; a bare name must be unique.
	Find(ctx context.Context, ref haproxy.Ref) (haproxy.ServerStatus, error)
}

var _ Runtime = (*haproxy.Client)(nil)

// Socket is one HAProxy process's admin socket.
type Socket struct {
	// Name identifies the socket in reports (its path).
	Name    string
	Runtime Runtime
	// Err, when set, is why the socket could not be dialled (Runtime is
	// nil): Read and Status list it as a place that failed, so the others
	// still show, and every change is refused (each finds the server on
	// every socket first).
	Err error
}

// DefaultPoll is how often Admit reads health while waiting, when Local
// leaves Poll zero.
const DefaultPoll = 250 * time.Millisecond

// Local acts on the admin sockets of this host: every change applies to
// every socket, and is refused unless every socket answers.
type Local struct {
	Sockets []Socket
	// Intents, when not nil, keeps the operator's DRAIN or MAINT where an
	// agent sees it, so it never readmits the server.
	Intents intent.Store
	// Reason goes into the intents ("" for none).
	Reason string
	// Poll is how often Admit reads health; 0 means DefaultPoll.
	Poll time.Duration
}

var _ Target = (*Local)(nil)

// Where lists the sockets.
func (l *Local) Where() string {
	names := make([]string, len(l.Sockets))
	for i, s := range l.Sockets {
		names[i] = s.Name
	}
	return strings.Join(names, ", ")
}

// each runs f on every socket (and its index) concurrently and returns the results in the
// sockets' order, with the errors joined.
func each[T any](ctx context.Context, sockets []Socket, f func(context.Context, int, Socket) (T, error)) ([]T, error) {
	out := make([]T, len(sockets))
	errs := make([]error, len(sockets))
	var wg sync.WaitGroup
	for i, s := range sockets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], errs[i] = f(ctx, i, s)
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// Read lists backend's servers on every socket.
func (l *Local) Read(ctx context.Context, backend string) ([]Listing, error) {
	out, _ := each(ctx, l.Sockets, func(ctx context.Context, i int, s Socket) (Listing, error) {
		if s.Err != nil {
			return Listing{Place: s.Name, Err: s.Err}, nil
		}
		all, err := s.Runtime.Servers(ctx, backend)
		return Listing{Place: s.Name, Servers: all, Err: err}, nil
	})
	var errs []error
	for _, li := range out {
		errs = append(errs, li.Err)
	}
	return out, errors.Join(errs...)
}

// Status is Read's listings.
func (l *Local) Status(ctx context.Context, backend string) (Status, error) {
	li, err := l.Read(ctx, backend)
	return Status{Listings: li}, err
}

// find finds ref on every socket: an unknown or ambiguous name on any is an
// error, and so is a socket that could not be dialled.
func (l *Local) find(ctx context.Context, ref haproxy.Ref) ([]haproxy.ServerStatus, error) {
	return each(ctx, l.Sockets, func(ctx context.Context, i int, s Socket) (haproxy.ServerStatus, error) {
		if s.Err != nil {
			return haproxy.ServerStatus{}, s.Err
		}
		return s.Runtime.Find(ctx, ref)
	})
}

// targets are the server found on every socket, as drain targets.
func (l *Local) targets(found []haproxy.ServerStatus) []drain.Target {
	out := make([]drain.Target, len(found))
	for i, f := range found {
		out[i] = drain.Target{Socket: l.Sockets[i].Name, Runtime: l.Sockets[i].Runtime, Backend: f.Backend, Server: f.Server}
	}
	return out
}

// record keeps state for ref (or, with "", forgets it) when there is an
// intent store. It runs even after ctx ended: the record must follow what
// the servers were left in.
func (l *Local) record(ctx context.Context, ref haproxy.Ref, state haproxy.AdminState) error {
	if l.Intents == nil {
		return nil
	}
	ctx = context.WithoutCancel(ctx)
	var err error
	if state == "" {
		err = l.Intents.Delete(ctx, ref)
	} else {
		err = l.Intents.Put(ctx, intent.Intent{Backend: ref.Backend, Server: ref.Server, State: state, Since: time.Now().UTC(), Reason: l.Reason})
	}
	if err != nil {
		return fmt.Errorf("record the intent for %s in %s: %w", ref, l.Intents.Where(), err)
	}
	return nil
}

// check finds c.Ref and refuses what the change would refuse; it changes
// nothing.
func (l *Local) check(ctx context.Context, c Change) ([]haproxy.ServerStatus, error) {
	found, err := l.find(ctx, c.Ref)
	if err != nil {
		return nil, err
	}
	switch {
	case c.Kind == KindDrain && !c.Drain.Force, c.Kind == KindHold && c.State == haproxy.Maint && !c.Force:
		// drain.Run checks this too, but a refusal must come before
		// the intent is recorded.
		if err := drain.CheckNotLast(ctx, l.targets(found)); err != nil {
			return nil, err
		}
	}
	if c.Kind == KindHold && c.State == haproxy.Maint && !c.Force {
		if se := sessions(found, l.Sockets); se.Total > 0 {
			return nil, se
		}
	}
	return found, nil
}

// sessions counts the sessions of the server found on each socket.
func sessions(found []haproxy.ServerStatus, sockets []Socket) *SessionsError {
	se := &SessionsError{}
	for i, f := range found {
		se.Ref = f.Ref()
		if f.Scur > 0 {
			se.Total += f.Scur
			se.Live = append(se.Live, fmt.Sprintf("%d on %s", f.Scur, sockets[i].Name))
		}
	}
	return se
}

// Plan says what the change would do on every socket.
func (l *Local) Plan(ctx context.Context, c Change) ([]string, error) {
	found, err := l.check(ctx, c)
	if err != nil {
		return nil, err
	}
	var lines []string
	for i, f := range found {
		lines = append(lines, fmt.Sprintf("%s: %s is %s %s with %d sessions", l.Sockets[i].Name, f.Ref(), f.Admin, f.State, f.Scur))
	}
	ref := found[0].Ref()
	switch c.Kind {
	case KindHold:
		lines = append(lines, fmt.Sprintf("would set %s to %s on %s", ref, c.State, l.Where()))
		if se := sessions(found, l.Sockets); c.State == haproxy.Maint && se.Total > 0 {
			lines = append(lines, fmt.Sprintf("would leave its %d sessions open (MAINT does not close them)", se.Total))
		}
	case KindDrain:
		lines = append(lines, drainPlan(ref, c.Drain)...)
	case KindAdmit:
		lines = append(lines, fmt.Sprintf("would set %s to READY with a fresh health check on %s", ref, l.Where()))
		if c.Wait > 0 {
			lines = append(lines, fmt.Sprintf("would wait up to %s for it to be healthy everywhere", c.Wait))
		}
	}
	if l.Intents != nil {
		state := map[Kind]string{KindHold: string(c.State), KindDrain: "DRAIN, then MAINT", KindAdmit: "none"}[c.Kind]
		lines = append(lines, fmt.Sprintf("would record the intent %s for %s in %s", state, ref, l.Intents.Where()))
	}
	return lines, nil
}

// drainPlan says what a drain with o does.
func drainPlan(ref haproxy.Ref, o drain.Options) []string {
	wait := "until its sessions reach 0"
	if o.Timeout > 0 {
		wait = fmt.Sprintf("up to %s for its sessions to reach 0", o.Timeout)
	}
	lines := []string{fmt.Sprintf("would set %s to DRAIN and wait %s", ref, wait)}
	switch {
	case o.Close == nil:
	case o.Close.Rate == 0:
		lines = append(lines, fmt.Sprintf("after %s would set MAINT and close the sessions left at once", o.Close.After))
	default:
		lines = append(lines, fmt.Sprintf("after %s would set MAINT and close the sessions left at %g per second", o.Close.After, o.Close.Rate))
	}
	return append(lines, "would leave it in MAINT once no session is left")
}

// Hold sets ref to state on every socket and records the intent.
func (l *Local) Hold(ctx context.Context, ref haproxy.Ref, state haproxy.AdminState, force bool) (Result, error) {
	start := time.Now()
	found, err := l.check(ctx, Change{Kind: KindHold, Ref: ref, State: state, Force: force})
	if err != nil {
		return Result{}, err
	}
	ref = found[0].Ref()
	if err := l.record(ctx, ref, state); err != nil {
		return Result{}, err
	}
	// A session may arrive between the count and the change; MAINT does
	// not cut it, so the worst case is one session the next step ends.
	_, err = each(ctx, l.Sockets, func(ctx context.Context, i int, s Socket) (struct{}, error) {
		f := found[i]
		if state == haproxy.Drain && f.Admin != haproxy.Ready {
			return struct{}{}, nil // out already: a hold keeps it so
		}
		return struct{}{}, s.Runtime.SetState(ctx, f.Backend, f.Server, state)
	})
	if err != nil {
		return Result{}, err
	}
	return Result{Ref: ref, Outcome: Done, Elapsed: time.Since(start), Places: len(l.Sockets), Sessions: sessions(found, l.Sockets).Total}, nil
}

// Drain drains ref on every socket at once (package drain).
func (l *Local) Drain(ctx context.Context, ref haproxy.Ref, o drain.Options) (Result, error) {
	found, err := l.check(ctx, Change{Kind: KindDrain, Ref: ref, Drain: o})
	if err != nil {
		return Result{}, err
	}
	ref = found[0].Ref()
	if err := l.record(ctx, ref, haproxy.Drain); err != nil {
		return Result{}, err
	}
	res, err := drain.Run(ctx, l.targets(found), o)
	if err != nil {
		return Result{}, err
	}
	for _, r := range res.Reports {
		if r.Admin == haproxy.Maint {
			if err := l.record(ctx, ref, haproxy.Maint); err != nil {
				return Result{}, err
			}
			break
		}
	}
	out := Result{Ref: ref, Outcome: res.Outcome(), Err: res.Err(), Elapsed: res.Elapsed, Places: len(l.Sockets), Drain: res}
	if res.Done() {
		out.Outcome = Done
	}
	return out, nil
}

// Admit readmits ref on every socket, forgets its intent and, with wait,
// waits on ctx until it is healthy on every socket.
func (l *Local) Admit(ctx context.Context, ref haproxy.Ref, wait time.Duration) (Result, error) {
	start := time.Now()
	found, err := l.find(ctx, ref)
	if err != nil {
		return Result{}, err
	}
	ref = found[0].Ref()
	if err := l.record(ctx, ref, ""); err != nil {
		return Result{}, err
	}
	_, err = each(ctx, l.Sockets, func(ctx context.Context, i int, s Socket) (struct{}, error) {
		f := found[i]
		return struct{}{}, s.Runtime.Readmit(ctx, f.Backend, f.Server)
	})
	if err != nil {
		return Result{}, err
	}
	res := Result{Ref: ref, Outcome: Done, Places: len(l.Sockets)}
	if wait > 0 {
		if res.Sick, err = l.waitHealthy(ctx, found, wait); err != nil {
			return Result{}, err
		}
		if len(res.Sick) > 0 {
			res.Outcome = paced.TimedOut
			res.Err = fmt.Errorf("%s is not healthy after %s: %s", ref, wait, strings.Join(res.Sick, "; "))
		}
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// waitHealthy reads every socket until the server found is healthy on all
// of them or wait is over, and says where it is not.
func (l *Local) waitHealthy(ctx context.Context, found []haproxy.ServerStatus, wait time.Duration) ([]string, error) {
	poll := l.Poll
	if poll <= 0 {
		poll = DefaultPoll
	}
	deadline := time.Now().Add(wait)
	for {
		states, err := each(ctx, l.Sockets, func(ctx context.Context, i int, s Socket) (haproxy.ServerStatus, error) {
			f := found[i]
			return s.Runtime.Server(ctx, f.Backend, f.Server)
		})
		if err != nil {
			return nil, err
		}
		var sick []string
		for i, s := range states {
			if !s.Healthy() {
				check := s.Check
				if check == "" {
					check = "no check"
				}
				sick = append(sick, fmt.Sprintf("%s: %s %s, check %s", l.Sockets[i].Name, s.State, s.Admin, check))
			}
		}
		left := time.Until(deadline)
		if len(sick) == 0 || left <= 0 {
			return sick, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(min(poll, left)):
		}
	}
}

// Rebalance rebalances o.Backend on every socket.
func (l *Local) Rebalance(ctx context.Context, o rebalance.Options) (rebalance.Result, error) {
	sockets := make([]rebalance.Socket, len(l.Sockets))
	for i, s := range l.Sockets {
		sockets[i] = rebalance.Socket{Name: s.Name, Runtime: s.Runtime}
	}
	return rebalance.Run(ctx, rebalance.NewSockets(sockets), o)
}

package drain

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/internal/pace"
)

// drainer drains one target.
type drainer struct {
	t        Target
	opts     Options
	pace     pace.Slots // nil unless closing at a rate
	progress func(Progress)
	start    time.Time

	rep        Report
	pid        int64 // the HAProxy process the drain started on
	phase      Phase
	pending    []haproxy.SessionID // listed, not yet closed
	pollErrors int
	// closeErrors counts the closes in a row HAProxy did not answer.
	closeErrors int
	// closer, while closing at a rate through a haproxy.Client, carries
	// the listing, the closes and the counts on one connection.
	closer *haproxy.Closer
}

func (d *drainer) run(ctx context.Context) Report {
	d.rep = Report{Target: d.t.Socket, Backend: d.t.Backend, Server: d.t.Server}
	d.phase = Waiting
	d.rep.Outcome, d.rep.Err = d.drain(ctx)
	d.dropCloser()
	if d.rep.Err != nil && errors.Is(d.rep.Err, ctx.Err()) {
		d.rep.Outcome = Canceled
	}
	d.rep.Elapsed = time.Since(d.start)
	return d.rep
}

// drain runs the sequence the package documents and says how it ended.
func (d *drainer) drain(ctx context.Context) (Outcome, error) {
	rt, b, s := d.t.Runtime, d.t.Backend, d.t.Server
	pid, err := rt.Pid(ctx)
	if err != nil {
		return Failed, err
	}
	d.pid = pid
	st, err := rt.Server(ctx, b, s)
	if err != nil {
		return Failed, err
	}
	d.rep.Before, d.rep.Left, d.rep.Admin = st.Scur, st.Scur, st.Admin
	// A server already in MAINT stays there: DRAIN would let its sticky
	// clients back in.
	if st.Admin != haproxy.Maint {
		if err := d.set(ctx, haproxy.Drain); err != nil {
			return Failed, err
		}
	}
	var closeAt, deadline time.Time
	if d.opts.Close != nil {
		closeAt = d.start.Add(d.opts.Close.After)
	}
	if d.opts.Timeout > 0 {
		deadline = d.start.Add(d.opts.Timeout)
	}
	for {
		if err := d.count(ctx); err != nil {
			return Failed, err
		}
		if d.rep.Left == 0 {
			if d.rep.Admin != haproxy.Maint {
				if err := d.set(ctx, haproxy.Maint); err != nil {
					return Failed, err
				}
			}
			return Drained, nil
		}
		now := time.Now()
		if !deadline.IsZero() && !now.Before(deadline) {
			return TimedOut, nil
		}
		if d.phase == Waiting && !closeAt.IsZero() && !now.Before(closeAt) {
			if err := d.startClosing(ctx); err != nil {
				return Failed, err
			}
		}
		d.report()

		next := now.Add(d.opts.Poll)
		if d.phase == Waiting && !closeAt.IsZero() && closeAt.Before(next) {
			next = closeAt
		}
		if !deadline.IsZero() && deadline.Before(next) {
			next = deadline
		}
		if d.phase == Closing && d.pace != nil {
			if err := d.closeUntil(ctx, next); err != nil {
				return Failed, err
			}
		}
		if !pace.SleepUntil(ctx, next) {
			return Canceled, ctx.Err()
		}
	}
}

// count reads the session count; a few failed reads in a row are
// tolerated, since a busy HAProxy may miss one. It then asks which process
// answered: while that is the one the drain started on, the count came from
// it too (a reload never hands the socket back to an old worker), and a
// change ends the drain with ErrReloaded.
func (d *drainer) count(ctx context.Context) error {
	st, err := d.server(ctx)
	var pid int64
	if err == nil {
		pid, err = d.t.Runtime.Pid(ctx)
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		d.pollErrors++
		if d.pollErrors >= maxPollErrors {
			return fmt.Errorf("count sessions (%d attempts): %w", d.pollErrors, err)
		}
		return nil
	}
	d.pollErrors = 0
	if pid != d.pid {
		// Left and Admin stay as the old worker last showed them.
		return d.reloaded(pid)
	}
	d.rep.Left, d.rep.Admin = st.Scur, st.Admin
	return nil
}

// server reads the server's state: on the closer's connection while there
// is one (it stays with the process the drain started on, which the pid
// asked at every count confirms), so that a count opens no connection of
// its own.
func (d *drainer) server(ctx context.Context) (haproxy.ServerStatus, error) {
	if d.closer == nil {
		return d.t.Runtime.Server(ctx, d.t.Backend, d.t.Server)
	}
	st, err := d.closer.Server()
	if err != nil {
		d.dropCloser() // out of step; the next close opens another
	}
	return st, err
}

// reloaded is the error that ends the drain when the socket reaches
// process pid instead of the one the drain started on.
func (d *drainer) reloaded(pid int64) error {
	// An old worker refuses `shutdown sessions server` (its proxies are
	// stopped) but still closes sessions one by one.
	return fmt.Errorf("drain: %s: %w (worker %d → %d): the old worker keeps the sessions of %s/%s, which this socket no longer shows, "+
		"and the new one knows nothing of the drain; drain again to take the server out of the new worker; "+
		"the old worker's sessions end with it, or close them one by one through the master CLI "+
		"(`@!%d show sess`, then `@!%d shutdown session ID` for each with be=%s srv=%s)",
		d.t.Socket, ErrReloaded, d.pid, pid, d.t.Backend, d.t.Server, d.pid, d.pid, d.t.Backend, d.t.Server)
}

func (d *drainer) dropCloser() {
	if d.closer != nil {
		d.closer.Close()
		d.closer = nil
	}
}

// startClosing switches the server to MAINT, then starts closing: all at
// once when the rate is zero, otherwise by listing the sessions to close.
func (d *drainer) startClosing(ctx context.Context) error {
	d.phase = Closing
	if d.rep.Admin != haproxy.Maint {
		if err := d.set(ctx, haproxy.Maint); err != nil {
			return err
		}
	}
	if d.pace != nil {
		return nil
	}
	if err := d.t.Runtime.ShutdownSessions(ctx, d.t.Backend, d.t.Server); err != nil {
		return err
	}
	d.rep.Closed += int(d.rep.Left)
	return nil
}

// closerOpener is what a Runtime may offer to close many sessions over
// one connection, a batch per two round trips (haproxy.Client does).
type closerOpener interface {
	OpenCloser(ctx context.Context, backend, server string) (*haproxy.Closer, error)
}

var _ closerOpener = (*haproxy.Client)(nil)

// closeUntil closes listed sessions, one per slot of the shared pacer,
// until the next slot would come after limit. It lists the sessions again
// when the list runs out, at most once per call.
func (d *drainer) closeUntil(ctx context.Context, limit time.Time) error {
	list, shutdown, err := d.closers(ctx)
	if err != nil {
		return err
	}
	listed := false
	for {
		if len(d.pending) == 0 {
			if listed {
				return nil
			}
			ids, err := list()
			if err != nil && d.busy(ctx, err) {
				return nil
			}
			if err != nil || len(ids) == 0 {
				return err
			}
			d.pending, listed = ids, true
		}
		slot, ok := d.pace.Reserve(time.Now(), limit)
		if !ok || !pace.SleepUntil(ctx, slot) {
			return ctx.Err()
		}
		// One session, and one more for each slot that came while the
		// previous batch was being closed (the pacer keeps them for
		// pace.Late), so a slow HAProxy costs round trips, not slots.
		n := 1
		for now := time.Now(); n < len(d.pending); n++ {
			if _, ok := d.pace.Reserve(now, now); !ok {
				break
			}
		}
		batch := d.pending[:n:n]
		d.pending = d.pending[n:]
		closed, err := shutdown(batch)
		d.rep.Closed += closed
		if err != nil {
			if !d.busy(ctx, err) {
				return err
			}
			// Which of the batch HAProxy closed is unknown: it goes
			// back to the list, each id checked again before any close.
			d.pending = append(batch, d.pending...)
			return nil
		}
		d.closeErrors = 0
	}
}

// busy tells a close HAProxy did not answer in time (a busy host: 20 load
// balancers of 5,000 WebSockets on 2 cores missed the 5 s limit) from one
// that failed: up to maxPollErrors in a row the drain carries on at the
// next poll, on a new connection (the old one is out of step), as a count
// does; what was not answered is checked again, so nothing is closed twice
// or closed without a check.
func (d *drainer) busy(ctx context.Context, err error) bool {
	if ctx.Err() != nil || !errors.Is(err, haproxy.ErrTimeout) {
		return false
	}
	d.dropCloser()
	d.closeErrors++
	return d.closeErrors < maxPollErrors
}

// closers returns how closeUntil lists and closes sessions: on the
// target's Closer, opened on first use and kept until the drain ends, when
// the Runtime has one; otherwise a call per session.
func (d *drainer) closers(ctx context.Context) (func() ([]haproxy.SessionID, error), func([]haproxy.SessionID) (int, error), error) {
	rt, b, s := d.t.Runtime, d.t.Backend, d.t.Server
	if op, ok := rt.(closerOpener); ok {
		if d.closer == nil {
			k, err := op.OpenCloser(ctx, b, s)
			if err != nil {
				return nil, nil, err
			}
			if k.Pid() != d.pid {
				k.Close()
				return nil, nil, d.reloaded(k.Pid())
			}
			d.closer = k
		}
		return d.closer.Sessions, d.closer.Shutdown, nil
	}
	list := func() ([]haproxy.SessionID, error) { return rt.Sessions(ctx, b, s) }
	shutdown := func(ids []haproxy.SessionID) (int, error) {
		return haproxy.CloseEach(ids, func(id haproxy.SessionID) error { return rt.ShutdownSession(ctx, b, s, id) })
	}
	return list, shutdown, nil
}

func (d *drainer) set(ctx context.Context, state haproxy.AdminState) error {
	if err := d.t.Runtime.SetState(ctx, d.t.Backend, d.t.Server, state); err != nil {
		return err
	}
	d.rep.Admin = state
	return nil
}

func (d *drainer) report() {
	d.progress(Progress{
		Target: d.t.Socket, Backend: d.t.Backend, Server: d.t.Server,
		Phase: d.phase, Left: d.rep.Left, Closed: d.rep.Closed,
		Elapsed: time.Since(d.start),
	})
}

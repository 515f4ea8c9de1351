// Package pace hands out evenly spaced slots for actions that must not
// happen all at once: sessions closed by a drain or a hand-over, so the
// clients they cut reconnect spread over time.
package pace

import (
	"context"
	"sync"
	"time"
)

// Late is how late a slot may still be handed out. A caller that overran
// its slot (a busy HAProxy answered slowly, a timer fired late) still gets
// the slots it missed by less than Late, due at once, and can act on them
// together; older ones are gone. Without it, every close that took longer
// than the interval between slots lost the next slot: one load balancer
// asked to close 1,000 a second closed about 650 (issue 19). It bounds a
// burst after a pause to Late's worth of slots: rate × Late, 10 at 1,000 a
// second, against the 20 % over rate/10 a 100 ms window may hold.
const Late = 10 * time.Millisecond

// lateAt is how late a slot may be handed out at rate: Late only where the
// 20 % margin of a 100 ms window (rate/50 closes) holds at least five
// closes, from 250 a second. Below that a close costs far less than the
// interval between slots, so nothing needs catching up, and one saved slot
// next to a due one would spend the whole margin by itself: at 50 a second
// a window may hold 6 closes, and drains closed 7 in one (rollout tests on
// HAProxy 3.0).
func lateAt(rate float64) time.Duration {
	if rate/50 < 5 {
		return 0
	}
	return Late
}

// Pacer hands out evenly spaced slots, one per session to close, shared by
// every caller that must hold one rate together (every socket of a drain,
// every old worker of a hand-over). It saves up unused slots for lateAt
// its rate at most: after a pause the next slot is now, not a burst. It is safe for
// concurrent use.
type Pacer struct {
	mu   sync.Mutex
	rate float64
	// last is the latest slot handed out; the next one is an interval
	// later.
	last time.Time
}

// New returns a Pacer for rate slots per second (rate > 0).
func New(rate float64) *Pacer { return &Pacer{rate: rate} }

// Slots is what hands out the moments to act: a Pacer alone, or a
// Scheduled part of a schedule many processes share.
type Slots interface {
	// Reserve takes the next slot if it comes no later than limit.
	Reserve(now, limit time.Time) (time.Time, bool)
}

var (
	_ Slots = (*Pacer)(nil)
	_ Slots = (*Scheduled)(nil)
)

// Reserve takes the next free slot if it starts no later than limit; it
// may be up to lateAt(rate) before now.
func (p *Pacer) Reserve(now, limit time.Time) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := now
	if !p.last.IsZero() {
		if next := p.last.Add(time.Duration(float64(time.Second) / p.rate)); next.After(now.Add(-lateAt(p.rate))) {
			t = next
		}
	}
	if t.After(limit) {
		return time.Time{}, false
	}
	p.last = t
	return t, true
}

// SleepUntil waits until t or until ctx ends, and reports whether t came.
func SleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

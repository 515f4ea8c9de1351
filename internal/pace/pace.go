// Package pace hands out evenly spaced slots for actions that must not
// happen all at once: sessions closed by a drain or a hand-over, so the
// clients they cut reconnect spread over time.
package pace

import (
	"context"
	"sync"
	"time"
)

// Pacer hands out evenly spaced slots, one per session to close, shared by
// every caller that must hold one rate together (every socket of a drain,
// every old worker of a hand-over). It never saves up unused slots: after a
// pause the next slot is now, not a burst. It is safe for concurrent use.
type Pacer struct {
	mu   sync.Mutex
	rate float64
	// share, when set, gives the rate in force at each slot, bounded by
	// floor and rate (a fleet drain's share of a fleet-wide rate).
	share func() float64
	floor float64
	// last is the latest slot handed out; the next one is an interval
	// later, at the rate in force when it is asked for.
	last time.Time
}

// New returns a Pacer for rate slots per second (rate > 0).
func New(rate float64) *Pacer { return &Pacer{rate: rate} }

// NewShared returns a Pacer whose rate is share's at each slot, bounded by
// floor and rate (0 < floor ≤ rate).
func NewShared(rate, floor float64, share func() float64) *Pacer {
	return &Pacer{rate: rate, share: share, floor: floor}
}

// interval is the time between two slots at the rate in force.
func (p *Pacer) interval() time.Duration {
	r := p.rate
	if p.share != nil {
		r = min(max(p.share(), p.floor), p.rate)
	}
	return time.Duration(float64(time.Second) / r)
}

// Reserve takes the next free slot if it starts no later than limit.
func (p *Pacer) Reserve(now, limit time.Time) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := now
	if !p.last.IsZero() {
		if next := p.last.Add(p.interval()); next.After(t) {
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

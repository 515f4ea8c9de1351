package drain

import (
	"context"
	"sync"
	"time"
)

// pacer hands out evenly spaced slots, one per session to close, shared by
// every socket of a drain so the rate holds for the whole fleet. It never
// saves up unused slots: after a pause the next slot is now, not a burst.
type pacer struct {
	mu   sync.Mutex
	rate float64
	// share, when set, gives the rate in force at each slot (see
	// Close.Share).
	share func() float64
	// last is the latest slot handed out; the next one is an interval
	// later, at the rate in force when it is asked for.
	last time.Time
}

// newPacer returns a pacer for rate slots per second (rate > 0), or for
// share's rate, bounded by MinRate and rate, when share is not nil.
func newPacer(rate float64, share func() float64) *pacer {
	return &pacer{rate: rate, share: share}
}

// interval is the time between two slots at the rate in force.
func (p *pacer) interval() time.Duration {
	r := p.rate
	if p.share != nil {
		r = min(max(p.share(), MinRate), p.rate)
	}
	return time.Duration(float64(time.Second) / r)
}

// reserve takes the next free slot if it starts no later than limit.
func (p *pacer) reserve(now, limit time.Time) (time.Time, bool) {
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

// sleepUntil waits until t or until ctx ends, and reports whether t came.
func sleepUntil(ctx context.Context, t time.Time) bool {
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

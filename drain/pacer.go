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
	mu       sync.Mutex
	interval time.Duration
	next     time.Time
}

// newPacer returns a pacer for rate slots per second (rate > 0).
func newPacer(rate float64) *pacer {
	return &pacer{interval: time.Duration(float64(time.Second) / rate)}
}

// reserve takes the next free slot if it starts no later than limit.
func (p *pacer) reserve(now, limit time.Time) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.next
	if t.Before(now) {
		t = now
	}
	if t.After(limit) {
		return time.Time{}, false
	}
	p.next = t.Add(p.interval)
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

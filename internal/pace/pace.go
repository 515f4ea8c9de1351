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
	mu       sync.Mutex
	interval time.Duration
	next     time.Time
}

// New returns a Pacer for rate slots per second (rate > 0).
func New(rate float64) *Pacer {
	return &Pacer{interval: time.Duration(float64(time.Second) / rate)}
}

// Reserve takes the next free slot if it starts no later than limit.
func (p *Pacer) Reserve(now, limit time.Time) (time.Time, bool) {
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

package pace

import (
	"math"
	"sync"
	"time"
)

// Schedule is one fleet-wide sequence of slots that many processes share
// without talking to each other: slot i comes at Start + i/Rate, and each
// slot belongs to exactly one part of [0, 1). A process that owns the part
// [lo, hi) takes only the slots that fall in it, so however many processes
// there are and however their own clocks tick, no more than Rate slots a
// second are taken in all, as long as their parts do not overlap.
//
// Independent pacers, one per process at its share of the rate, each
// start their slots at their own moment: n of them can land in one
// window together, and the sum overshoots by up to one slot per process
// per window (66 closes in 100 ms where 50 were allowed, with 20 load
// balancers). The schedule's slots are the same for everyone.
//
// Slot i belongs to the part holding frac(i·φ), φ the golden ratio's
// fractional part: the points of this sequence spread over [0, 1) as
// evenly as such a sequence can (any run of them leaves at most three
// sizes of gap), so a part of size f gets close to a fraction f of any run
// of slots, spread through it, and a share that changes moves ownership of
// only the slots near the parts' edges.
type Schedule struct {
	Start time.Time
	Rate  float64 // slots per second, > 0
}

// phi is the golden ratio's fractional part, (√5 − 1)/2.
var phi = (math.Sqrt(5) - 1) / 2

// point is where slot i falls in [0, 1).
func point(i int64) float64 {
	_, f := math.Modf(float64(i) * phi)
	return f
}

// maxScan bounds the slots Next looks at: a part of size 1e-4 owns a slot
// in every ~10^4, and a smaller one is not worth the work.
const maxScan = 1 << 16

// Next returns the first slot at or after from, and no later than limit,
// that the part [lo, hi) owns, with its index; false when there is none
// within limit (or within maxScan slots).
func (s Schedule) Next(from, limit time.Time, lo, hi float64) (time.Time, int64, bool) {
	return s.next(s.index(from), limit, lo, hi)
}

// index is the first slot at or after t.
func (s Schedule) index(t time.Time) int64 {
	if !t.After(s.Start) {
		return 0
	}
	// Less a nanosecond's worth of slots: t is often a slot's own time,
	// which float arithmetic puts a hair past its index.
	return int64(math.Ceil(t.Sub(s.Start).Seconds()*s.Rate - 1e-9*s.Rate))
}

// next is Next from slot i on.
func (s Schedule) next(i int64, limit time.Time, lo, hi float64) (time.Time, int64, bool) {
	if hi <= lo || s.Rate <= 0 {
		return time.Time{}, 0, false
	}
	for n := 0; n < maxScan; n, i = n+1, i+1 {
		at := s.slot(i)
		if at.After(limit) {
			return time.Time{}, 0, false
		}
		if p := point(i); p >= lo && p < hi {
			return at, i, true
		}
	}
	return time.Time{}, 0, false
}

// slot is when slot i comes.
func (s Schedule) slot(i int64) time.Time {
	return s.Start.Add(time.Duration(float64(i) / s.Rate * float64(time.Second)))
}

// Part is a process's part of a Schedule, [Lo, Hi) within [0, 1).
type Part struct{ Lo, Hi float64 }

// Scheduled hands out the slots of a Schedule that a part owns, a part
// asked for at every slot (the fleet's shares follow the sessions each load
// balancer still holds). Like Pacer it never saves up slots: one missed is
// gone. It is safe for concurrent use.
type Scheduled struct {
	mu    sync.Mutex
	sched Schedule
	part  func() Part
	next  int64 // the first slot index not handed out yet
}

// NewScheduled returns the slots of sched that part owns.
func NewScheduled(sched Schedule, part func() Part) *Scheduled {
	return &Scheduled{sched: sched, part: part}
}

// Reserve takes the next slot this part owns if it comes no later than
// limit; slots before now are skipped.
func (s *Scheduled) Reserve(now, limit time.Time) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.part()
	at, i, ok := s.sched.next(max(s.next, s.sched.index(now)), limit, p.Lo, p.Hi)
	if !ok {
		return time.Time{}, false
	}
	s.next = i + 1
	return at, true
}

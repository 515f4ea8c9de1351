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
	at, i, ok := s.next(s.index(from), limit, lo, hi)
	return at, i, ok
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

// next is Next from slot i on; without a slot, the index it returns is
// the first slot it did not look at.
func (s Schedule) next(i int64, limit time.Time, lo, hi float64) (time.Time, int64, bool) {
	if s.Rate <= 0 {
		return time.Time{}, i, false
	}
	for n := 0; n < maxScan; n, i = n+1, i+1 {
		at := s.slot(i)
		if at.After(limit) {
			break
		}
		if p := point(i); p >= lo && p < hi {
			return at, i, true
		}
	}
	return time.Time{}, i, false
}

// slot is when slot i comes.
func (s Schedule) slot(i int64) time.Time {
	return s.Start.Add(time.Duration(float64(i) / s.Rate * float64(time.Second)))
}

// Part is a process's part of a Schedule, [Lo, Hi) within [0, 1).
type Part struct{ Lo, Hi float64 }

// Scheduled hands out the slots of a Schedule that a part owns, a part
// asked for at every slot (the fleet's shares follow the sessions each load
// balancer still holds). Like Pacer it saves up slots for lateAt its rate at most: one
// missed by more is gone. It is safe for concurrent use.
type Scheduled struct {
	mu    sync.Mutex
	sched Schedule
	part  func() Part
	next  int64 // the first slot index not handed out yet
	// looked is the first slot index no Reserve has looked at. Only such
	// a slot is taken once past (the caller was busy when it came): one
	// looked at and left to another part may have been taken by it,
	// though the part grew since.
	looked int64
	begun  bool // the slots before the first Reserve were never missed
}

// NewScheduled returns the slots of sched that part owns.
func NewScheduled(sched Schedule, part func() Part) *Scheduled {
	return &Scheduled{sched: sched, part: part}
}

// Reserve takes the next slot this part owns if it comes no later than
// limit; slots more than lateAt(rate) before now are skipped, and so are the past
// ones a Reserve looked at before.
func (s *Scheduled) Reserve(now, limit time.Time) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.part()
	due := s.sched.index(now)
	if !s.begun {
		s.begun, s.looked = true, due
	}
	from := max(s.next, due)
	if missed := max(s.next, s.looked, s.sched.index(now.Add(-lateAt(s.sched.Rate)))); missed < due {
		from = missed
	}
	at, i, ok := s.sched.next(from, limit, p.Lo, p.Hi)
	if !ok {
		s.looked = max(s.looked, i)
		return time.Time{}, false
	}
	s.next, s.looked = i+1, max(s.looked, i+1)
	return at, true
}

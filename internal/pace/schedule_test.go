package pace

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestScheduleOwnsEachSlotOnce(t *testing.T) {
	s := Schedule{Start: time.Unix(1000, 0), Rate: 100}
	parts := []Part{{0, 0.25}, {0.25, 0.3}, {0.3, 1}}
	owned := make([]int, len(parts))
	limit := s.Start.Add(10 * time.Second)
	for i := range int64(1000) {
		owners := 0
		for k, p := range parts {
			at, j, ok := s.Next(s.slot(i), limit, p.Lo, p.Hi)
			if ok && j == i {
				if !at.Equal(s.slot(i)) {
					t.Fatalf("slot %d at %v, want %v", i, at, s.slot(i))
				}
				owners++
				owned[k]++
			}
		}
		if owners != 1 {
			t.Fatalf("slot %d has %d owners, want 1", i, owners)
		}
	}
	// Each part gets its fraction of the slots, within a few.
	for k, p := range parts {
		if want := (p.Hi - p.Lo) * 1000; float64(owned[k]) < want-3 || float64(owned[k]) > want+3 {
			t.Errorf("part %v owns %d of 1000 slots, want about %.0f", p, owned[k], want)
		}
	}
	if _, _, ok := s.Next(s.Start, limit, 0.5, 0.5); ok {
		t.Error("an empty part owns a slot")
	}
}

func TestScheduledSkipsThePast(t *testing.T) {
	s := Schedule{Start: time.Unix(1000, 0), Rate: 10}
	sc := NewScheduled(s, func() Part { return Part{0, 1} })
	far := s.Start.Add(time.Hour)
	first, ok := sc.Reserve(s.Start, far)
	if !ok || !first.Equal(s.Start) {
		t.Fatalf("first slot %v, %v; want the start", first, ok)
	}
	if second, _ := sc.Reserve(s.Start, far); second.Sub(first) != 100*time.Millisecond {
		t.Errorf("second slot %v after the first, want 100ms", second.Sub(first))
	}
	// After a pause the next slot is the next one to come, not a missed one.
	later := s.Start.Add(time.Minute + 50*time.Millisecond)
	if got, _ := sc.Reserve(later, far); got.Sub(later) != 50*time.Millisecond {
		t.Errorf("after a pause the slot is %v later, want 50ms", got.Sub(later))
	}
	if _, ok := sc.Reserve(later, later); ok {
		t.Error("a slot past the limit was handed out")
	}
}

// reserver is what a simulated load balancer closes by: a Scheduled part
// of the fleet's schedule, or (to show what it replaced) a Pacer at its
// share of the rate.
type reserver interface {
	Reserve(now, limit time.Time) (time.Time, bool)
}

// sharePacer is how fleet drains were paced before the schedule: each
// load balancer on its own, at its share of the rate (at least 1 a
// second), its slots starting whenever it asks.
type sharePacer struct {
	rate float64
	part func() Part
	last time.Time
}

func (p *sharePacer) Reserve(now, limit time.Time) (time.Time, bool) {
	pt := p.part()
	r := max((pt.Hi-pt.Lo)*p.rate, 1)
	t := now
	if next := p.last.Add(time.Duration(float64(time.Second) / r)); !p.last.IsZero() && next.After(t) {
		t = next
	}
	if t.After(limit) {
		return time.Time{}, false
	}
	p.last = t
	return t, true
}

// simAgent is one load balancer of a simulated fleet drain.
type simAgent struct {
	id       string
	sessions int
	skew     time.Duration // its clock minus the true time
	joins    time.Duration // when it starts draining, from the start
	dies     time.Duration // when it stops (0: never), from the start
	// view is what it last read of every agent's sessions (the fleet's
	// reports), refreshed every refresh at its own phase.
	view     map[string]int
	nextRead time.Duration
	slots    reserver
	slot     time.Time // its next slot by its own clock; zero: none yet
}

type simResult struct {
	peak   int           // most closes in one 100 ms window
	closed int           // closes in all
	took   time.Duration // until the last close
}

// simulate drains a fleet at rate for up to 2 minutes of simulated time,
// stepping 1 ms, and counts the closes in each 100 ms window of true time.
// scheduled picks the fleet schedule; false, independent pacers.
func simulate(t *testing.T, rng *rand.Rand, agents []*simAgent, rate float64, scheduled bool) simResult {
	t.Helper()
	start := time.Unix(1_000_000, 0)
	const refresh = 100 * time.Millisecond // reports, reads and their delay
	sched := Schedule{Start: start, Rate: rate}
	live := func(a *simAgent, at time.Duration) bool {
		return at >= a.joins && (a.dies == 0 || at < a.dies) && a.sessions > 0
	}
	// reports is what the KV holds: each agent's sessions as of its last
	// report, every refresh.
	reports := map[string]int{}
	for _, a := range agents {
		a.view = map[string]int{}
		a.nextRead = time.Duration(rng.Int64N(int64(refresh)))
		part := func() Part {
			ids := slices.Sorted(func(yield func(string) bool) {
				for id := range a.view {
					if !yield(id) {
						return
					}
				}
			})
			total, lo := 0, 0
			// Every agent reads the same reports, its own included (not
			// its fresher count): parts from one version of the reports
			// never overlap.
			for _, id := range ids {
				if id < a.id {
					lo += a.view[id]
				}
				total += a.view[id]
			}
			if total == 0 {
				return Part{}
			}
			return Part{float64(lo) / float64(total), float64(lo+a.view[a.id]) / float64(total)}
		}
		if scheduled {
			a.slots = NewScheduled(sched, part)
		} else {
			a.slots = &sharePacer{rate: rate, part: part}
		}
	}
	windows := map[int64]int{}
	var res simResult
	for at := time.Duration(0); at < 2*time.Minute; at += time.Millisecond {
		if at%refresh == 0 {
			for _, a := range agents {
				if at >= a.joins && (a.dies == 0 || at < a.dies) {
					reports[a.id] = a.sessions
				} else if a.dies != 0 && at >= a.dies+3*time.Second {
					delete(reports, a.id) // its session expired
				}
			}
		}
		done := true
		for _, a := range agents {
			if at >= a.nextRead {
				a.view = maps(reports)
				a.nextRead += refresh
			}
			if !live(a, at) {
				continue
			}
			done = false
			own := start.Add(at + a.skew) // its clock
			for a.sessions > 0 {
				if a.slot.IsZero() {
					if s, ok := a.slots.Reserve(own, own.Add(10*time.Millisecond)); ok {
						a.slot = s
					}
				}
				if a.slot.IsZero() || a.slot.After(own) {
					break
				}
				a.sessions--
				res.closed++
				windows[int64(at/(100*time.Millisecond))]++
				res.took = at
				a.slot = time.Time{}
			}
		}
		if done && at > 0 && allJoined(agents, at) {
			break
		}
	}
	for _, n := range windows {
		res.peak = max(res.peak, n)
	}
	return res
}

func allJoined(agents []*simAgent, at time.Duration) bool {
	for _, a := range agents {
		if at < a.joins {
			return false
		}
	}
	return true
}

func maps(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// fleet makes n agents holding about 8 s of closes at rate in all, each
// between half and one and a half times its equal part, clocks within
// ±5 ms of the truth; with churn one joins late and one dies halfway.
func fleet(rng *rand.Rand, n int, rate float64, churn bool) []*simAgent {
	var out []*simAgent
	part := 8 * rate / float64(n)
	for i := range n {
		a := &simAgent{
			id:       fmt.Sprintf("lb%03d", i),
			sessions: int(part/2+rng.Float64()*part) + 1,
			skew:     time.Duration(rng.Int64N(int64(10*time.Millisecond))) - 5*time.Millisecond,
		}
		out = append(out, a)
	}
	if churn && n > 2 {
		out[0].joins = 2 * time.Second
		out[1].dies = 3 * time.Second
	}
	return out
}

// TestSchedulePeakAtFleetSizes: a fleet drain's closes, summed over every
// load balancer, stay within rate/10 + 20 % in every 100 ms window, for up
// to 100 load balancers whose clocks disagree by milliseconds, whose views
// of each other's shares lag by up to 200 ms and change as they drain, one
// joining late and one dying halfway. Independent pacers at the same
// shares overshoot at the larger sizes: the simulation can tell.
func TestSchedulePeakAtFleetSizes(t *testing.T) {
	for _, rate := range []float64{100, 500, 1000} {
		for _, n := range []int{1, 5, 20, 100} {
			t.Run(fmt.Sprintf("rate %g, %d LBs", rate, n), func(t *testing.T) {
				allowed := int(rate / 10 * 1.2)
				rng := rand.New(rand.NewPCG(uint64(n), uint64(rate)))
				agents := fleet(rng, n, rate, true)
				total := 0
				for _, a := range agents {
					total += a.sessions
				}
				got := simulate(t, rng, agents, rate, true)
				if got.peak > allowed {
					t.Errorf("peak %d closes in 100 ms, allowed %d", got.peak, allowed)
				}
				// The one that died keeps what it had left; everyone else
				// drains at close to the rate.
				left := 0
				if n > 2 {
					left = agents[1].sessions
				}
				if got.closed+left != total {
					t.Errorf("closed %d + %d left on the dead one, want %d", got.closed, left, total)
				}
				if limit := time.Duration(1.15*float64(got.closed)/rate*float64(time.Second)) + 2*time.Second + agents[0].joins; got.took > limit {
					t.Errorf("took %s for %d closes at %g/s, want at most %s", got.took, got.closed, rate, limit)
				}
				t.Logf("%d closes in %s (%.2f × closes/rate), peak %d per 100 ms (allowed %d)",
					got.closed, got.took, got.took.Seconds()*rate/float64(got.closed), got.peak, allowed)
			})
		}
	}
	t.Run("independent pacers overshoot", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(7, 7))
		got := simulate(t, rng, fleet(rng, 100, 500, false), 500, false)
		if allowed := 60; got.peak <= allowed {
			t.Errorf("independent pacers peaked at %d per 100 ms, within %d: the simulation cannot tell the schedule's worth", got.peak, allowed)
		}
	})
}

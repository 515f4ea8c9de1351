// Package paced holds what the paced operations over several targets share
// (a drain over one or more sockets, a hand-over of one or more old
// workers): their phases, their outcomes ranked from best to worst, the
// result of all targets together, and the fan-out that runs one goroutine
// per target. Each operation keeps its own report and progress types and
// names its own success (drain.Drained, handover.Exited).
package paced

import (
	"errors"
	"sync"
	"time"
)

// Phase is where a target stands: waiting for its sessions to end by
// themselves, or closing the rest at a paced rate.
type Phase string

// The phases, in order.
const (
	Waiting Phase = "waiting"
	Closing Phase = "closing"
)

// Outcome is how a target's part ended. Besides the operation's own
// success, which ranks best, the outcomes from best to worst are TimedOut,
// Canceled and Failed.
type Outcome string

// The outcomes every operation shares.
const (
	TimedOut Outcome = "timed_out" // the timeout passed with sessions left
	Canceled Outcome = "canceled"  // the context ended first
	Failed   Outcome = "error"     // calls to HAProxy kept failing
)

// rank orders the outcomes; the operation's success, not listed, is 0.
var rank = map[Outcome]int{TimedOut: 1, Canceled: 2, Failed: 3}

// Report is one target's report.
type Report interface {
	// End is how the target's part ended, with the error of a Failed or
	// Canceled one.
	End() (Outcome, error)
	// Done is the operation's success; it is asked of the zero report.
	Done() Outcome
}

// Result gathers the reports of every target, in the order of the targets.
type Result[R Report] struct {
	Reports []R
	Elapsed time.Duration
}

// Outcome is the worst outcome of all targets: an operation is done only
// when every target is (and when it had none).
func (r Result[R]) Outcome() Outcome {
	var zero R
	worst := zero.Done()
	for _, rep := range r.Reports {
		if o, _ := rep.End(); rank[o] > rank[worst] {
			worst = o
		}
	}
	return worst
}

// Done reports whether every target succeeded.
func (r Result[R]) Done() bool {
	var zero R
	return r.Outcome() == zero.Done()
}

// Err joins the errors of the failed and cancelled targets.
func (r Result[R]) Err() error {
	var errs []error
	for _, rep := range r.Reports {
		if _, err := rep.End(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ErrTimedOut is Failure's error when the worst target timed out.
var ErrTimedOut = errors.New("timed out")

// Failure is what a caller maps to its exit status: nil when every target
// succeeded, ErrTimedOut when the worst of them timed out, else the
// joined errors of the failed and cancelled ones.
func (r Result[R]) Failure() error {
	switch {
	case r.Done():
		return nil
	case r.Outcome() == TimedOut:
		return ErrTimedOut
	}
	return r.Err()
}

// Run runs each target (0 to n-1) concurrently and returns their reports
// once all have ended, with the time elapsed since start.
func Run[R Report](start time.Time, n int, each func(i int) R) Result[R] {
	res := Result[R]{Reports: make([]R, n)}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { res.Reports[i] = each(i) })
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	return res
}

// Serial returns a function that calls f one call at a time, as the
// operations promise their Progress callback, or nothing when f is nil.
func Serial[P any](f func(P)) func(P) {
	if f == nil {
		return func(P) {}
	}
	var mu sync.Mutex
	return func(p P) {
		mu.Lock()
		defer mu.Unlock()
		f(p)
	}
}

// Part is one target's progress as Total counts it: the target, its
// sessions left and closed so far, and its phase.
type Part[K comparable] interface {
	Part() (target K, left int64, closed int, phase Phase)
}

// Totals is where the targets of an operation stand together.
type Totals struct {
	Left   int64
	Closed int
	// Closing is whether any target is closing.
	Closing bool
}

// Total follows an operation over n targets as one: it keeps each target's
// newest progress and, once n targets have reported (at once for n ≤ 1),
// calls show with the progress just received and the totals of every
// target's newest. It is nil when show is. Its calls must not overlap, as
// the operations promise their Progress callback (Serial).
func Total[K comparable, P Part[K]](n int, show func(pr P, t Totals)) func(P) {
	if show == nil {
		return nil
	}
	last := map[K]P{}
	return func(pr P) {
		k, _, _, _ := pr.Part()
		last[k] = pr
		if len(last) < n {
			return
		}
		var t Totals
		for _, p := range last {
			_, left, closed, phase := p.Part()
			t.Left, t.Closed, t.Closing = t.Left+left, t.Closed+closed, t.Closing || phase == Closing
		}
		show(pr, t)
	}
}

// Seconds is d in seconds, to the millisecond, as the JSON summaries of
// the paced operations (and of rollout and rebalance) show durations:
// whole milliseconds divided once, so JSON shows 2.986, not
// Duration.Seconds' 2.9859999999999998.
func Seconds(d time.Duration) float64 {
	return float64(d.Round(time.Millisecond).Milliseconds()) / 1000
}

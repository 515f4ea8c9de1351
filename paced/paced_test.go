package paced

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// report is a target's report of an operation whose success is "done".
type report struct {
	outcome Outcome
	err     error
}

var _ Report = report{}

func (r report) End() (Outcome, error) { return r.outcome, r.err }
func (report) Done() Outcome           { return "done" }

func TestResultOutcome(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name    string
		reports []report
		want    Outcome
		done    bool
	}{
		{name: "no target", want: "done", done: true},
		{name: "all done", reports: []report{{outcome: "done"}, {outcome: "done"}}, want: "done", done: true},
		{name: "one timed out", reports: []report{{outcome: "done"}, {outcome: TimedOut}}, want: TimedOut},
		{name: "canceled beats timed out", reports: []report{{outcome: Canceled, err: boom}, {outcome: TimedOut}}, want: Canceled},
		{name: "failed is worst", reports: []report{{outcome: Failed, err: boom}, {outcome: Canceled}, {outcome: "done"}}, want: Failed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Result[report]{Reports: tt.reports}
			if got := r.Outcome(); got != tt.want {
				t.Errorf("Outcome() = %q, want %q", got, tt.want)
			}
			if got := r.Done(); got != tt.done {
				t.Errorf("Done() = %t, want %t", got, tt.done)
			}
		})
	}
}

func TestResultErr(t *testing.T) {
	a, b := errors.New("a"), errors.New("b")
	r := Result[report]{Reports: []report{{outcome: Failed, err: a}, {outcome: "done"}, {outcome: Canceled, err: b}}}
	if err := r.Err(); !errors.Is(err, a) || !errors.Is(err, b) {
		t.Errorf("Err() = %v, want both errors", err)
	}
	if err := (Result[report]{Reports: []report{{outcome: "done"}}}).Err(); err != nil {
		t.Errorf("Err() of a success = %v, want nil", err)
	}
}

// TestResultFailure: nil when every target succeeded, ErrTimedOut when
// the worst timed out (not the timed-out targets' errors), else the
// failed and cancelled targets' errors.
func TestResultFailure(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name    string
		reports []report
		want    error
	}{
		{name: "done", reports: []report{{outcome: "done"}}},
		{name: "timed out", reports: []report{{outcome: "done"}, {outcome: TimedOut}}, want: ErrTimedOut},
		{name: "failed", reports: []report{{outcome: TimedOut}, {outcome: Failed, err: boom}}, want: boom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Result[report]{Reports: tt.reports}.Failure()
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) || (tt.want == boom && errors.Is(err, ErrTimedOut)) {
				t.Errorf("Failure() = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestRun: every target runs, concurrently, and its report lands at its
// index.
func TestRun(t *testing.T) {
	var started sync.WaitGroup
	started.Add(3)
	res := Run(time.Now(), 3, func(i int) report {
		started.Done()
		started.Wait() // only returns once all three run at the same time
		return report{outcome: []Outcome{"done", TimedOut, Failed}[i]}
	})
	got := make([]Outcome, len(res.Reports))
	for i, r := range res.Reports {
		got[i] = r.outcome
	}
	if want := []Outcome{"done", TimedOut, Failed}; !slices.Equal(got, want) {
		t.Errorf("reports = %v, want %v", got, want)
	}
	if res.Elapsed <= 0 {
		t.Errorf("Elapsed = %s, want the time since start", res.Elapsed)
	}
}

// TestSerial: a nil callback is a no-op; calls from several goroutines
// reach the callback one at a time.
func TestSerial(t *testing.T) {
	Serial[int](nil)(1)
	var inside, overlap bool
	var mu sync.Mutex
	f := Serial(func(int) {
		mu.Lock()
		if inside {
			overlap = true
		}
		inside = true
		mu.Unlock()
		time.Sleep(time.Millisecond)
		mu.Lock()
		inside = false
		mu.Unlock()
	})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() { f(i) })
	}
	wg.Wait()
	if overlap {
		t.Error("two calls overlapped")
	}
}

// part is one target's progress for Total.
type part struct {
	target string
	left   int64
	closed int
	phase  Phase
}

func (p part) Part() (string, int64, int, Phase) { return p.target, p.left, p.closed, p.phase }

// TestTotal: nothing shows until every target reported once; then each
// report shows with the sums of every target's newest; nil show is nil.
func TestTotal(t *testing.T) {
	if Total[string, part](2, nil) != nil {
		t.Error("Total(nil) is not nil")
	}
	type shown struct {
		target string
		totals Totals
	}
	var got []shown
	f := Total(2, func(pr part, t Totals) { got = append(got, shown{pr.target, t}) })
	f(part{"a", 5, 0, Waiting})
	f(part{"a", 4, 0, Waiting}) // a's newest replaces its first
	f(part{"b", 3, 0, Waiting})
	f(part{"b", 1, 2, Closing})
	want := []shown{
		{"b", Totals{Left: 7}},
		{"b", Totals{Left: 5, Closed: 2, Closing: true}},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}

	got = nil
	one := Total(0, func(pr part, t Totals) { got = append(got, shown{pr.target, t}) })
	one(part{"w", 2, 1, Waiting})
	if want := []shown{{"w", Totals{Left: 2, Closed: 1}}}; !slices.Equal(got, want) {
		t.Errorf("n = 0: got %+v, want %+v", got, want)
	}
}

package drain

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/haproxy/haproxytest"
)

// fakeRuntime is one server on a pretend HAProxy. It logs every change.
type fakeRuntime struct {
	mu       sync.Mutex
	admin    haproxy.AdminState
	sessions []haproxy.SessionID
	log      []string
	closedAt []time.Time
	// leavePerCount sessions leave by themselves at every count.
	leavePerCount int
	// failServer makes the nth call to Server (from 1) fail.
	failServer  func(n int) bool
	serverCalls int
	// failShutdown makes the nth call to ShutdownSession (from 1) on a
	// session still open time out, after it closed the session when
	// closeAnyway. Calls on sessions already closed are not counted: a
	// batch that timed out goes back whole, its closed ids with it, and
	// how the closes batch up depends on the machine's timing.
	failShutdown  func(n int) (fail, closeAnyway bool)
	shutdownCalls int
	setErr        error
	// gone are listed by Sessions but already ended.
	gone map[haproxy.SessionID]bool
	// pid is the process answering; reloadAtCount, when positive, makes
	// the count with that number (from 1) the first answered by a new one.
	pid           int64
	reloadAtCount int
	// others are the backend's other servers.
	others []haproxy.ServerStatus
}

var _ Runtime = (*fakeRuntime)(nil)

func newFake(admin haproxy.AdminState, n int) *fakeRuntime {
	f := &fakeRuntime{admin: admin, gone: map[haproxy.SessionID]bool{}, pid: 100,
		others: []haproxy.ServerStatus{{Backend: "ws", Server: "s1", Admin: haproxy.Ready, State: haproxy.Up, UserWeight: 1}}}
	for i := range n {
		f.sessions = append(f.sessions, haproxy.SessionID(fmt.Sprintf("0x%x", 0x1000+i)))
	}
	return f
}

func (f *fakeRuntime) Pid(ctx context.Context) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pid, nil
}

func (f *fakeRuntime) Servers(ctx context.Context, backend string) ([]haproxy.ServerStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	self := haproxy.ServerStatus{Backend: backend, Server: "s2", Admin: f.admin, State: haproxy.Up, UserWeight: 1}
	return append([]haproxy.ServerStatus{self}, f.others...), nil
}

func (f *fakeRuntime) Server(ctx context.Context, backend, server string) (haproxy.ServerStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.serverCalls++
	if f.reloadAtCount > 0 && f.serverCalls == f.reloadAtCount+1 {
		// The first call is the drain's initial read, then the counts.
		// The new worker starts from the config: READY, no sessions.
		f.pid++
		f.admin, f.sessions = haproxy.Ready, nil
	}
	if f.failServer != nil && f.failServer(f.serverCalls) {
		return haproxy.ServerStatus{}, haproxy.ErrTimeout
	}
	for range min(f.leavePerCount, len(f.sessions)) {
		f.sessions = f.sessions[1:]
	}
	return haproxy.ServerStatus{Backend: backend, Server: server, Admin: f.admin, Scur: int64(len(f.sessions))}, nil
}

func (f *fakeRuntime) SetState(ctx context.Context, backend, server string, state haproxy.AdminState) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.setErr != nil {
		return f.setErr
	}
	f.admin = state
	f.log = append(f.log, "set "+string(state))
	return nil
}

func (f *fakeRuntime) Sessions(ctx context.Context, backend, server string) ([]haproxy.SessionID, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := append([]haproxy.SessionID(nil), f.sessions...)
	for id := range f.gone {
		ids = append(ids, id)
	}
	return ids, nil
}

func (f *fakeRuntime) ShutdownSession(ctx context.Context, backend, server string, id haproxy.SessionID) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !slices.Contains(f.sessions, id) && !f.gone[id] {
		return haproxy.ErrNoSuchSession
	}
	f.shutdownCalls++
	if f.failShutdown != nil {
		if fail, anyway := f.failShutdown(f.shutdownCalls); fail {
			if anyway {
				f.remove(id)
			}
			return haproxy.ErrTimeout
		}
	}
	if f.gone[id] {
		delete(f.gone, id)
		return haproxy.ErrNoSuchSession
	}
	for i, s := range f.sessions {
		if s == id {
			f.sessions = append(f.sessions[:i], f.sessions[i+1:]...)
			f.closedAt = append(f.closedAt, time.Now())
			f.logShutdown("shutdown one")
			return nil
		}
	}
	return haproxy.ErrNoSuchSession
}

func (f *fakeRuntime) ShutdownSessions(ctx context.Context, backend, server string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sessions = nil
	f.log = append(f.log, "shutdown all")
	return nil
}

// remove ends session id without a trace in the log: HAProxy closed it
// but its answer was lost.
func (f *fakeRuntime) remove(id haproxy.SessionID) {
	for i, s := range f.sessions {
		if s == id {
			f.sessions = append(f.sessions[:i], f.sessions[i+1:]...)
			return
		}
	}
}

// logShutdown logs consecutive single shutdowns once.
func (f *fakeRuntime) logShutdown(s string) {
	if len(f.log) == 0 || f.log[len(f.log)-1] != s {
		f.log = append(f.log, s)
	}
}

func (f *fakeRuntime) calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.log...)
}

func target(name string, f *fakeRuntime) Target {
	return Target{Socket: name, Runtime: f, Backend: "ws", Server: "s2"}
}

func TestDrainRun(t *testing.T) {
	tests := []struct {
		name       string
		fake       func() *fakeRuntime
		opts       Options
		want       Outcome
		wantCalls  []string
		wantAdmin  haproxy.AdminState
		wantClosed int
		wantLeft   int64
	}{
		{
			name:      "sessions leave by themselves",
			fake:      func() *fakeRuntime { f := newFake(haproxy.Ready, 4); f.leavePerCount = 1; return f },
			want:      Drained,
			wantCalls: []string{"set DRAIN", "set MAINT"},
			wantAdmin: haproxy.Maint,
		},
		{
			name:      "no sessions",
			fake:      func() *fakeRuntime { return newFake(haproxy.Ready, 0) },
			want:      Drained,
			wantCalls: []string{"set DRAIN", "set MAINT"},
			wantAdmin: haproxy.Maint,
		},
		{
			name:      "already in maint stays in maint",
			fake:      func() *fakeRuntime { f := newFake(haproxy.Maint, 2); f.leavePerCount = 1; return f },
			want:      Drained,
			wantCalls: nil,
			wantAdmin: haproxy.Maint,
		},
		{
			name:      "timeout without closing",
			fake:      func() *fakeRuntime { return newFake(haproxy.Ready, 3) },
			opts:      Options{Timeout: 60 * time.Millisecond},
			want:      TimedOut,
			wantCalls: []string{"set DRAIN"},
			wantAdmin: haproxy.Drain,
			wantLeft:  3,
		},
		{
			name:       "all at once after maint",
			fake:       func() *fakeRuntime { return newFake(haproxy.Ready, 5) },
			opts:       Options{Close: &Close{After: 30 * time.Millisecond}},
			want:       Drained,
			wantCalls:  []string{"set DRAIN", "set MAINT", "shutdown all"},
			wantAdmin:  haproxy.Maint,
			wantClosed: 5,
		},
		{
			name:       "paced after maint",
			fake:       func() *fakeRuntime { return newFake(haproxy.Ready, 5) },
			opts:       Options{Close: &Close{After: 30 * time.Millisecond, Rate: 200}},
			want:       Drained,
			wantCalls:  []string{"set DRAIN", "set MAINT", "shutdown one"},
			wantAdmin:  haproxy.Maint,
			wantClosed: 5,
		},
		{
			name: "sessions gone before their turn are not counted",
			fake: func() *fakeRuntime {
				f := newFake(haproxy.Ready, 3)
				f.gone["0xdead"] = true
				return f
			},
			opts:       Options{Close: &Close{Rate: 500}},
			want:       Drained,
			wantCalls:  []string{"set DRAIN", "set MAINT", "shutdown one"},
			wantAdmin:  haproxy.Maint,
			wantClosed: 3,
		},
		{
			name:      "set fails",
			fake:      func() *fakeRuntime { f := newFake(haproxy.Ready, 1); f.setErr = haproxy.ErrNotApplied; return f },
			want:      Failed,
			wantAdmin: haproxy.Ready,
			wantLeft:  1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.fake()
			tt.opts.Poll = 5 * time.Millisecond
			if tt.opts.Timeout == 0 {
				tt.opts.Timeout = 5 * time.Second
			}
			res, err := Run(context.Background(), []Target{target("a.sock", f)}, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			rep := res.Reports[0]
			if rep.Outcome != tt.want || res.Outcome() != tt.want {
				t.Fatalf("outcome = %s (%v), want %s", rep.Outcome, rep.Err, tt.want)
			}
			if diff := cmp.Diff(tt.wantCalls, f.calls()); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
			if rep.Admin != tt.wantAdmin || rep.Closed != tt.wantClosed || rep.Left != tt.wantLeft {
				t.Errorf("report admin=%s closed=%d left=%d, want %s %d %d", rep.Admin, rep.Closed, rep.Left, tt.wantAdmin, tt.wantClosed, tt.wantLeft)
			}
		})
	}
}

func TestDrainRunToleratesFewPollErrors(t *testing.T) {
	tests := []struct {
		name   string
		failed int // counts that fail after the first read
		want   Outcome
	}{
		{name: "busy for two counts", failed: maxPollErrors - 1, want: Drained},
		{name: "busy for good", failed: maxPollErrors, want: Failed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(haproxy.Ready, 5)
			f.leavePerCount = 1
			f.failServer = func(n int) bool { return n > 1 && n <= 1+tt.failed }
			res, _ := Run(context.Background(), []Target{target("a", f)}, Options{Poll: time.Millisecond, Timeout: 5 * time.Second})
			if res.Outcome() != tt.want {
				t.Fatalf("outcome = %s (%v), want %s", res.Outcome(), res.Err(), tt.want)
			}
			if tt.want == Failed && !errors.Is(res.Err(), haproxy.ErrTimeout) {
				t.Errorf("error %v does not wrap ErrTimeout", res.Err())
			}
		})
	}
}

// TestDrainRidesOutSlowCloses: a close HAProxy does not answer in time
// (a busy host) ends the drain only after maxPollErrors in a row; before
// that the sessions not answered for are checked again and closed; one
// HAProxy closed without answering is left out of the count, never closed
// twice.
func TestDrainRidesOutSlowCloses(t *testing.T) {
	tests := []struct {
		name       string
		fail       func(n int) (bool, bool)
		want       Outcome
		wantClosed int
	}{
		{name: "two in a row, the second closed anyway", fail: func(n int) (bool, bool) { return n == 3 || n == 4, n == 4 }, want: Drained, wantClosed: 7},
		{name: "busy for good", fail: func(n int) (bool, bool) { return n >= 3, false }, want: Failed, wantClosed: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(haproxy.Ready, 8)
			f.failShutdown = tt.fail
			res, _ := Run(context.Background(), []Target{target("a", f)},
				Options{Poll: time.Millisecond, Timeout: 5 * time.Second, Close: &Close{Rate: 1000}})
			if res.Outcome() != tt.want {
				t.Fatalf("outcome = %s (%v), want %s", res.Outcome(), res.Err(), tt.want)
			}
			if tt.want == Failed && !errors.Is(res.Err(), haproxy.ErrTimeout) {
				t.Errorf("error %v does not wrap ErrTimeout", res.Err())
			}
			if got := res.Reports[0].Closed; got != tt.wantClosed {
				t.Errorf("closed %d, want %d", got, tt.wantClosed)
			}
		})
	}
}

// TestDrainPaceIsSharedAcrossTargets checks that the rate holds for all sockets
// together and is spread evenly.
func TestDrainPaceIsSharedAcrossTargets(t *testing.T) {
	a, b := newFake(haproxy.Ready, 10), newFake(haproxy.Ready, 10)
	const rate = 100.0
	opts := Options{Poll: 20 * time.Millisecond, Timeout: 10 * time.Second, Close: &Close{Rate: rate}}
	res, err := Run(context.Background(), []Target{target("a", a), target("b", b)}, opts)
	if err != nil || res.Outcome() != Drained {
		t.Fatalf("outcome %s, %v, %v", res.Outcome(), err, res.Err())
	}
	all := append(append([]time.Time(nil), a.closedAt...), b.closedAt...)
	if len(all) != 20 || len(a.closedAt) != 10 || len(b.closedAt) != 10 {
		t.Fatalf("closed %d+%d sessions, want 10+10", len(a.closedAt), len(b.closedAt))
	}
	first, last := all[0], all[0]
	for _, c := range all {
		if c.Before(first) {
			first = c
		}
		if c.After(last) {
			last = c
		}
	}
	// 20 closes at 100/s take 190 ms at the least.
	if span := last.Sub(first); span < 170*time.Millisecond {
		t.Errorf("20 closes at %g/s took %s, want at least 170ms", rate, span)
	}
	if peak := haproxytest.PeakIn(all, 100*time.Millisecond); peak > 12 {
		t.Errorf("peak %d closes in 100ms, want at most 12 (rate/10 + 20%%)", peak)
	}
}

func TestDrainRunCanceled(t *testing.T) {
	f := newFake(haproxy.Ready, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	res, _ := Run(ctx, []Target{target("a", f)}, Options{Poll: 5 * time.Millisecond})
	if res.Outcome() != Canceled || res.Reports[0].Admin != haproxy.Drain {
		t.Fatalf("outcome = %s admin %s, want canceled with the server in DRAIN", res.Outcome(), res.Reports[0].Admin)
	}
}

func TestDrainResultOutcomeIsTheWorst(t *testing.T) {
	r := Result{Reports: []Report{{Outcome: Drained}, {Outcome: TimedOut}}}
	if r.Outcome() != TimedOut {
		t.Errorf("outcome = %s, want timed_out", r.Outcome())
	}
	r.Reports = append(r.Reports, Report{Outcome: Failed, Target: "b.sock", Err: errors.New("boom")})
	if r.Outcome() != Failed || r.Err().Error() != "boom" {
		t.Errorf("outcome = %s, err = %v", r.Outcome(), r.Err())
	}
}

func TestDrainOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		ok   bool
	}{
		{name: "zero", ok: true},
		{name: "close before timeout", opts: Options{Timeout: time.Minute, Close: &Close{After: 30 * time.Second, Rate: 10}}, ok: true},
		{name: "close without timeout", opts: Options{Close: &Close{After: time.Hour}}, ok: true},
		{name: "close at timeout", opts: Options{Timeout: time.Minute, Close: &Close{After: time.Minute}}},
		{name: "negative timeout", opts: Options{Timeout: -1}},
		{name: "negative rate", opts: Options{Close: &Close{Rate: -1}}},
		{name: "rate NaN", opts: Options{Close: &Close{Rate: math.NaN()}}},
		{name: "rate infinite", opts: Options{Close: &Close{Rate: math.Inf(1)}}},
		{name: "rate too small for the pacer", opts: Options{Close: &Close{Rate: 1e-300}}},
		{name: "rate below the minimum", opts: Options{Close: &Close{Rate: MinRate / 2}}},
		{name: "rate above the maximum", opts: Options{Close: &Close{Rate: MaxRate * 2}}},
		{name: "rate at the minimum", opts: Options{Close: &Close{Rate: MinRate}}, ok: true},
		{name: "rate at the maximum", opts: Options{Close: &Close{Rate: MaxRate}}, ok: true},
		{name: "rate zero closes all at once", opts: Options{Close: &Close{}}, ok: true},
		{name: "negative close-after", opts: Options{Close: &Close{After: -1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.opts.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// TestDrainRunReloaded: a reload hands the socket to a new worker that shows
// the server READY without sessions; the drain must not call that drained.
func TestDrainRunReloaded(t *testing.T) {
	f := newFake(haproxy.Ready, 5)
	f.reloadAtCount = 2
	res, err := Run(context.Background(), []Target{target("a.sock", f)},
		Options{Poll: time.Millisecond, Timeout: time.Hour, Close: &Close{After: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	rep := res.Reports[0]
	if rep.Outcome != Failed || !errors.Is(rep.Err, ErrReloaded) {
		t.Fatalf("outcome %s, error %v; want error wrapping ErrReloaded", rep.Outcome, rep.Err)
	}
	if msg := rep.Err.Error(); !strings.Contains(msg, "a.sock: HAProxy reloaded during the drain (worker 100 → 101)") || !strings.Contains(msg, "`@!100 shutdown session ID` for each with be=ws srv=s2") {
		t.Errorf("message %q does not say what happened and what to do", msg)
	}
	if rep.Left != 5 || rep.Admin != haproxy.Drain {
		t.Errorf("report left %d admin %s, want the old worker's last 5 and DRAIN", rep.Left, rep.Admin)
	}
	if diff := cmp.Diff([]string{"set DRAIN"}, f.calls()); diff != "" {
		t.Errorf("calls after the reload (-want +got):\n%s", diff)
	}
}

func TestCheckNotLast(t *testing.T) {
	srv := func(name string, admin haproxy.AdminState, state haproxy.OpState, weight int64) haproxy.ServerStatus {
		return haproxy.ServerStatus{Backend: "ws", Server: name, Admin: admin, State: state, UserWeight: weight}
	}
	tests := []struct {
		name    string
		others  []haproxy.ServerStatus
		wantErr string // "" when the drain may go ahead
	}{
		{name: "another up", others: []haproxy.ServerStatus{srv("s1", haproxy.Maint, haproxy.Down, 1), srv("s3", haproxy.Ready, haproxy.Up, 1)}},
		{name: "another in slowstart", others: []haproxy.ServerStatus{srv("s1", haproxy.Ready, haproxy.Starting, 1)}},
		{name: "alone", wantErr: "a.sock: taking out ws/s2 leaves backend ws nothing to send clients to: no other server of the backend can take new clients (it has no other server)"},
		{
			name: "the others out",
			others: []haproxy.ServerStatus{srv("s1", haproxy.Maint, haproxy.Down, 1), srv("s3", haproxy.Drain, haproxy.Up, 1),
				srv("s4", haproxy.Ready, haproxy.Down, 1), srv("s5", haproxy.Ready, haproxy.Stopping, 1), srv("s6", haproxy.Ready, haproxy.Up, 0)},
			wantErr: "(the others: s1 MAINT DOWN, s3 DRAIN UP, s4 READY DOWN, s5 READY STOPPING, s6 READY UP weight 0); bring another server back first (wsctl ready SERVER)",
		},
		{
			// Readmitted servers wait for a fresh check: telling the user
			// to ready them again would be wrong.
			name: "the others waiting for their check",
			others: []haproxy.ServerStatus{
				{Backend: "ws", Server: "s1", Admin: haproxy.Ready, State: haproxy.Down, UserWeight: 1, Checked: true},
				{Backend: "ws", Server: "s3", Admin: haproxy.Ready, State: haproxy.Down, UserWeight: 1, Checked: true},
			},
			wantErr: "(the others: s1 READY DOWN, s3 READY DOWN); s1, s3 are READY but not yet UP, waiting for a health check: try again once one is UP (wsctl status)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(haproxy.Ready, 3)
			f.others = tt.others
			err := CheckNotLast(context.Background(), []Target{target("a.sock", f)})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrLastServer) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want ErrLastServer and %q", err, tt.wantErr)
			}
		})
	}
}

// TestDrainRunRefusesLastServer: refused on one socket, nothing changes on
// any; Force drains anyway.
func TestDrainRunRefusesLastServer(t *testing.T) {
	ok, last := newFake(haproxy.Ready, 2), newFake(haproxy.Ready, 2)
	last.others = nil
	opts := Options{Poll: time.Millisecond, Timeout: 5 * time.Second, Close: &Close{}}
	_, err := Run(context.Background(), []Target{target("a", ok), target("b", last)}, opts)
	if !errors.Is(err, ErrLastServer) {
		t.Fatalf("error %v, want ErrLastServer", err)
	}
	if len(ok.calls()) != 0 || len(last.calls()) != 0 {
		t.Fatalf("a refused drain changed something: %v, %v", ok.calls(), last.calls())
	}
	opts.Force = true
	res, err := Run(context.Background(), []Target{target("a", ok), target("b", last)}, opts)
	if err != nil || res.Outcome() != Drained {
		t.Fatalf("forced drain: %v, %s %v", err, res.Outcome(), res.Err())
	}
}

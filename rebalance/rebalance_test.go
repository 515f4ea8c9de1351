package rebalance

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsctl/wsctl/haproxy"
)

// fakeRuntime is a Runtime whose every method is a func field, so a test
// can replace one.
type fakeRuntime struct {
	pid             func(ctx context.Context) (int64, error)
	servers         func(ctx context.Context, backend string) ([]haproxy.ServerStatus, error)
	setState        func(ctx context.Context, backend, server string, state haproxy.AdminState) error
	readmit         func(ctx context.Context, backend, server string) error
	sessionsByAge   func(ctx context.Context, backend, server string) ([]haproxy.WorkerSession, error)
	shutdownSession func(ctx context.Context, backend, server string, id haproxy.SessionID) error
}

var _ Runtime = (*fakeRuntime)(nil)

func (f *fakeRuntime) Pid(ctx context.Context) (int64, error) { return f.pid(ctx) }

func (f *fakeRuntime) Servers(ctx context.Context, backend string) ([]haproxy.ServerStatus, error) {
	return f.servers(ctx, backend)
}

func (f *fakeRuntime) SetState(ctx context.Context, backend, server string, state haproxy.AdminState) error {
	return f.setState(ctx, backend, server, state)
}

func (f *fakeRuntime) Readmit(ctx context.Context, backend, server string) error {
	return f.readmit(ctx, backend, server)
}

func (f *fakeRuntime) SessionsByAge(ctx context.Context, backend, server string) ([]haproxy.WorkerSession, error) {
	return f.sessionsByAge(ctx, backend, server)
}

func (f *fakeRuntime) ShutdownSession(ctx context.Context, backend, server string, id haproxy.SessionID) error {
	return f.shutdownSession(ctx, backend, server, id)
}

// sim is a pretend HAProxy backend whose clients reconnect at once with
// their sticky cookie: back to their server unless it is in MAINT, else
// to the least loaded server that takes clients (leastconn with weights).
type sim struct {
	mu       sync.Mutex
	admin    map[string]haproxy.AdminState
	weight   map[string]int64
	sessions map[string][]haproxy.WorkerSession // oldest first
	next     int
	log      []string
	closed   []haproxy.WorkerSession
}

func newSim(load map[string]int, weight map[string]int64) *sim {
	s := &sim{admin: map[string]haproxy.AdminState{}, weight: map[string]int64{}, sessions: map[string][]haproxy.WorkerSession{}}
	for _, name := range slices.Sorted(maps.Keys(load)) {
		s.admin[name] = haproxy.Ready
		s.weight[name] = 100
		if w, ok := weight[name]; ok {
			s.weight[name] = w
		}
		for i := range load[name] {
			s.add(name, time.Duration(load[name]-i)*time.Second)
		}
	}
	return s
}

func (s *sim) add(server string, age time.Duration) {
	s.next++
	s.sessions[server] = append(s.sessions[server], haproxy.WorkerSession{
		ID: haproxy.SessionID(fmt.Sprintf("0x%x", s.next)), Backend: "ws", Server: server, Age: age})
}

func (s *sim) fake() *fakeRuntime {
	return &fakeRuntime{
		pid: func(context.Context) (int64, error) { return 1, nil },
		servers: func(ctx context.Context, backend string) ([]haproxy.ServerStatus, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			var out []haproxy.ServerStatus
			for _, name := range slices.Sorted(maps.Keys(s.admin)) {
				out = append(out, haproxy.ServerStatus{Backend: backend, Server: name, Admin: s.admin[name], State: haproxy.Up,
					UserWeight: s.weight[name], Scur: int64(len(s.sessions[name]))})
			}
			return out, nil
		},
		setState: func(ctx context.Context, backend, server string, state haproxy.AdminState) error {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.admin[server] = state
			s.log = append(s.log, server+" "+string(state))
			return nil
		},
		readmit: func(ctx context.Context, backend, server string) error {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.admin[server] = haproxy.Ready
			s.log = append(s.log, server+" READY")
			return nil
		},
		sessionsByAge: func(ctx context.Context, backend, server string) ([]haproxy.WorkerSession, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			return slices.Clone(s.sessions[server]), nil
		},
		shutdownSession: func(ctx context.Context, backend, server string, id haproxy.SessionID) error {
			s.mu.Lock()
			defer s.mu.Unlock()
			i := slices.IndexFunc(s.sessions[server], func(w haproxy.WorkerSession) bool { return w.ID == id })
			if i < 0 {
				return haproxy.ErrNoSuchSession
			}
			s.closed = append(s.closed, s.sessions[server][i])
			s.sessions[server] = slices.Delete(s.sessions[server], i, i+1)
			s.log = append(s.log, "close "+server)
			s.add(s.land(server), 0)
			return nil
		},
	}
}

// land is where a client cut from server reconnects.
func (s *sim) land(server string) string {
	if s.admin[server] == haproxy.Ready {
		return server // its cookie
	}
	best := ""
	for _, name := range slices.Sorted(maps.Keys(s.admin)) {
		if s.admin[name] != haproxy.Ready || s.weight[name] == 0 {
			continue
		}
		if best == "" || float64(len(s.sessions[name]))/float64(s.weight[name]) < float64(len(s.sessions[best]))/float64(s.weight[best]) {
			best = name
		}
	}
	return best
}

func (s *sim) counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for n, l := range s.sessions {
		out[n] = len(l)
	}
	return out
}

func (s *sim) states() map[string]haproxy.AdminState {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]haproxy.AdminState{}
	for n, a := range s.admin {
		out[n] = a
	}
	return out
}

func options() Options {
	return Options{Backend: "ws", Rate: 100_000, Settle: time.Second, Poll: time.Millisecond}
}

func checkAllReady(t *testing.T, s *sim) {
	t.Helper()
	for n, a := range s.states() {
		if a != haproxy.Ready {
			t.Errorf("%s is %s at the end, want READY", n, a)
		}
	}
}

// TestRunMovesTheMinimum: 30/30/0 becomes 20/20/20 with 20 closes, the
// oldest sessions of each donor, every donor in MAINT before its first
// close and READY after the reconnects.
func TestRunMovesTheMinimum(t *testing.T) {
	s := newSim(map[string]int{"s1": 30, "s2": 30, "s3": 0}, nil)
	var steps []Kind
	o := options()
	o.Progress = func(st Step) { steps = append(steps, st.Kind) }
	res, err := Run(context.Background(), NewSockets([]Socket{{Name: "lb", Runtime: s.fake()}}), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != Balanced || res.Closed != 20 || res.Rounds != 1 || res.Before.Moves != 20 {
		t.Errorf("result %+v, want balanced in one round with 20 closes", res)
	}
	if got := s.counts(); got["s1"] != 20 || got["s2"] != 20 || got["s3"] != 20 {
		t.Errorf("sessions at the end %v, want 20 each", got)
	}
	checkAllReady(t, s)
	for _, c := range s.closed {
		if c.Age < 21*time.Second {
			t.Errorf("closed %s aged %s on %s: not among the 10 oldest", c.ID, c.Age, c.Server)
		}
	}
	log := strings.Join(s.log, "\n")
	if first, maint := strings.Index(log, "close "), strings.LastIndex(log, "MAINT"); first < maint {
		t.Errorf("a close came before both donors were in MAINT:\n%s", log)
	}
	if last, ready := strings.LastIndex(log, "close "), strings.Index(log, "READY"); ready < last {
		t.Errorf("a donor was READY again before the last close:\n%s", log)
	}
	if want := []Kind{Planned, Closing, Settled, Readmitted}; !slices.Equal(steps, want) {
		t.Errorf("steps %v, want %v", steps, want)
	}
}

// TestRunWeights: a weight-200 server ends with twice the others' share.
func TestRunWeights(t *testing.T) {
	s := newSim(map[string]int{"s1": 0, "s2": 40, "s3": 40}, map[string]int64{"s1": 200})
	res, err := Run(context.Background(), NewSockets([]Socket{{Name: "lb", Runtime: s.fake()}}), options())
	if err != nil || res.Outcome != Balanced {
		t.Fatalf("Run = %+v, %v; want balanced", res, err)
	}
	if got := s.counts(); got["s1"] != 40 || got["s2"] != 20 || got["s3"] != 20 {
		t.Errorf("sessions at the end %v, want 40/20/20", got)
	}
}

// TestRunTwoSockets sums the sessions of two HAProxy processes and sets
// MAINT and READY on both.
func TestRunTwoSockets(t *testing.T) {
	a := newSim(map[string]int{"s1": 20, "s2": 0}, nil)
	b := newSim(map[string]int{"s1": 20, "s2": 0}, nil)
	res, err := Run(context.Background(), NewSockets([]Socket{{Name: "a", Runtime: a.fake()}, {Name: "b", Runtime: b.fake()}}), options())
	if err != nil || res.Outcome != Balanced || res.Closed != 20 {
		t.Fatalf("Run = %+v, %v; want balanced with 20 closes", res, err)
	}
	ca, cb := a.counts(), b.counts()
	if ca["s1"]+cb["s1"] != 20 || ca["s2"]+cb["s2"] != 20 {
		t.Errorf("sessions at the end %v and %v, want 20 on each server together", ca, cb)
	}
	for _, s := range []*sim{a, b} {
		if !slices.Contains(s.log, "s1 MAINT") {
			t.Errorf("s1 never in MAINT on a socket: %v", s.log)
		}
		checkAllReady(t, s)
	}
}

// TestRunRestoresReady: whatever stops a rebalance under way, no donor
// stays in MAINT.
func TestRunRestoresReady(t *testing.T) {
	tests := []struct {
		name  string
		setup func(s *sim, f *fakeRuntime, o *Options, cancel context.CancelFunc)
		want  Outcome
		// wantErr, when set, is what the result's error must wrap.
		wantErr error
	}{
		{
			name: "a close fails",
			setup: func(s *sim, f *fakeRuntime, o *Options, cancel context.CancelFunc) {
				n, shut := 0, f.shutdownSession
				f.shutdownSession = func(ctx context.Context, b, srv string, id haproxy.SessionID) error {
					if n++; n == 3 {
						return haproxy.ErrTimeout
					}
					return shut(ctx, b, srv, id)
				}
			},
			want: Failed,
		},
		{
			name: "MAINT fails on the second donor",
			setup: func(s *sim, f *fakeRuntime, o *Options, cancel context.CancelFunc) {
				set := f.setState
				f.setState = func(ctx context.Context, b, srv string, st haproxy.AdminState) error {
					if err := set(ctx, b, srv, st); err != nil || srv != "s2" {
						return err
					}
					return haproxy.ErrNotApplied // set, but read back wrong
				}
			},
			want: Failed,
		},
		{
			name: "cancelled (Ctrl-C) during the closes",
			setup: func(s *sim, f *fakeRuntime, o *Options, cancel context.CancelFunc) {
				n, shut := 0, f.shutdownSession
				f.shutdownSession = func(ctx context.Context, b, srv string, id haproxy.SessionID) error {
					if n++; n == 5 {
						cancel()
					}
					return shut(ctx, b, srv, id)
				}
			},
			want: Canceled,
		},
		{
			name: "timed out",
			setup: func(s *sim, f *fakeRuntime, o *Options, cancel context.CancelFunc) {
				o.Rate, o.Timeout = 5, 300*time.Millisecond
			},
			want: TimedOut,
		},
		{
			name: "HAProxy reloads during the closes",
			setup: func(s *sim, f *fakeRuntime, o *Options, cancel context.CancelFunc) {
				n, shut := 0, f.shutdownSession
				f.shutdownSession = func(ctx context.Context, b, srv string, id haproxy.SessionID) error {
					if n++; n == 3 {
						f.pid = func(context.Context) (int64, error) { return 2, nil }
					}
					return shut(ctx, b, srv, id)
				}
			},
			want:    Failed,
			wantErr: ErrReloaded,
		},
		{
			name: "the clients never come back, then a failed count",
			setup: func(s *sim, f *fakeRuntime, o *Options, cancel context.CancelFunc) {
				servers, n := f.servers, 0
				f.servers = func(ctx context.Context, b string) ([]haproxy.ServerStatus, error) {
					if n++; n > 1 {
						return nil, haproxy.ErrTimeout
					}
					return servers(ctx, b)
				}
			},
			want: Failed,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(map[string]int{"s1": 30, "s2": 30, "s3": 0}, nil)
			f := s.fake()
			o := options()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			tc.setup(s, f, &o, cancel)
			// The restore must not use the run's context, which may be
			// gone: refuse a readmit on a context already ended.
			readmit := f.readmit
			f.readmit = func(ctx context.Context, b, srv string) error {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return readmit(ctx, b, srv)
			}
			res, err := Run(ctx, NewSockets([]Socket{{Name: "lb", Runtime: f}}), o)
			if err != nil {
				t.Fatalf("Run returned %v: the failure came after changes, want it in the result", err)
			}
			if res.Outcome != tc.want {
				t.Errorf("outcome %s (%v), want %s", res.Outcome, res.Err, tc.want)
			}
			if (res.Err != nil) != (tc.want != TimedOut) {
				t.Errorf("err %v for %s", res.Err, res.Outcome)
			}
			if tc.wantErr != nil && !errors.Is(res.Err, tc.wantErr) {
				t.Errorf("err %v, want it to wrap %v", res.Err, tc.wantErr)
			}
			checkAllReady(t, s)
			if !slices.Equal(res.Restored, []string{"s1", "s2"}) {
				t.Errorf("restored %v, want s1 and s2", res.Restored)
			}
		})
	}
}

// TestRunRestoreFails says which server may still be in MAINT.
func TestRunRestoreFails(t *testing.T) {
	s := newSim(map[string]int{"s1": 30, "s2": 0}, nil)
	f := s.fake()
	f.readmit = func(ctx context.Context, b, srv string) error { return haproxy.ErrTimeout }
	res, err := Run(context.Background(), NewSockets([]Socket{{Name: "lb", Runtime: f}}), options())
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != Failed || !errors.Is(res.Err, haproxy.ErrTimeout) || !strings.Contains(res.Err.Error(), "s1 may still be in MAINT") {
		t.Errorf("result %s, %v; want an error naming s1", res.Outcome, res.Err)
	}
}

// TestRunNothingToDo: a balanced backend is left alone, and a plan
// without a server below target is refused before any change.
func TestRunNothingToDo(t *testing.T) {
	s := newSim(map[string]int{"s1": 21, "s2": 19}, nil)
	res, err := Run(context.Background(), NewSockets([]Socket{{Name: "lb", Runtime: s.fake()}}), options())
	if err != nil || res.Outcome != Balanced || res.Rounds != 0 {
		t.Errorf("Run = %+v, %v; want balanced with no round", res, err)
	}
	s = newSim(map[string]int{"s1": 30, "s2": 0}, nil)
	s.admin["s1"], s.admin["s2"] = haproxy.Drain, haproxy.Maint
	if _, err := Run(context.Background(), NewSockets([]Socket{{Name: "lb", Runtime: s.fake()}}), options()); !errors.Is(err, ErrNoServer) {
		t.Errorf("Run with s1 in DRAIN and s2 in MAINT = %v, want ErrNoServer", err)
	}
	o := options()
	o.Cap = 20
	s = newSim(map[string]int{"s1": 30, "s2": 20}, nil)
	if _, err := Run(context.Background(), NewSockets([]Socket{{Name: "lb", Runtime: s.fake()}}), o); !errors.Is(err, ErrNothingBelow) {
		t.Errorf("Run with every server at its cap = %v, want ErrNothingBelow", err)
	}
	if len(s.log) != 0 {
		t.Errorf("a refused rebalance changed %v", s.log)
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, o := range []Options{
		{Rate: 10},
		{Backend: "ws", Rate: 0},
		{Backend: "ws", Rate: 10, Tolerance: 1},
		{Backend: "ws", Rate: 10, Tolerance: -0.1},
		{Backend: "ws", Rate: 10, Timeout: -time.Second},
		{Backend: "ws", Rate: 10, Cap: -1},
	} {
		if err := o.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil, want an error", o)
		}
	}
	if err := (Options{Backend: "ws", Rate: 10}).Validate(); err != nil {
		t.Errorf("Validate(defaults) = %v", err)
	}
}

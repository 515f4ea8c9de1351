package target_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wsctl/wsctl/drain"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/haproxy/haproxytest"
	"github.com/wsctl/wsctl/paced"
	"github.com/wsctl/wsctl/target"
)

var _ target.Runtime = (*haproxytest.Runtime)(nil)

func server(name string, admin haproxy.AdminState, state haproxy.OpState, scur int64) haproxy.ServerStatus {
	return haproxy.ServerStatus{Backend: "ws", Server: name, Admin: admin, State: state, Scur: scur, UserWeight: 1}
}

func local(rts ...*haproxytest.Runtime) *target.Local {
	l := &target.Local{Poll: time.Millisecond}
	for i, rt := range rts {
		l.Sockets = append(l.Sockets, target.Socket{Name: string(rune('a' + i)), Runtime: rt})
	}
	return l
}

// TestHoldMaintRefusals: MAINT is refused while the server has sessions,
// and for the last server that takes clients, changing nothing; force
// sets it anyway.
func TestHoldMaintRefusals(t *testing.T) {
	ctx := context.Background()
	rt := haproxytest.NewRuntime(server("s1", haproxy.Ready, haproxy.Up, 2), server("s2", haproxy.Ready, haproxy.Up, 0))
	l := local(rt)
	_, err := l.Hold(ctx, haproxy.Ref{Server: "s1"}, haproxy.Maint, false)
	var se *target.SessionsError
	if !errors.As(err, &se) || se.Total != 2 || !errors.Is(err, target.ErrSessions) {
		t.Fatalf("sessions: got %v, want a SessionsError of 2", err)
	}
	res, err := l.Hold(ctx, haproxy.Ref{Server: "s2"}, haproxy.Maint, false)
	if err != nil || res.Outcome != target.Done || res.Ref.String() != "ws/s2" {
		t.Fatalf("idle s2: %+v, %v", res, err)
	}
	if _, err := l.Hold(ctx, haproxy.Ref{Server: "s1"}, haproxy.Maint, true); err != nil {
		t.Fatal(err)
	}
	if got, want := rt.Calls(), []string{"set ws/s2 MAINT", "set ws/s1 MAINT"}; !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
}

// TestDryRunRefusesAndChangesNothing: a dry-run drain of the last server
// refuses as the real one does; of another it says what it would do and
// changes nothing.
func TestDryRunRefusesAndChangesNothing(t *testing.T) {
	ctx := context.Background()
	rt := haproxytest.NewRuntime(server("s1", haproxy.Ready, haproxy.Up, 3), server("s2", haproxy.Maint, haproxy.Up, 0))
	dry := target.DryRun{Target: local(rt)}
	o := drain.Options{Timeout: time.Minute, Close: &drain.Close{After: time.Second, Rate: 10}}
	if _, err := dry.Drain(ctx, haproxy.Ref{Server: "s1"}, o); !errors.Is(err, drain.ErrLastServer) {
		t.Fatalf("last server: %v, want ErrLastServer", err)
	}
	res, err := dry.Admit(ctx, haproxy.Ref{Server: "s2"}, 0)
	if err != nil || len(res.Planned) == 0 || !strings.Contains(strings.Join(res.Planned, "\n"), "would set ws/s2 to READY") {
		t.Fatalf("admit: %+v, %v", res, err)
	}
	if calls := rt.Calls(); len(calls) != 0 {
		t.Errorf("a dry run changed %q", calls)
	}
}

// TestAdmitWaitsUntilHealthy: Admit readmits on every socket and waits,
// polling, until the server is healthy on all; a socket where it stays
// DOWN ends TimedOut naming it; a cancelled context ends the wait at once.
func TestAdmitWaitsUntilHealthy(t *testing.T) {
	ctx := context.Background()
	a := haproxytest.NewRuntime(server("s1", haproxy.Maint, haproxy.Down, 0))
	b := haproxytest.NewRuntime(server("s1", haproxy.Maint, haproxy.Down, 0))
	reads := 0
	b.ReadmitFunc = func(context.Context, string, string) error { return nil } // stays MAINT DOWN…
	b.ServerFunc = func(context.Context, string, string) (haproxy.ServerStatus, error) {
		reads++
		if reads < 3 {
			return server("s1", haproxy.Ready, haproxy.Down, 0), nil
		}
		return server("s1", haproxy.Ready, haproxy.Starting, 0), nil // …until its third read
	}
	res, err := local(a, b).Admit(ctx, haproxy.Ref{Backend: "ws", Server: "s1"}, time.Minute)
	if err != nil || res.Outcome != target.Done || reads != 3 || res.Places != 2 {
		t.Fatalf("got %+v, %v after %d reads; want done after 3", res, err, reads)
	}

	b.ServerFunc = func(context.Context, string, string) (haproxy.ServerStatus, error) {
		return server("s1", haproxy.Ready, haproxy.Down, 0), nil
	}
	res, err = local(a, b).Admit(ctx, haproxy.Ref{Backend: "ws", Server: "s1"}, 20*time.Millisecond)
	if err != nil || res.Outcome != paced.TimedOut || len(res.Sick) != 1 || !strings.HasPrefix(res.Sick[0], "b: DOWN READY") {
		t.Fatalf("never healthy: %+v, %v", res, err)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := local(a, b).Admit(cctx, haproxy.Ref{Backend: "ws", Server: "s1"}, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v, want context.Canceled", err)
	}
}

// TestLocalSocketNotDialled: a socket that could not be dialled is listed
// as a place that failed, after the others' servers, and refuses every
// change before any socket is touched.
func TestLocalSocketNotDialled(t *testing.T) {
	ctx := context.Background()
	rt := haproxytest.NewRuntime(server("s1", haproxy.Ready, haproxy.Up, 0), server("s2", haproxy.Ready, haproxy.Up, 0))
	dead := errors.New("runtime: /b.sock: no HAProxy socket")
	l := &target.Local{Sockets: []target.Socket{{Name: "/a.sock", Runtime: rt}, {Name: "/b.sock", Err: dead}}}
	st, err := l.Status(ctx, "ws")
	if !errors.Is(err, dead) || st.Fleet != nil || len(st.Listings) != 2 || len(st.Listings[0].Servers) != 2 ||
		st.Listings[1].Place != "/b.sock" || !errors.Is(st.Listings[1].Err, dead) {
		t.Fatalf("status: %+v, %v; want /a.sock's servers and /b.sock failed", st, err)
	}
	ref := haproxy.Ref{Server: "s1"}
	if _, err := l.Hold(ctx, ref, haproxy.Maint, true); !errors.Is(err, dead) {
		t.Errorf("hold: %v, want the dial error", err)
	}
	if _, err := l.Drain(ctx, ref, drain.Options{Force: true}); !errors.Is(err, dead) {
		t.Errorf("drain: %v, want the dial error", err)
	}
	if _, err := l.Admit(ctx, ref, 0); !errors.Is(err, dead) {
		t.Errorf("admit: %v, want the dial error", err)
	}
	if calls := rt.Calls(); len(calls) != 0 {
		t.Errorf("changed %q with a socket not dialled", calls)
	}
}

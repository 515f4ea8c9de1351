package main

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wsctl/wsctl/drain"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/haproxy/haproxytest"
	"github.com/wsctl/wsctl/target"
)

// fakeSockets are SocketOptions whose one socket is rt, in memory.
func fakeSockets(rt *haproxytest.Runtime) SocketOptions {
	return SocketOptions{Sockets: []string{"/fake.sock"}, dial: func(context.Context, string, time.Duration) (target.Runtime, error) { return rt, nil }}
}

func ws(name string, admin haproxy.AdminState, state haproxy.OpState, scur int64) haproxy.ServerStatus {
	return haproxy.ServerStatus{Backend: "ws", Server: name, Admin: admin, State: state, Scur: scur, UserWeight: 1}
}

// TestReadyRunJSON: ready -o json on a socket prints the documented
// object and readmits the server.
func TestReadyRunJSON(t *testing.T) {
	rt := haproxytest.NewRuntime(ws("s1", haproxy.Maint, haproxy.Down, 0), ws("s2", haproxy.Ready, haproxy.Up, 0))
	ios, out, _ := testIO()
	if err := readyRun(&ReadyOptions{ServerOptions: ServerOptions{IO: ios, Socket: fakeSockets(rt), Server: "s1", Output: "json"}}); err != nil {
		t.Fatal(err)
	}
	var got target.ChangeSummary
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("%v in %q", err, out)
	}
	if got.Server != "ws/s1" || got.Result != "done" || got.Admin != "READY" || got.Sockets != 1 {
		t.Errorf("got %+v", got)
	}
	if calls := rt.Calls(); !slices.Equal(calls, []string{"readmit ws/s1"}) {
		t.Errorf("calls %q", calls)
	}
}

// TestMaintRunRefusesSessions: maint refuses while sessions remain, saying
// how to drain, and changes nothing; -o json reports a forced one.
func TestMaintRunRefusesSessions(t *testing.T) {
	rt := haproxytest.NewRuntime(ws("s1", haproxy.Ready, haproxy.Up, 2), ws("s2", haproxy.Ready, haproxy.Up, 0))
	ios, out, _ := testIO()
	err := maintRun(&MaintOptions{ServerOptions: ServerOptions{IO: ios, Socket: fakeSockets(rt), Server: "ws/s1", Output: "text"}})
	want := "ws/s1 has 2 live sessions (2 on /fake.sock): drain it first with `wsctl drain ws/s1`, or use --force"
	if err == nil || err.Error() != want || len(rt.Calls()) != 0 {
		t.Fatalf("got %v (calls %q), want %q", err, rt.Calls(), want)
	}
	if err := maintRun(&MaintOptions{ServerOptions: ServerOptions{IO: ios, Socket: fakeSockets(rt), Server: "ws/s1", Output: "json"}, Force: true}); err != nil {
		t.Fatal(err)
	}
	var got target.ChangeSummary
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || got.Admin != "MAINT" || got.SessionsOpen != 2 {
		t.Fatalf("got %+v, %v from %q", got, err, out)
	}
}

// TestDrainRunDryRun: a dry-run drain of the last server is refused like
// the real one; of another it prints the plan and changes nothing.
func TestDrainRunDryRun(t *testing.T) {
	rt := haproxytest.NewRuntime(ws("s1", haproxy.Ready, haproxy.Up, 4), ws("s2", haproxy.Maint, haproxy.Up, 0))
	ios, out, _ := testIO()
	opts := &DrainOptions{ServerOptions: ServerOptions{IO: ios, Socket: fakeSockets(rt), Server: "s1", Output: "text", Fleet: FleetOptions{DryRun: true}}, Timeout: time.Minute}
	err := drainRun(opts)
	if !errors.Is(err, drain.ErrLastServer) || !strings.HasPrefix(err.Error(), "drain: ") {
		t.Fatalf("last server: %v", err)
	}
	rt.SetStateFunc(context.Background(), "ws", "s2", haproxy.Ready)
	if err := drainRun(opts); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "dry run, nothing changed:\n") || !strings.Contains(out.String(), "would set ws/s1 to DRAIN and wait up to 1m0s") {
		t.Errorf("stdout %q", out)
	}
	if calls := rt.Calls(); !slices.Equal(calls, []string{"set ws/s2 READY"}) {
		t.Errorf("the dry run changed something: %q", calls)
	}
}

package main

import (
	"context"
	"strings"
	"syscall"
	"testing"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/haproxy/haproxytest"
)

// TestReadyBringsTrafficBack drains s2 into MAINT, then readies it with
// --wait-healthy: new clients land on it again.
func TestReadyBringsTrafficBack(t *testing.T) {
	f := startFixture(t, nil)
	if r := execute(t, drainCmd, false, nil, "ws/s2", "--socket", f.lb.AdminSocket); r.code != 0 {
		t.Fatalf("drain: exit %d, %s", r.code, r.errOut)
	}
	before := haproxytest.StartClients(t, f.lb.URL(), 4, false)
	if on := before.Connected(); on["s2"] != 0 {
		t.Fatalf("clients on the drained s2: %v", on)
	}

	// Off a terminal: the one line of the result is in a pipeline's log.
	r := execute(t, readyCmd, false, nil, "ws/s2", "--socket", f.lb.AdminSocket, "--wait-healthy", "5s")
	if r.code != 0 || !strings.Contains(r.out, "ws/s2 is READY and healthy after") {
		t.Fatalf("ready: exit %d, stdout %q, stderr %q", r.code, r.out, r.errOut)
	}
	s, err := f.c.Server(context.Background(), "ws", "s2")
	if err != nil || s.Admin != haproxy.Ready || s.State == haproxy.Down {
		t.Fatalf("after ready: %+v, %v", s, err)
	}
	// leastconn: s1 holds 4 clients, so the next 4 all go to s2.
	after := haproxytest.StartClients(t, f.lb.URL(), 4, false)
	if on := after.Connected(); on["s2"] != 4 {
		t.Errorf("new clients after ready = %v, want 4 on s2", on)
	}
}

// TestReadySaysSo readies a server in MAINT without waiting: one line off a
// terminal.
func TestReadySaysSo(t *testing.T) {
	f := startFixture(t, nil)
	if err := f.c.SetState(context.Background(), "ws", "s2", haproxy.Maint); err != nil {
		t.Fatal(err)
	}
	r := execute(t, readyCmd, false, nil, "ws/s2", "--socket", f.lb.AdminSocket)
	if r.code != 0 || r.out != "ws/s2 is READY\n" || r.errOut != "" {
		t.Errorf("exit %d, stdout %q, stderr %q; want 0 and one line", r.code, r.out, r.errOut)
	}
}

// TestReadyWaitHealthyTimesOut readies a server whose backend fails its
// health check: exit 3 naming the check, and the server stays READY.
func TestReadyWaitHealthyTimesOut(t *testing.T) {
	servers := haproxytest.Backends(t, "s1", "s2")
	f := startFixture(t, servers)
	ctx := context.Background()
	if err := f.c.SetState(ctx, "ws", "s2", haproxy.Maint); err != nil {
		t.Fatal(err)
	}
	servers[1].Proc.Signal(t, syscall.SIGUSR1) // wsecho: /health answers 503
	r := execute(t, readyCmd, false, nil, "ws/s2", "--socket", f.lb.AdminSocket, "--wait-healthy", "2500ms")
	if r.code != exitTimeout {
		t.Fatalf("exit %d, want 3; stderr %q", r.code, r.errOut)
	}
	want := "wsctl: ws/s2 is READY but not healthy after 2.5s: " + f.lb.AdminSocket + ": DOWN READY, check L7STS"
	if !strings.HasPrefix(r.errOut, want) {
		t.Errorf("stderr %q, want %q", r.errOut, want)
	}
	if got := f.admin(t, "s2"); got != haproxy.Ready {
		t.Errorf("s2 is %s, want READY", got)
	}
}

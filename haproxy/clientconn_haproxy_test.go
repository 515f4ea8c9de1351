package haproxy_test

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/haproxy/haproxytest"
	"github.com/wsctl/wsctl/internal/lbtest"
)

// cumConns is HAProxy's count of connections accepted so far, the admin
// socket's included (the `show info` asking is one of them).
func cumConns(t *testing.T, socket string) int {
	t.Helper()
	for _, line := range strings.Split(lbtest.SocketCommand(t, socket, "show info"), "\n") {
		if v, ok := strings.CutPrefix(line, "CumConns: "); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("show info: no CumConns")
	return 0
}

// TestSessionIsOneConnection: a Session lists, applies a batch (with its
// read-back) and lists again on one connection, with the answers of the
// Client's own calls; its Conn is dead once Session returns.
func TestSessionIsOneConnection(t *testing.T) {
	lb := haproxytest.StartLB(t, haproxytest.Config{}, haproxytest.Backends(t, "s1", "s2"))
	ctx := context.Background()
	c := lb.Client(t)
	// Counted once HAProxy has accepted every connection made before
	// (the start's readiness checks, Dial's probe): two reads in a row
	// then differ by the second's own connection alone.
	before := cumConns(t, lb.AdminSocket)
	for deadline := time.Now().Add(5 * time.Second); ; {
		next := cumConns(t, lb.AdminSocket)
		if next == before+1 || time.Now().After(deadline) {
			before = next
			break
		}
		before = next
	}
	var kept haproxy.Conn
	var states, servers []haproxy.ServerStatus
	err := c.Session(ctx, func(conn haproxy.Conn) error {
		kept = conn
		var err error
		if states, err = conn.States("ws"); err != nil {
			return err
		}
		if _, err := conn.States("nope"); !errors.Is(err, haproxy.ErrUnknownBackend) {
			t.Errorf("States of an unknown backend: %v, want ErrUnknownBackend", err)
		}
		for i, err := range conn.Apply([]haproxy.Change{
			{Kind: haproxy.ChangeAdd, Backend: "ws", Server: "d1", Addr: netip.MustParseAddr("127.0.0.1"), Port: 20001},
			{Kind: haproxy.ChangeState, Backend: "ws", Server: "s2", State: haproxy.Drain},
			{Kind: haproxy.ChangeState, Backend: "ws", Server: "nope", State: haproxy.Drain},
		}) {
			if (err != nil) != (i == 2) {
				t.Errorf("change %d: %v", i, err)
			}
		}
		servers, err = conn.Servers("ws")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// The session, and the `show info` of cumConns.
	if got := cumConns(t, lb.AdminSocket) - before; got != 2 {
		t.Errorf("the session took %d connections, want 1", got-1)
	}
	if len(states) != 2 || len(servers) != 3 {
		t.Errorf("%d servers listed before the batch and %d after, want 2 and 3", len(states), len(servers))
	}
	want, err := c.Servers(ctx, "ws")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, servers, cmpopts.IgnoreFields(haproxy.ServerStatus{}, "State", "Check", "Scur", "Smax", "Stot")); diff != "" {
		t.Errorf("the Conn's Servers differs from the Client's (-want +got):\n%s", diff)
	}
	if _, err := kept.States("ws"); err == nil || !strings.Contains(err.Error(), "session has ended") {
		t.Errorf("a Conn kept past its Session: %v, want the session ended", err)
	}
}

package haproxy_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/haproxy/haproxytest"
)

// startChanged starts HAProxy with backend "ws" of servers, makes changes
// and returns a client.
func startChanged(t *testing.T, servers []string, changes ...haproxy.Change) *haproxy.Client {
	t.Helper()
	lb := haproxytest.StartLB(t, haproxytest.Config{}, haproxytest.Backends(t, servers...))
	ctx := context.Background()
	c := lb.Client(t)
	for i, err := range c.Apply(ctx, changes) {
		if err != nil {
			t.Fatalf("change %d: %v", i, err)
		}
	}
	return c
}

// TestStatesAreServersWithoutStats: States reports every server as Servers
// does, `show stat`'s figures aside — addresses included (IPv4 and IPv6,
// config and dynamic servers, a drained one), since the agent plans
// address changes from them.
func TestStatesAreServersWithoutStats(t *testing.T) {
	ctx := context.Background()
	c := startChanged(t, []string{"s1", "s2"},
		haproxy.Change{Kind: haproxy.ChangeAdd, Backend: "ws", Server: "d4", Addr: netip.MustParseAddr("127.0.0.1"), Port: 20001},
		haproxy.Change{Kind: haproxy.ChangeAdd, Backend: "ws", Server: "d6", Addr: netip.MustParseAddr("::1"), Port: 20002},
		haproxy.Change{Kind: haproxy.ChangeState, Backend: "ws", Server: "s2", State: haproxy.Drain},
	)
	full, err := c.Servers(ctx, "ws")
	if err != nil {
		t.Fatal(err)
	}
	states, err := c.States(ctx, "ws")
	if err != nil {
		t.Fatal(err)
	}
	for i := range full {
		full[i].Scur, full[i].Smax, full[i].Stot, full[i].Check, full[i].Weight, full[i].Status = 0, 0, 0, "", 0, ""
	}
	if len(full) != 4 {
		t.Fatalf("Servers listed %d servers, want 4: %+v", len(full), full)
	}
	if diff := cmp.Diff(full, states); diff != "" {
		t.Errorf("States differs from Servers without stats (-want +got):\n%s", diff)
	}
	if _, err := c.States(ctx, "nope"); !errors.Is(err, haproxy.ErrUnknownBackend) {
		t.Errorf("States of an unknown backend: %v, want ErrUnknownBackend", err)
	}
}

// TestWithStatsReadsServersAlone: WithStats completes rows of States with
// the figures Servers has for them (a dynamic server and a drained one,
// read by their IDs on one connection), and a row whose ID no longer names
// its server (deleted) is ErrUnknownServer, not another server's figures.
func TestWithStatsReadsServersAlone(t *testing.T) {
	ctx := context.Background()
	c := startChanged(t, []string{"s1", "s2", "s3"},
		haproxy.Change{Kind: haproxy.ChangeAdd, Backend: "ws", Server: "d4", Addr: netip.MustParseAddr("127.0.0.1"), Port: 20001},
		haproxy.Change{Kind: haproxy.ChangeState, Backend: "ws", Server: "s2", State: haproxy.Drain},
	)
	states, err := c.States(ctx, "ws")
	if err != nil {
		t.Fatal(err)
	}
	full, err := c.Servers(ctx, "ws")
	if err != nil {
		t.Fatal(err)
	}
	pick := func(all []haproxy.ServerStatus, names ...string) []haproxy.ServerStatus {
		var out []haproxy.ServerStatus
		for _, name := range names {
			for _, s := range all {
				if s.Server == name {
					out = append(out, s)
				}
			}
		}
		return out
	}
	rows := pick(states, "s2", "d4")
	if len(rows) != 2 || rows[0].ID == 0 || rows[1].ID == 0 {
		t.Fatalf("States: rows %+v, want s2 and d4 with their IDs", rows)
	}
	got, err := c.WithStats(ctx, rows)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(pick(full, "s2", "d4"), got); diff != "" {
		t.Errorf("WithStats differs from Servers (-want +got):\n%s", diff)
	}
	// The drained server's row says so in its status: a poll of one
	// server's state needs nothing else.
	if !strings.HasPrefix(got[0].Status, "DRAIN") {
		t.Errorf("WithStats: s2's status %q, want DRAIN (and its checks, as \"DRAIN 1/2\")", got[0].Status)
	}

	gone := pick(states, "d4")
	for i, err := range c.Apply(ctx, []haproxy.Change{
		{Kind: haproxy.ChangeState, Backend: "ws", Server: "d4", State: haproxy.Maint},
		{Kind: haproxy.ChangeDelete, Backend: "ws", Server: "d4"},
	}) {
		if err != nil {
			t.Fatalf("delete, change %d: %v", i, err)
		}
	}
	if _, err := c.WithStats(ctx, gone); !errors.Is(err, haproxy.ErrUnknownServer) {
		t.Errorf("WithStats of a deleted server: %v, want ErrUnknownServer", err)
	}
}

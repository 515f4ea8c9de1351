package haproxy_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/haproxy/haproxytest"
)

// TestStatesAreServersWithoutStats: States reports every server as Servers
// does, `show stat`'s figures aside — addresses included (IPv4 and IPv6,
// config and dynamic servers, a drained one), since the agent plans
// address changes from them.
func TestStatesAreServersWithoutStats(t *testing.T) {
	lb := haproxytest.StartLB(t, haproxytest.Config{}, haproxytest.Backends(t, "s1", "s2"))
	ctx := context.Background()
	c, err := haproxy.Dial(ctx, lb.AdminSocket, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, err := range c.Apply(ctx, []haproxy.Change{
		{Kind: haproxy.ChangeAdd, Backend: "ws", Server: "d4", Addr: netip.MustParseAddr("127.0.0.1"), Port: 20001},
		{Kind: haproxy.ChangeAdd, Backend: "ws", Server: "d6", Addr: netip.MustParseAddr("::1"), Port: 20002},
		{Kind: haproxy.ChangeState, Backend: "ws", Server: "s2", State: haproxy.Drain},
	}) {
		if err != nil {
			t.Fatalf("change %d: %v", i, err)
		}
	}
	full, err := c.Servers(ctx, "ws")
	if err != nil {
		t.Fatal(err)
	}
	states, err := c.States(ctx, "ws")
	if err != nil {
		t.Fatal(err)
	}
	for i := range full {
		full[i].Scur, full[i].Smax, full[i].Stot, full[i].Check, full[i].Weight = 0, 0, 0, "", 0
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

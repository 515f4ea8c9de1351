package haproxy_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/haproxy/haproxytest"
)

// dynBackend is a backend with dynamic cookies, for ChangeAdd's
// DynamicCookies.
const dynBackend = `backend dyn
    balance leastconn
    cookie SERVERID insert indirect nocache dynamic
    dynamic-cookie-key wsctl-test
`

// batch1000 returns 500 adds to backend ws followed by 500 changes of the
// added servers (weights, addresses, states): 1,000 changes.
func batch1000(host netip.Addr) []haproxy.Change {
	var out []haproxy.Change
	for i := range 500 {
		out = append(out, haproxy.Change{
			Kind: haproxy.ChangeAdd, Backend: "ws", Server: fmt.Sprintf("d%d", i),
			Addr: host, Port: 20000 + i,
			Options: haproxy.ServerOptions{Check: i%2 == 0, Inter: "10s", Weight: 10},
		})
	}
	for i := range 500 {
		ch := haproxy.Change{Backend: "ws", Server: fmt.Sprintf("d%d", i)}
		switch {
		case i < 200:
			ch.Kind, ch.Weight = haproxy.ChangeWeight, 50
		case i < 350:
			ch.Kind, ch.Addr, ch.Port = haproxy.ChangeAddr, host, 30000+i
		default:
			ch.Kind, ch.State = haproxy.ChangeState, haproxy.Drain
		}
		out = append(out, ch)
	}
	return out
}

// TestApply applies 1,000 changes in one batch against a real HAProxy and
// checks that each is reported applied and is what HAProxy shows; then a
// batch mixing refusals, invalid changes and changes that override each
// other, where each change gets its own verdict.
func TestApply(t *testing.T) {
	servers := haproxytest.Backends(t, "s1")
	lb := haproxytest.StartLB(t, haproxytest.Config{Extra: dynBackend}, servers)
	ctx := context.Background()
	c := lb.Client(t)
	host := netip.MustParseAddr("127.0.0.1")

	changes := batch1000(host)
	start := time.Now()
	errs := c.Apply(ctx, changes)
	t.Logf("1,000 changes applied in %s", time.Since(start))
	for i, err := range errs {
		if err != nil {
			t.Fatalf("change %d (%+v): %v", i, changes[i], err)
		}
	}
	all, err := c.Servers(ctx, "ws")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]haproxy.ServerStatus{}
	for _, s := range all {
		got[s.Server] = s
	}
	if len(got) != 501 {
		t.Fatalf("ws has %d servers, want 501", len(got))
	}
	for i := range 500 {
		s := got[fmt.Sprintf("d%d", i)]
		weight, port, admin := int64(10), 20000+i, haproxy.Ready
		switch {
		case i < 200:
			weight = 50
		case i < 350:
			port = 30000 + i
		default:
			admin = haproxy.Drain
		}
		if s.UserWeight != weight || s.Addr != fmt.Sprintf("127.0.0.1:%d", port) || s.Admin != admin || s.Checked != (i%2 == 0) {
			t.Errorf("d%d = %+v, want weight %d, port %d, %s, checked %v", i, s, weight, port, admin, i%2 == 0)
		}
	}

	zoned, _ := netip.ParseAddr("fe80::1%x\nset server ws/s1 state maint")
	mixed := []haproxy.Change{
		{Kind: haproxy.ChangeState, Backend: "ws", Server: "nope", State: haproxy.Drain},
		{Kind: haproxy.ChangeState, Backend: "ws", Server: "d0;set server ws/s1 state maint", State: haproxy.Drain},
		{Kind: haproxy.ChangeAddr, Backend: "ws", Server: "d0", Addr: zoned, Port: 80},
		{Kind: haproxy.ChangeWeight, Backend: "ws", Server: "d0", Weight: 7},
		{Kind: haproxy.ChangeWeight, Backend: "ws", Server: "d0", Weight: 8},
		{Kind: haproxy.ChangeAdd, Backend: "ws", Server: "d1", Addr: host, Port: 80},
		{Kind: haproxy.ChangeDelete, Backend: "ws", Server: "d1"},
		{Kind: haproxy.ChangeState, Backend: "ws", Server: "d2", State: haproxy.Maint},
		{Kind: haproxy.ChangeDelete, Backend: "ws", Server: "d2"},
		{Kind: haproxy.ChangeAdd, Backend: "ws", Server: "d2", Addr: host, Port: 81, Options: haproxy.ServerOptions{Weight: 3}},
		{Kind: haproxy.ChangeState, Backend: "ws", Server: "d2", State: haproxy.Drain},
		{Kind: haproxy.ChangeHealth, Backend: "ws", Server: "d4", Health: haproxy.HealthDown},
		{Kind: haproxy.ChangeAdd, Backend: "dyn", Server: "x", Addr: host, Port: 82, DynamicCookies: true},
		{Kind: haproxy.ChangeState, Backend: "nope", Server: "x", State: haproxy.Drain},
		{Kind: "rename", Backend: "ws", Server: "d5"},
	}
	want := []error{
		haproxy.ErrCommand, haproxy.ErrInvalidName, haproxy.ErrInvalidName,
		nil, nil,
		haproxy.ErrCommand, // d1 exists
		haproxy.ErrCommand, // d1 is READY
		nil, nil, nil, nil, nil, nil,
		haproxy.ErrCommand, // no such backend
		nil,
	}
	errs = c.Apply(ctx, mixed)
	for i, err := range errs {
		if i == len(errs)-1 {
			if err == nil {
				t.Errorf("change %d (%+v): no error for an unknown kind", i, mixed[i])
			}
			continue
		}
		if want[i] == nil && err != nil || want[i] != nil && !errors.Is(err, want[i]) {
			t.Errorf("change %d (%+v): %v, want %v", i, mixed[i], err, want[i])
		}
	}
	t.Log(errs)
	// The agent must know an add that made nothing (d1 exists) from one
	// refused at a later step, which leaves the server added.
	for i, err := range errs {
		if notAdded := errors.Is(err, haproxy.ErrNotAdded); notAdded != (i == 5) {
			t.Errorf("change %d (%+v): %v, ErrNotAdded %v", i, mixed[i], err, notAdded)
		}
	}
	d0, err := c.Server(ctx, "ws", "d0")
	if err != nil || d0.UserWeight != 8 {
		t.Errorf("d0 = %+v, %v; want weight 8", d0, err)
	}
	d2, err := c.Server(ctx, "ws", "d2")
	if err != nil || d2.Addr != "127.0.0.1:81" || d2.Admin != haproxy.Drain || d2.UserWeight != 3 {
		t.Errorf("d2 = %+v, %v; want re-added at :81, DRAIN, weight 3", d2, err)
	}
	if s1, err := c.Server(ctx, "ws", "s1"); err != nil || s1.Admin != haproxy.Ready {
		t.Errorf("s1 = %+v, %v; want READY", s1, err)
	}
}

// BenchmarkApply1000 applies batches of 1,000 changes to a real HAProxy:
// in turn 500 adds and 500 weights, then 500 MAINTs and 500 deletes of
// the same servers.
func BenchmarkApply1000(b *testing.B) {
	servers := haproxytest.Backends(b, "s1")
	lb := haproxytest.StartLB(b, haproxytest.Config{}, servers)
	ctx := context.Background()
	c := lb.Client(b)
	host := netip.MustParseAddr("127.0.0.1")
	var add, del []haproxy.Change
	for i := range 500 {
		name := fmt.Sprintf("d%d", i)
		add = append(add, haproxy.Change{Kind: haproxy.ChangeAdd, Backend: "ws", Server: name, Addr: host, Port: 20000 + i,
			Options: haproxy.ServerOptions{Check: true, Inter: "10s", Weight: 10}})
		del = append(del, haproxy.Change{Kind: haproxy.ChangeState, Backend: "ws", Server: name, State: haproxy.Maint})
	}
	for i := range 500 {
		name := fmt.Sprintf("d%d", i)
		add = append(add, haproxy.Change{Kind: haproxy.ChangeWeight, Backend: "ws", Server: name, Weight: 20})
		del = append(del, haproxy.Change{Kind: haproxy.ChangeDelete, Backend: "ws", Server: name})
	}
	n := 0
	for b.Loop() {
		batch := add
		if n%2 == 1 {
			batch = del
		}
		n++
		for i, err := range c.Apply(ctx, batch) {
			if err != nil {
				b.Fatalf("change %d: %v", i, err)
			}
		}
	}
}

// TestApplyReadmit: ChangeReadmit on a real HAProxy. A server in DRAIN is
// READY and up at once; one in MAINT (checks on, no session) is READY but
// down until a fresh check passes, as Readmit leaves it, whether the
// caller saw it in MAINT or in DRAIN; a row at the ID given that is
// another server's leaves a server last seen in DRAIN READY as it was, and
// one last seen in MAINT untouched, with an error.
func TestApplyReadmit(t *testing.T) {
	servers := haproxytest.Backends(t, "s1", "s2")
	// Checks far apart: none passes between the readmission and the read.
	lb := haproxytest.StartLB(t, haproxytest.Config{ServerOptions: "inter 60s"}, servers)
	ctx := context.Background()
	c := lb.Client(t)
	server := func(name string) haproxy.ServerStatus {
		t.Helper()
		s, err := c.Server(ctx, "ws", name)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s1 := server("s1")
	tests := []struct {
		name       string
		from, seen haproxy.AdminState
		server     string
		id         int64
		admin      haproxy.AdminState
		state      haproxy.OpState
	}{
		{"from DRAIN", haproxy.Drain, haproxy.Drain, "s1", s1.ID, haproxy.Ready, haproxy.Up},
		{"from MAINT", haproxy.Maint, haproxy.Maint, "s1", s1.ID, haproxy.Ready, haproxy.Down},
		{"from MAINT, seen in DRAIN", haproxy.Maint, haproxy.Drain, "s1", s1.ID, haproxy.Ready, haproxy.Down},
		{"another server's ID, seen in DRAIN", haproxy.Maint, haproxy.Drain, "s2", s1.ID, haproxy.Ready, haproxy.Up},
		{"another server's ID, seen in MAINT", haproxy.Maint, haproxy.Maint, "s2", s1.ID, haproxy.Maint, haproxy.Down},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := c.SetState(ctx, "ws", tt.server, tt.from); err != nil {
				t.Fatal(err)
			}
			ch := haproxy.Change{Kind: haproxy.ChangeReadmit, Backend: "ws", Server: tt.server, ID: tt.id, Checked: server(tt.server).Checked, State: tt.seen}
			err := c.Apply(ctx, []haproxy.Change{ch})[0]
			var unknown *haproxy.UnknownServerError
			if (tt.admin == haproxy.Maint) != errors.As(err, &unknown) {
				t.Errorf("Apply: %v", err)
			}
			if s := server(tt.server); s.Admin != tt.admin || s.State != tt.state {
				t.Errorf("%s is %s and %s afterwards, want %s and %s", tt.server, s.Admin, s.State, tt.admin, tt.state)
			}
		})
	}
}

// TestApplyAddInState: a ChangeAdd with a State leaves the server added in
// that state on a real HAProxy (the server-state file's restore of DRAIN
// and MAINT servers), read back as such.
func TestApplyAddInState(t *testing.T) {
	lb := haproxytest.StartLB(t, haproxytest.Config{}, haproxytest.Backends(t, "s1"))
	ctx := context.Background()
	c := lb.Client(t)
	host := netip.MustParseAddr("127.0.0.1")
	for i, state := range []haproxy.AdminState{haproxy.Drain, haproxy.Maint, haproxy.Ready} {
		name := fmt.Sprintf("r%d", i)
		ch := haproxy.Change{Kind: haproxy.ChangeAdd, Backend: "ws", Server: name, Addr: host, Port: 20000 + i,
			Options: haproxy.ServerOptions{Check: true}, State: state}
		if err := c.Apply(ctx, []haproxy.Change{ch})[0]; err != nil {
			t.Fatalf("add %s in %s: %v", name, state, err)
		}
		if s, err := c.Server(ctx, "ws", name); err != nil || s.Admin != state {
			t.Errorf("%s added in %s is %s (%v)", name, state, s.Admin, err)
		}
	}
}

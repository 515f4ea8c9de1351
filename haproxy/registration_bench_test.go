package haproxy_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/haproxy/haproxytest"
)

// BenchmarkRegistration1000 is HAProxy's part of one registration in a
// backend of 1,000 servers, as the agent's sync makes it: list the
// backend, add the server (and set it ready), read it back. "per call"
// dials a connection for the listing and another for the batch, as syncs
// did before Session; "session" does it all on one. The server is deleted
// again between iterations, untimed.
func BenchmarkRegistration1000(b *testing.B) {
	lb := haproxytest.StartLB(b, haproxytest.Config{}, haproxytest.Backends(b, "s1"))
	ctx := context.Background()
	c := lb.Client(b)
	host := netip.MustParseAddr("127.0.0.1")
	var more []haproxy.Change
	for i := range 1000 {
		more = append(more, haproxy.Change{Kind: haproxy.ChangeAdd, Backend: "ws", Server: fmt.Sprintf("m%04d", i), Addr: host, Port: 30000 + i})
	}
	for _, err := range c.Apply(ctx, more) {
		if err != nil {
			b.Fatal(err)
		}
	}
	add := []haproxy.Change{{Kind: haproxy.ChangeAdd, Backend: "ws", Server: "new", Addr: host, Port: 29999}}
	remove := []haproxy.Change{
		{Kind: haproxy.ChangeState, Backend: "ws", Server: "new", State: haproxy.Maint},
		{Kind: haproxy.ChangeDelete, Backend: "ws", Server: "new"},
	}
	register := func(b *testing.B, states func() ([]haproxy.ServerStatus, error), apply func([]haproxy.Change) []error) {
		if _, err := states(); err != nil {
			b.Fatal(err)
		}
		if err := apply(add)[0]; err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		for _, err := range c.Apply(ctx, remove) {
			if err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
	}
	b.Run("per call", func(b *testing.B) {
		for range b.N {
			register(b, func() ([]haproxy.ServerStatus, error) { return c.States(ctx, "ws") },
				func(chs []haproxy.Change) []error { return c.Apply(ctx, chs) })
		}
	})
	b.Run("session", func(b *testing.B) {
		for range b.N {
			err := c.Session(ctx, func(conn haproxy.Conn) error {
				register(b, func() ([]haproxy.ServerStatus, error) { return conn.States("ws") }, conn.Apply)
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

package runtime_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"testing"

	"github.com/wsctl/wsctl/runtime"
	"github.com/wsctl/wsctl/runtime/runtimetest"
)

// TestDynamicServers adds a server at runtime, brings it into rotation,
// and deletes it, against a real HAProxy; refusals surface as ErrCommand.
func TestDynamicServers(t *testing.T) {
	servers := runtimetest.Backends(t, "s1", "s2")
	lb := runtimetest.StartLB(t, runtimetest.Config{}, servers[:1])
	ctx := context.Background()
	c, err := runtime.Dial(ctx, lb.AdminSocket, 0)
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(servers[1].Addr)
	p, _ := strconv.Atoi(port)
	o := runtime.ServerOptions{Check: true, Inter: "200ms", Fall: 2, Rise: 1, Weight: 100}
	if err := c.AddServer(ctx, "ws", "s2", netip.MustParseAddr(host), p, o); err != nil {
		t.Fatal(err)
	}
	if err := c.AddServer(ctx, "ws", "s2", netip.MustParseAddr(host), p, o); !errors.Is(err, runtime.ErrCommand) {
		t.Errorf("adding s2 twice: err = %v, want ErrCommand", err)
	}
	if err := c.EnableHealth(ctx, "ws", "s2"); err != nil {
		t.Fatal(err)
	}
	if err := c.SetState(ctx, "ws", "s2", runtime.Ready); err != nil {
		t.Fatal(err)
	}
	s, err := c.Server(ctx, "ws", "s2")
	if err != nil {
		t.Fatal(err)
	}
	if s.Addr != servers[1].Addr || s.UserWeight != 100 || !s.Checked {
		t.Errorf("added server: %+v", s)
	}
	if err := c.DeleteServer(ctx, "ws", "s2"); !errors.Is(err, runtime.ErrCommand) {
		t.Errorf("deleting a READY server: err = %v, want ErrCommand", err)
	}
	if err := c.SetState(ctx, "ws", "s2", runtime.Maint); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteServer(ctx, "ws", "s2"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Server(ctx, "ws", "s2"); !errors.Is(err, runtime.ErrUnknownServer) {
		t.Errorf("after del server: err = %v, want ErrUnknownServer", err)
	}
}

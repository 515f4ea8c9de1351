package haproxy_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/haproxy/haproxytest"
)

// TestDynamicServers adds a server at runtime, brings it into rotation,
// and deletes it, against a real HAProxy; refusals surface as ErrCommand.
func TestDynamicServers(t *testing.T) {
	servers := haproxytest.Backends(t, "s1", "s2")
	lb := haproxytest.StartLB(t, haproxytest.Config{}, servers[:1])
	ctx := context.Background()
	c := lb.Client(t)
	host, port, _ := net.SplitHostPort(servers[1].Addr)
	p, _ := strconv.Atoi(port)
	o := haproxy.ServerOptions{Check: true, Inter: "200ms", Fall: 2, Rise: 1, Weight: 100}
	if err := c.AddServer(ctx, "ws", "s2", netip.MustParseAddr(host), p, o); err != nil {
		t.Fatal(err)
	}
	if err := c.AddServer(ctx, "ws", "s2", netip.MustParseAddr(host), p, o); !errors.Is(err, haproxy.ErrCommand) {
		t.Errorf("adding s2 twice: err = %v, want ErrCommand", err)
	}
	if err := c.EnableHealth(ctx, "ws", "s2"); err != nil {
		t.Fatal(err)
	}
	if err := c.SetState(ctx, "ws", "s2", haproxy.Ready); err != nil {
		t.Fatal(err)
	}
	s, err := c.Server(ctx, "ws", "s2")
	if err != nil {
		t.Fatal(err)
	}
	if s.Addr != servers[1].Addr || s.UserWeight != 100 || !s.Checked {
		t.Errorf("added server: %+v", s)
	}
	if err := c.DeleteServer(ctx, "ws", "s2"); !errors.Is(err, haproxy.ErrCommand) {
		t.Errorf("deleting a READY server: err = %v, want ErrCommand", err)
	}
	if err := c.SetState(ctx, "ws", "s2", haproxy.Maint); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteServer(ctx, "ws", "s2"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Server(ctx, "ws", "s2"); !errors.Is(err, haproxy.ErrUnknownServer) {
		t.Errorf("after del server: err = %v, want ErrUnknownServer", err)
	}
}

// TestAddServerCookie adds a server with a sticky cookie at runtime: HAProxy
// 3.0 takes it and hands the cookie to clients; on 2.6, which refuses it,
// AddServer and Apply refuse it first (ErrNeedsVersion) and add nothing.
func TestAddServerCookie(t *testing.T) {
	servers := haproxytest.Backends(t, "s1", "s2")
	lb := haproxytest.StartLB(t, haproxytest.Config{}, servers[:1])
	ctx := context.Background()
	c := lb.Client(t)
	ap := netip.MustParseAddrPort(servers[1].Addr)
	o := haproxy.ServerOptions{Cookie: "cookie-s2"}
	add := haproxy.Change{Kind: haproxy.ChangeAdd, Backend: "ws", Server: "s2", Addr: ap.Addr(), Port: int(ap.Port()), Options: o}
	if !c.Info().AtLeast(3, 0) {
		if err := c.AddServer(ctx, "ws", "s2", ap.Addr(), int(ap.Port()), o); !errors.Is(err, haproxy.ErrNeedsVersion) {
			t.Errorf("AddServer with a cookie on %s: err = %v, want ErrNeedsVersion", c.Info().Version, err)
		}
		if err := c.Apply(ctx, []haproxy.Change{add})[0]; !errors.Is(err, haproxy.ErrNeedsVersion) {
			t.Errorf("Apply(ChangeAdd) with a cookie on %s: err = %v, want ErrNeedsVersion", c.Info().Version, err)
		}
		if _, err := c.Server(ctx, "ws", "s2"); !errors.Is(err, haproxy.ErrUnknownServer) {
			t.Errorf("s2 after the refusals: err = %v, want ErrUnknownServer", err)
		}
		return
	}
	if err := c.Apply(ctx, []haproxy.Change{add, {Kind: haproxy.ChangeState, Backend: "ws", Server: "s1", State: haproxy.Maint}}); errors.Join(err...) != nil {
		t.Fatal(errors.Join(err...))
	}
	resp, err := http.Get("http://" + lb.Frontend + "/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Set-Cookie"); !strings.HasPrefix(got, "SERVERID=cookie-s2;") {
		t.Errorf("Set-Cookie %q, want the cookie of the server added at runtime", got)
	}
}

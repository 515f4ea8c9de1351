package haproxy_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/haproxy/haproxytest"
)

// TestSocketClient runs the whole client against one real HAProxy: listing,
// name resolution, state changes read back, sessions, injection.
func TestSocketClient(t *testing.T) {
	servers := haproxytest.Backends(t, "s1", "s2")
	dir := t.TempDir()
	lb := haproxytest.StartLB(t, haproxytest.Config{Extra: fmt.Sprintf(`global
    stats socket %s/user.sock level user

backend other
    server s2 %s
`, dir, servers[1].Addr)}, servers)
	ctx := context.Background()
	c, err := haproxy.Dial(ctx, lb.AdminSocket, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if v := c.Info().Version; !strings.HasPrefix(v, "2.") && !strings.HasPrefix(v, "3.") {
		t.Errorf("Info().Version = %q", v)
	}

	t.Run("servers", func(t *testing.T) {
		all, err := c.Servers(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range all {
			got = append(got, fmt.Sprintf("%s/%s %s %s", s.Backend, s.Server, s.Admin, s.Addr))
		}
		want := []string{
			"other/s2 READY " + servers[1].Addr,
			"ws/s1 READY " + servers[0].Addr,
			"ws/s2 READY " + servers[1].Addr,
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Servers (-want +got):\n%s", diff)
		}
		_, err = c.Servers(ctx, "nope")
		var unknown *haproxy.UnknownBackendError
		if !errors.Is(err, haproxy.ErrUnknownBackend) || !errors.As(err, &unknown) || !cmp.Equal(unknown.Known, []string{"other", "ws"}) {
			t.Errorf("Servers(nope) error = %v, want ErrUnknownBackend listing other, ws", err)
		}
	})

	t.Run("find", func(t *testing.T) {
		if s, err := c.Find(ctx, haproxy.Ref{Server: "s1"}); err != nil || s.Backend != "ws" {
			t.Errorf("Find(s1) = %+v, %v", s, err)
		}
		_, err := c.Find(ctx, haproxy.Ref{Server: "s2"})
		var amb *haproxy.AmbiguousError
		if !errors.As(err, &amb) || !cmp.Equal(amb.Candidates, []string{"other/s2", "ws/s2"}) {
			t.Errorf("Find(s2) error = %v, want ambiguous other/s2, ws/s2", err)
		}
		if s, err := c.Find(ctx, haproxy.Ref{Backend: "other", Server: "s2"}); err != nil || s.Backend != "other" {
			t.Errorf("Find(other/s2) = %+v, %v", s, err)
		}
		_, err = c.Find(ctx, haproxy.Ref{Server: "nope"})
		var unk *haproxy.UnknownServerError
		if !errors.As(err, &unk) || len(unk.Known) != 3 {
			t.Errorf("Find(nope) error = %v, want unknown listing 3 servers", err)
		}
	})

	t.Run("set state reads back", func(t *testing.T) {
		for _, st := range []haproxy.AdminState{haproxy.Drain, haproxy.Maint, haproxy.Drain, haproxy.Ready} {
			if err := c.SetState(ctx, "ws", "s1", st); err != nil {
				t.Fatalf("SetState(%s): %v", st, err)
			}
			s, err := c.Server(ctx, "ws", "s1")
			if err != nil || s.Admin != st {
				t.Fatalf("after SetState(%s): %+v, %v", st, s, err)
			}
		}
		if err := c.SetState(ctx, "ws", "nope", haproxy.Drain); !errors.Is(err, haproxy.ErrCommand) {
			t.Errorf("SetState(ws/nope) error = %v, want ErrCommand", err)
		}
		if err := c.SetWeight(ctx, "ws", "s1", 50); err != nil {
			t.Errorf("SetWeight: %v", err)
		}
		if s, _ := c.Server(ctx, "ws", "s1"); s.UserWeight != 50 {
			t.Errorf("UserWeight = %d, want 50", s.UserWeight)
		}
		ap := netip.MustParseAddrPort(servers[0].Addr)
		if err := c.SetAddr(ctx, "ws", "s1", ap.Addr(), int(ap.Port())); err != nil {
			t.Errorf("SetAddr: %v", err)
		}
		if err := c.SetWeight(ctx, "ws", "s1", 1); err != nil {
			t.Errorf("SetWeight: %v", err)
		}
	})

	t.Run("readmit waits for a fresh check", func(t *testing.T) {
		if err := c.SetState(ctx, "ws", "s2", haproxy.Maint); err != nil {
			t.Fatal(err)
		}
		if err := c.Readmit(ctx, "ws", "s2"); err != nil {
			t.Fatal(err)
		}
		s, err := c.Server(ctx, "ws", "s2")
		if err != nil || s.Admin != haproxy.Ready || s.State != haproxy.Down {
			t.Fatalf("right after Readmit: %+v, %v; want READY and DOWN until a check passes", s, err)
		}
		deadline := time.Now().Add(3 * time.Second)
		for s.State != haproxy.Up {
			if time.Now().After(deadline) {
				t.Fatalf("not UP 3s after Readmit: %+v", s)
			}
			time.Sleep(50 * time.Millisecond)
			s, _ = c.Server(ctx, "ws", "s2")
		}
	})

	t.Run("level user socket", func(t *testing.T) {
		u, err := haproxy.Dial(ctx, filepath.Join(dir, "user.sock"), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		err = u.SetState(ctx, "ws", "s1", haproxy.Maint)
		if !errors.Is(err, haproxy.ErrPermission) {
			t.Errorf("SetState on a level user socket: %v, want ErrPermission", err)
		}
	})

	t.Run("injection never reaches the socket", func(t *testing.T) {
		for _, name := range []string{
			"s1;set server ws/s2 state maint",
			"s1\nset server ws/s2 state maint",
			"s1 state maint\nset server ws/s2",
		} {
			if err := c.SetState(ctx, "ws", name, haproxy.Drain); !errors.Is(err, haproxy.ErrInvalidName) {
				t.Errorf("SetState(%q) error = %v, want ErrInvalidName", name, err)
			}
			if err := c.SetState(ctx, name, "s1", haproxy.Drain); !errors.Is(err, haproxy.ErrInvalidName) {
				t.Errorf("SetState(backend %q) error = %v, want ErrInvalidName", name, err)
			}
			if err := c.ShutdownSessions(ctx, "ws", name); !errors.Is(err, haproxy.ErrInvalidName) {
				t.Errorf("ShutdownSessions(%q) error = %v, want ErrInvalidName", name, err)
			}
		}
		// netip.ParseAddr takes any zone text, a newline and a second
		// command included.
		zoned, err := netip.ParseAddr("fe80::1%x\nset server ws/s2 state maint")
		if err != nil {
			t.Fatal(err)
		}
		if err := c.SetAddr(ctx, "ws", "s1", zoned, 80); !errors.Is(err, haproxy.ErrInvalidName) {
			t.Errorf("SetAddr(%q) error = %v, want ErrInvalidName", zoned, err)
		}
		if err := c.AddServer(ctx, "ws", "s3", zoned, 80, haproxy.ServerOptions{}); !errors.Is(err, haproxy.ErrInvalidName) {
			t.Errorf("AddServer(%q) error = %v, want ErrInvalidName", zoned, err)
		}
		all, err := c.Servers(ctx, "ws")
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range all {
			if s.Admin != haproxy.Ready {
				t.Errorf("%s/%s is %s after the injection attempts, want READY", s.Backend, s.Server, s.Admin)
			}
		}
	})

	t.Run("sessions", func(t *testing.T) {
		fleet := haproxytest.StartClients(t, lb.URL(), 6, false)
		on := fleet.Connected()
		if on["s1"] != 3 || on["s2"] != 3 {
			t.Fatalf("clients per server = %v, want 3 and 3", on)
		}
		s1, err := c.Sessions(ctx, "ws", "s1")
		if err != nil || len(s1) != 3 {
			t.Fatalf("Sessions(ws/s1) = %v, %v; want 3", s1, err)
		}
		if s, _ := c.Server(ctx, "ws", "s1"); s.Scur != 3 {
			t.Errorf("Scur = %d, want 3", s.Scur)
		}
		// A session is closed only while it belongs to the named server.
		if err := c.ShutdownSession(ctx, "ws", "s2", s1[0]); !errors.Is(err, haproxy.ErrNoSuchSession) {
			t.Errorf("ShutdownSession(ws/s2, a session of s1) = %v, want ErrNoSuchSession", err)
		}
		if err := c.ShutdownSession(ctx, "ws", "s1", s1[0]); err != nil {
			t.Fatal(err)
		}
		if !fleet.WaitFor(3*time.Second, func(m map[string]int) bool { return m["s1"] == 2 }) {
			t.Fatalf("clients per server = %v after one shutdown, want 2 on s1", fleet.Connected())
		}
		if err := c.ShutdownSession(ctx, "ws", "s1", s1[0]); !errors.Is(err, haproxy.ErrNoSuchSession) {
			t.Errorf("second ShutdownSession = %v, want ErrNoSuchSession", err)
		}
		if err := c.ShutdownSessions(ctx, "ws", "s1"); err != nil {
			t.Fatal(err)
		}
		if !fleet.WaitFor(3*time.Second, func(m map[string]int) bool { return m["s1"] == 0 && m["s2"] == 3 }) {
			t.Fatalf("clients per server = %v after shutdown sessions, want 0 on s1, 3 on s2", fleet.Connected())
		}
	})
}

// TestSocketDialErrors checks that each way a socket can be wrong gives its own
// error, quickly.
func TestSocketDialErrors(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()

	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o644)

	stale := filepath.Join(dir, "stale.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()

	notHAProxy := fakeSocket(t, filepath.Join(dir, "other.sock"), func(c net.Conn) {
		bufio.NewReader(c).ReadString('\n')
		c.Write([]byte("hello, I am something else\n"))
		c.Close()
	})
	hangsUp := fakeSocket(t, filepath.Join(dir, "hangup.sock"), func(c net.Conn) { c.Close() })
	busy := fakeSocket(t, filepath.Join(dir, "busy.sock"), func(c net.Conn) {})

	tests := []struct {
		name string
		path string
		want error
	}{
		{"missing", filepath.Join(dir, "missing.sock"), haproxy.ErrNoSocket},
		{"stale", stale, haproxy.ErrNoSocket},
		{"regular file", file, haproxy.ErrNotHAProxy},
		{"not haproxy", notHAProxy, haproxy.ErrNotHAProxy},
		{"hangs up", hangsUp, haproxy.ErrNotHAProxy},
		{"busy", busy, haproxy.ErrTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, err := haproxy.Dial(ctx, tt.path, 300*time.Millisecond)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Dial error = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.path) {
				t.Errorf("error %q does not name the socket", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("Dial took %s", d)
			}
			t.Log(err)
		})
	}
}

// fakeSocket serves path with handle until the test ends, then closes every
// connection so no client goroutine outlives the test.
func fakeSocket(t *testing.T, path string, handle func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	conns := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns <- c
			handle(c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		for {
			select {
			case c := <-conns:
				c.Close()
			default:
				return
			}
		}
	})
	return path
}

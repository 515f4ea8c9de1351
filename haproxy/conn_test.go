package haproxy

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"
)

// hostileNames each try to smuggle a second command after the first.
var hostileNames = []string{
	"s1;set server ws/s2 state maint",
	"s1\nset server ws/s2 state maint",
	"s1\rset server ws/s2 state maint",
	"s1\x00",
}

// TestInjectionNeverWritten calls every method that takes a name, an
// address or an option with hostile values against a socket that records
// what it receives: each call fails with ErrInvalidName and nothing at all
// reaches the socket. (Before the own transport, SetAddr wrote a zone's
// newline and the command after it.)
func TestInjectionNeverWritten(t *testing.T) {
	fake, c := dialFake(t, nil)
	ctx := context.Background()

	zoned := mustAddr(t, "fe80::1%x\nset server ws/s2 state maint")
	ip := mustAddr(t, "10.0.0.1")
	calls := map[string]func(b, s string) error{
		"SetState":  func(b, s string) error { return c.SetState(ctx, b, s, Drain) },
		"SetHealth": func(b, s string) error { return c.SetHealth(ctx, b, s, HealthDown) },
		"SetWeight": func(b, s string) error { return c.SetWeight(ctx, b, s, 10) },
		"SetAddr":   func(b, s string) error { return c.SetAddr(ctx, b, s, ip, 80) },
		"Readmit":   func(b, s string) error { return c.Readmit(ctx, b, s) },
		"AddServer": func(b, s string) error { return c.AddServer(ctx, b, s, ip, 80, ServerOptions{}) },
		"EnableHealth": func(b, s string) error {
			return c.EnableHealth(ctx, b, s)
		},
		"DeleteServer":     func(b, s string) error { return c.DeleteServer(ctx, b, s) },
		"Sessions":         func(b, s string) error { _, err := c.Sessions(ctx, b, s); return err },
		"ShutdownSession":  func(b, s string) error { return c.ShutdownSession(ctx, b, s, "0x1") },
		"ShutdownSessions": func(b, s string) error { return c.ShutdownSessions(ctx, b, s) },
		"Server":           func(b, s string) error { _, err := c.Server(ctx, b, s); return err },
		"Find":             func(b, s string) error { _, err := c.Find(ctx, Ref{Backend: b, Server: s}); return err },
	}
	for name, call := range calls {
		for _, bad := range hostileNames {
			if err := call("ws", bad); !errors.Is(err, ErrInvalidName) {
				t.Errorf("%s(ws, %q) = %v, want ErrInvalidName", name, bad, err)
			}
			if err := call(bad, "s1"); !errors.Is(err, ErrInvalidName) {
				t.Errorf("%s(%q, s1) = %v, want ErrInvalidName", name, bad, err)
			}
		}
	}
	for _, bad := range hostileNames {
		if err := c.EnableDynamicCookies(ctx, bad); !errors.Is(err, ErrInvalidName) {
			t.Errorf("EnableDynamicCookies(%q) = %v, want ErrInvalidName", bad, err)
		}
		if _, err := c.Servers(ctx, bad); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Servers(%q) = %v, want ErrInvalidName", bad, err)
		}
		if _, err := c.Find(ctx, Ref{Server: bad}); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Find(%q) = %v, want ErrInvalidName", bad, err)
		}
		if err := c.ShutdownSession(ctx, "ws", "s1", SessionID("0x1"+bad[2:])); !errors.Is(err, ErrInvalidName) {
			t.Errorf("ShutdownSession(id %q) = %v, want ErrInvalidName", "0x1"+bad[2:], err)
		}
		for _, o := range []ServerOptions{
			{Check: true, Inter: "1s" + bad[2:]},
			{Cookie: bad},
			{Slowstart: "1s" + bad[2:]},
		} {
			if err := c.AddServer(ctx, "ws", "a", ip, 80, o); !errors.Is(err, ErrInvalidName) {
				t.Errorf("AddServer(%+v) = %v, want ErrInvalidName", o, err)
			}
		}
	}
	if err := c.SetAddr(ctx, "ws", "s1", zoned, 80); !errors.Is(err, ErrInvalidName) {
		t.Errorf("SetAddr(zone with a newline) = %v, want ErrInvalidName", err)
	}
	if err := c.AddServer(ctx, "ws", "a", zoned, 80, ServerOptions{}); !errors.Is(err, ErrInvalidName) {
		t.Errorf("AddServer(zone with a newline) = %v, want ErrInvalidName", err)
	}
	if err := c.SetAddr(ctx, "ws", "s1", mustAddr(t, "fe80::1%eth0"), 80); !errors.Is(err, ErrInvalidName) {
		t.Errorf("SetAddr(fe80::1%%eth0) = %v, want ErrInvalidName: a zone is refused, not stripped", err)
	}
	if got := fake.received(); len(got) != 0 {
		t.Errorf("the socket received %q, want nothing", got)
	}
}

// TestChokePoint sends separators straight to the functions that write to
// the socket, past every validation: they refuse before writing a byte,
// and the session's set-up goes with the next command it sends.
func TestChokePoint(t *testing.T) {
	fake, c := dialFake(t, nil)
	ctx := context.Background()
	for _, cmd := range []string{
		"show info\nshutdown sessions server ws/s2",
		"show info;shutdown sessions server ws/s2",
		"show info\rshutdown sessions server ws/s2",
		"show info\x00",
	} {
		fake.received()
		if _, err := c.raw(ctx, cmd); !errors.Is(err, ErrInvalidName) {
			t.Errorf("raw(%q) = %v, want ErrInvalidName", cmd, err)
		}
		if _, err := c.rawAllowEmpty(ctx, cmd); !errors.Is(err, ErrInvalidName) {
			t.Errorf("rawAllowEmpty(%q) = %v, want ErrInvalidName", cmd, err)
		}
		if got := fake.received(); len(got) != 0 {
			t.Errorf("raw(%q) wrote %q, want nothing", cmd, got)
		}
		err := c.with(ctx, func(s *session) error {
			_, err := s.exec(cmd)
			if got := fake.received(); len(got) != 0 {
				t.Errorf("exec(%q) wrote %q, want nothing", cmd, got)
			}
			if _, err := s.exec("show info"); err != nil {
				t.Errorf("the session's next command, after exec(%q) was refused: %v", cmd, err)
			}
			return err
		})
		if !errors.Is(err, ErrInvalidName) {
			t.Errorf("exec(%q) = %v, want ErrInvalidName", cmd, err)
		}
	}
}

// TestReplyBounded answers `show servers state` with an endless stream of
// zeros: the call fails with ErrBadReply once MaxReply bytes are read, with
// memory to match, instead of reading gigabytes until the timeout.
func TestReplyBounded(t *testing.T) {
	fake := startFake(t, func(cmd string) io.Reader {
		if strings.HasPrefix(cmd, "show servers state") {
			return zeros{}
		}
		return nil
	})
	ctx := context.Background()
	// A timeout the test cannot reach: the cap, not the clock, must stop
	// the read.
	c, err := Dial(ctx, fake.path, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err = c.Servers(ctx, "ws")
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrBadReply) || !strings.Contains(err.Error(), "reply larger than") {
		t.Fatalf("Servers = %v, want ErrBadReply: reply larger than %d bytes", err, MaxReply)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8*MaxReply {
		t.Errorf("reading the reply allocated %d MiB, want at most %d", alloc>>20, 8*MaxReply>>20)
	}
	t.Log(err)
}

// mustAddr parses s with netip.ParseAddr, which takes any zone text.
func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestContextCancelsCommand cancels the context while HAProxy sits on a
// command: the call returns context.Canceled, though the client's timeout
// is far away.
func TestContextCancelsCommand(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stuck := make(chan struct{})
	fake := startFake(t, func(cmd string) io.Reader {
		if strings.HasPrefix(cmd, "show servers state") {
			cancel()
			return blocked(stuck)
		}
		return nil
	})
	t.Cleanup(func() { close(stuck) }) // runs before the fake's cleanup
	c, err := Dial(ctx, fake.path, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Servers(ctx, "ws"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Servers = %v, want context.Canceled", err)
	}
}

// blocked is a reply that never comes, until done is closed.
type blocked chan struct{}

func (b blocked) Read([]byte) (int, error) {
	<-b
	return 0, io.EOF
}

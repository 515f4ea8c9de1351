package haproxy

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestSessionSetupRidesTheFirstWrite: a session switches the connection
// to interactive mode and numbered severities in the write of its first
// commands, not in a round trip of its own: it is paid at the start of
// every sync's session, in the path of every registration. A session that
// sends nothing sends no setup either.
func TestSessionSetupRidesTheFirstWrite(t *testing.T) {
	fake := startFake(t, func(cmd string) io.Reader {
		if cmd == "show servers state ws" {
			return strings.NewReader(serversStateReply)
		}
		return nil
	})
	ctx := context.Background()
	c, err := Dial(ctx, fake.path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	fake.roundTrips()
	fake.received()
	if err := c.Session(ctx, func(conn Conn) error { _, err := conn.States("ws"); return err }); err != nil {
		t.Fatal(err)
	}
	if got, want := fake.received(), []string{"prompt", "set severity-output number", "show servers state ws"}; !slices.Equal(got, want) {
		t.Errorf("sent %q, want %q", got, want)
	}
	if got := fake.roundTrips(); got != 1 {
		t.Errorf("the session's setup and first command took %d round trips, want 1", got)
	}
	if err := c.Session(ctx, func(Conn) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if got := fake.received(); len(got) != 0 {
		t.Errorf("a session without commands sent %q, want nothing", got)
	}
}

// connections returns how many connections the fake accepted and closed
// so far.
func (f *fakeHAProxy) connections() (accepted, closed int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.accepted, f.closed
}

// TestPredial: the session after Predial runs on the connection Predial
// dialled, not on one of its own; a predialled connection nothing takes is
// closed after predialFor (it could reach a worker a reload replaced), and
// the next session dials its own; a predial that cannot connect leaves the
// session to dial and report why.
func TestPredial(t *testing.T) {
	fake, c := dialFake(t, func(cmd string) io.Reader {
		if cmd == "show servers state ws" {
			return strings.NewReader(serversStateReply)
		}
		return nil
	})
	ctx := context.Background()
	accepted := func() int { n, _ := fake.connections(); return n }
	before := accepted()
	c.Predial()
	c.predials.mu.Lock()
	dialled := c.predials.conn != nil
	c.predials.mu.Unlock()
	if !dialled {
		t.Fatal("Predial returned before its connection was dialled")
	}
	c.Predial() // one waiting to be taken: nothing more
	waitFor(t, "the predialled connection", func() bool { return accepted() == before+1 })
	if err := c.Session(ctx, func(conn Conn) error { _, err := conn.States("ws"); return err }); err != nil {
		t.Fatal(err)
	}
	if got := accepted(); got != before+1 {
		t.Errorf("the session after Predial made %d connections, want the predialled one alone", got-before)
	}

	c.Predial()
	waitFor(t, "the predialled connection", func() bool { return accepted() == before+2 })
	waitFor(t, "the untaken connection closed", func() bool { _, closed := fake.connections(); return closed == before+2 })
	if err := c.Session(ctx, func(conn Conn) error { _, err := conn.States("ws"); return err }); err != nil {
		t.Fatal(err)
	}
	if got := accepted(); got != before+3 {
		t.Errorf("after an expired predial the session made %d connections, want 1 of its own", got-before-2)
	}

	gone := *c
	gone.path, gone.predials = filepath.Join(t.TempDir(), "none.sock"), &predials{}
	gone.Predial()
	if err := gone.Session(ctx, func(Conn) error { return nil }); !errors.Is(err, ErrNoSocket) {
		t.Errorf("a session after a predial that could not connect: %v, want ErrNoSocket", err)
	}
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 5s", what)
		}
	}
}

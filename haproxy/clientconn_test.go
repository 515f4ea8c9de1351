package haproxy

import (
	"context"
	"io"
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

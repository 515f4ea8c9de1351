package haproxy

import (
	"context"
	"slices"
	"testing"
	"time"
)

// TestSessionSetupOneRoundTrip: a session switches the connection to
// interactive mode and numbered severities in one round trip, not two: it
// is paid at the start of every sync's session.
func TestSessionSetupOneRoundTrip(t *testing.T) {
	fake := startFake(t, nil)
	ctx := context.Background()
	c, err := Dial(ctx, fake.path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	fake.roundTrips()
	fake.received()
	if err := c.Session(ctx, func(Conn) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if got, want := fake.received(), []string{"prompt", "set severity-output number"}; !slices.Equal(got, want) {
		t.Errorf("sent %q, want %q", got, want)
	}
	if got := fake.roundTrips(); got != 1 {
		t.Errorf("the session's setup took %d round trips, want 1", got)
	}
}

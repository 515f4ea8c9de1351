package haproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// trickle answers with chunks, each after a pause, like an HAProxy on a
// busy host writing `show sess` of thousands of streams a buffer at a time;
// forever when chunks is negative.
type trickle struct {
	chunk  string
	chunks int
	pause  time.Duration
}

func (t *trickle) Read(p []byte) (int, error) {
	if t.chunks == 0 {
		return 0, io.EOF
	}
	t.chunks--
	time.Sleep(t.pause)
	return copy(p, t.chunk), nil
}

// TestReplyKeepsFlowing: a reply that takes far longer than the timeout in
// all but never pauses for as long is read to its end (the timeout is an
// idle one: before, the whole `show sess` listing had to arrive within it,
// and 10 load balancers of 5,000 WebSockets each on a busy host failed
// their drains with "no reply within 5s"); one that trickles for ever is
// cut after replySpan timeouts.
func TestReplyKeepsFlowing(t *testing.T) {
	line := "0x55d0607f6bd0: proto=tcpv4 src=127.0.0.1:1 fe=fe be=ws srv=s1 age=3s\n"
	tests := []struct {
		name    string
		reply   *trickle
		timeout time.Duration
		want    int   // sessions listed
		wantErr error // and the error
	}{
		{name: "flowing, 4 timeouts long", reply: &trickle{chunk: line, chunks: 8, pause: 50 * time.Millisecond}, timeout: 100 * time.Millisecond, want: 8},
		{name: "a trickle that never ends", reply: &trickle{chunk: "0", chunks: -1, pause: 10 * time.Millisecond}, timeout: 40 * time.Millisecond, wantErr: ErrTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := startFake(t, func(cmd string) io.Reader {
				if cmd == "show sess" {
					return tt.reply
				}
				return nil
			})
			ctx := context.Background()
			c, err := Dial(ctx, fake.path, tt.timeout)
			if err != nil {
				t.Fatal(err)
			}
			ids, err := c.Sessions(ctx, "ws", "s1")
			if !errors.Is(err, tt.wantErr) || len(ids) != tt.want {
				t.Fatalf("Sessions = %d sessions, %v; want %d, %v", len(ids), err, tt.want, tt.wantErr)
			}
			t.Log(err)
		})
	}
}

// TestShutdownBatchRoundTrips: a batch of sessions costs two round trips,
// the checks of every id in one write, then the closes of the ids the
// checks confirmed on the server (and only those) in another; before, each
// session cost two.
func TestShutdownBatchRoundTrips(t *testing.T) {
	on := map[string]string{"0xa1": "ws/s1", "0xa2": "ws/s2", "0xa3": "ws/s1", "0xa5": "ws/s1"}
	fake, c := dialFake(t, func(cmd string) io.Reader {
		id, ok := strings.CutPrefix(cmd, "show sess ")
		if !ok {
			return nil
		}
		ref, ok := on[id]
		if !ok {
			return strings.NewReader("Session not found.\n")
		}
		b, s, _ := strings.Cut(ref, "/")
		return strings.NewReader(fmt.Sprintf("%s: [07/Dec/2026:08:02:07.928097] id=2 proto=tcpv4\n  backend=%s (id=3 mode=http) addr=127.0.0.1:1\n  server=%s (id=1) addr=127.0.0.1:2\n", id, b, s))
	})
	k, err := c.OpenCloser(context.Background(), "ws", "s1")
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	closed := 0
	for _, batch := range [][]SessionID{{"0xa1", "0xa2", "0xa3", "0xa4"}, {"0xa5"}} {
		n, err := k.Shutdown(batch)
		if err != nil {
			t.Fatal(err)
		}
		closed += n
	}
	if closed != 3 {
		t.Fatalf("Shutdown closed %d, want 3", closed)
	}
	want := []string{
		"prompt", "set severity-output number", "show info",
		"show sess 0xa1", "show sess 0xa2", "show sess 0xa3", "show sess 0xa4",
		"shutdown session 0xa1", "shutdown session 0xa3",
		"show sess 0xa5", "shutdown session 0xa5",
	}
	if diff := cmp.Diff(want, fake.received()); diff != "" {
		t.Errorf("commands sent (-want +got):\n%s", diff)
	}
	if got, want := fake.roundTrips(), 1+2+2; got != want {
		t.Errorf("%d round trips, want %d: the connection's set-up with the pid (one write), then two per batch", got, want)
	}
}

// TestPidOneRoundTrip: a drain asks the pid at every count, on a
// connection of its own; it costs one round trip and no interactive
// set-up (before: `prompt`, `set severity-output number`, then `show
// info`, three).
func TestPidOneRoundTrip(t *testing.T) {
	fake, c := dialFake(t, nil)
	pid, err := c.Pid(context.Background())
	if err != nil || pid != 42 {
		t.Fatalf("Pid = %d, %v; want 42", pid, err)
	}
	if diff := cmp.Diff([]string{"show info"}, fake.received()); diff != "" {
		t.Errorf("commands sent (-want +got):\n%s", diff)
	}
	if got := fake.roundTrips(); got != 1 {
		t.Errorf("%d round trips, want 1", got)
	}
}

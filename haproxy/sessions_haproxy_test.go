package haproxy_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/haproxy/haproxytest"
)

// TestShutdownSessionsInBatches closes the sessions of one server of a real
// HAProxy in batches larger than MaxSessionBatch, each mixed with sessions
// of the other server and an id no stream has: every session of the server
// is closed, none of the other's, and `show sess` of them all (a listing
// far longer than one read) arrives whole.
func TestShutdownSessionsInBatches(t *testing.T) {
	const clients = 600
	lb := haproxytest.StartLB(t, haproxytest.Config{}, haproxytest.Backends(t, "s1", "s2"))
	fleet := haproxytest.StartClients(t, lb.URL(), clients, false)
	ctx := context.Background()
	c, err := haproxy.Dial(ctx, lb.AdminSocket, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	s1, err := c.Sessions(ctx, "ws", "s1")
	if err != nil {
		t.Fatal(err)
	}
	s2, err := c.Sessions(ctx, "ws", "s2")
	if err != nil {
		t.Fatal(err)
	}
	if len(s1)+len(s2) != clients || len(s1) <= haproxy.MaxSessionBatch {
		t.Fatalf("listed %d sessions on s1 and %d on s2, want %d in all, more than %d on s1", len(s1), len(s2), clients, haproxy.MaxSessionBatch)
	}
	// Batches of 100: 96 of s1, 3 of s2, and an id no stream has.
	var batches [][]haproxy.SessionID
	for chunk := range slices.Chunk(s1, 96) {
		b := append(slices.Clone(chunk), s2[len(batches)%len(s2)], s2[(len(batches)+1)%len(s2)], s2[(len(batches)+2)%len(s2)], "0x1")
		batches = append(batches, b)
	}
	k, err := c.OpenCloser(ctx, "ws", "s1")
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if k.Pid() != c.Info().Pid {
		t.Errorf("closer on pid %d, want %d", k.Pid(), c.Info().Pid)
	}
	closed := 0
	for _, b := range batches {
		n, err := k.Shutdown(b)
		if err != nil {
			t.Fatal(err)
		}
		closed += n
	}
	if closed != len(s1) {
		t.Fatalf("Shutdown closed %d, want %d", closed, len(s1))
	}
	st, err := k.Server()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("s1 after the closes: %d sessions", st.Scur)
	if !fleet.WaitFor(10*time.Second, func(m map[string]int) bool { return m["s1"] == 0 && m["s2"] == len(s2) }) {
		t.Fatalf("clients per server = %v, want 0 on s1 and %d on s2", fleet.Connected(), len(s2))
	}
}

package fleet

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/internal/lbtest"
)

// runMember runs a member lb1 on c until the test ends.
func runMember(t *testing.T, m *Member) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		_ = m.Run(ctx, make(chan *View, 1))
		close(done)
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// TestPublishBatchesReports: reports on many servers pending together are
// written in one transaction (one KV write, so one ModifyIndex), not one
// write per server.
func TestPublishBatchesReports(t *testing.T) {
	c := lbtest.StartConsul(t)
	m := NewMember(c.Client, c.Addr, "wsctl/", "lb1", nil)
	const n = 80 // more than one transaction's worth
	for i := range n {
		m.Publish(Progress{Backend: "ws", Server: fmt.Sprintf("s%02d", i), Phase: PhaseHeld, Sessions: int64(i)})
	}
	runMember(t, m)
	prefix := "wsctl/" + ProgressPrefix + "lb1/"
	lbtest.WaitFor(t, 20*time.Second, "every report written", func() bool {
		pairs, _, err := c.Client.KV().List(prefix, nil)
		return err == nil && len(pairs) == n
	})
	pairs, _, err := c.Client.KV().List(prefix, nil)
	if err != nil {
		t.Fatal(err)
	}
	writes := map[uint64]int{}
	for _, p := range pairs {
		writes[p.ModifyIndex]++
		if p.Session == "" {
			t.Errorf("%s is not held by the agent's session", p.Key)
		}
	}
	if want := (n + txnOps - 1) / txnOps; len(writes) != want {
		t.Errorf("%d reports written in %d KV writes %v, want %d transactions", n, len(writes), writes, want)
	}
}

// TestForgetDeletesReport: a forgotten report is deleted from the KV; one
// never written costs nothing.
func TestForgetDeletesReport(t *testing.T) {
	c := lbtest.StartConsul(t)
	m := NewMember(c.Client, c.Addr, "wsctl/", "lb1", nil)
	runMember(t, m)
	r := haproxy.Ref{Backend: "ws", Server: "s1"}
	key := progressKey("wsctl/", r, "lb1")
	m.Publish(Progress{Backend: r.Backend, Server: r.Server, Phase: PhaseDrained})
	lbtest.WaitFor(t, 20*time.Second, "the report written", func() bool {
		p, _, err := c.Client.KV().Get(key, nil)
		return err == nil && p != nil
	})
	m.Forget(r)
	m.Forget(haproxy.Ref{Backend: "ws", Server: "never-reported"})
	lbtest.WaitFor(t, 20*time.Second, "the report deleted", func() bool {
		p, _, err := c.Client.KV().Get(key, nil)
		return err == nil && p == nil
	})
}

// TestMemberCurrent: Current is set once the member has read the fleet's
// keys and cleared once a read fails (Consul gone), so an agent stops
// trusting the last view's intents.
func TestMemberCurrent(t *testing.T) {
	c := lbtest.StartConsul(t)
	m := NewMember(c.Client, c.Addr, "wsctl/", "lb1", nil)
	if m.Current() {
		t.Fatal("current before any read")
	}
	runMember(t, m)
	lbtest.WaitFor(t, 20*time.Second, "current after the first read", m.Current)
	c.Stop(t)
	lbtest.WaitFor(t, 20*time.Second, "not current once Consul is gone", func() bool { return !m.Current() })
}

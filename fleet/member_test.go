package fleet

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

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
	m := NewMember(c.Client, c.Addr, "wsctl/", "lb1", 0, nil)
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
	m := NewMember(c.Client, c.Addr, "wsctl/", "lb1", 0, nil)
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
	m := NewMember(c.Client, c.Addr, "wsctl/", "lb1", 0, nil)
	if m.Current() {
		t.Fatal("current before any read")
	}
	runMember(t, m)
	lbtest.WaitFor(t, 20*time.Second, "current after the first read", m.Current)
	c.Stop(t)
	lbtest.WaitFor(t, 20*time.Second, "not current once Consul is gone", func() bool { return !m.Current() })
}

// faultyRenewals is an http.RoundTripper in front of Consul that fails the
// agent's check renewals on demand, as an overloaded or unreachable
// Consul, or a dead connection, would.
type faultyRenewals struct {
	base http.RoundTripper
	mu   sync.Mutex
	// failUntil makes renewals before it fail at once.
	failUntil time.Time
	// hang makes the next renewal wait until its request is cancelled.
	hang bool
}

func (f *faultyRenewals) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasPrefix(r.URL.Path, "/v1/agent/check/update/") {
		f.mu.Lock()
		fail, hang := time.Now().Before(f.failUntil), f.hang
		f.hang = false
		f.mu.Unlock()
		switch {
		case fail:
			return nil, errors.New("connection reset by the test")
		case hang:
			<-r.Context().Done()
			return nil, r.Context().Err()
		}
	}
	return f.base.RoundTrip(r)
}

// faultyMember is a member lb1 with check TTL ttl whose renewals f fails
// on demand, and the session it joined with.
func faultyMember(t *testing.T, c *lbtest.Consul, ttl time.Duration) (*Member, *faultyRenewals, string) {
	t.Helper()
	f := &faultyRenewals{base: http.DefaultTransport.(*http.Transport).Clone()}
	client, err := api.NewClient(&api.Config{Address: c.Addr, HttpClient: &http.Client{Transport: f}})
	if err != nil {
		t.Fatal(err)
	}
	m := NewMember(client, c.Addr, "wsctl/", "lb1", ttl, nil)
	runMember(t, m)
	var session string
	lbtest.WaitFor(t, 20*time.Second, "lb1 announced", func() bool {
		session = m.session.Load().(string)
		p, _, err := c.Client.KV().Get("wsctl/agents/lb1", nil)
		return err == nil && p != nil && session != "" && p.Session == session
	})
	return m, f, session
}

// holds fails the test unless session still holds lb1's announcement and
// the check is passing.
func holds(t *testing.T, c *lbtest.Consul, session string) {
	t.Helper()
	p, _, err := c.Client.KV().Get("wsctl/agents/lb1", nil)
	if err != nil || p == nil || p.Session != session {
		t.Fatalf("lb1's announcement %+v, %v: want it held by the session it had, %s", p, err, session)
	}
	checks, _, err := c.Client.Health().Checks(ServiceName, nil)
	if err != nil || len(checks) != 1 || checks[0].Status != api.HealthPassing {
		t.Fatalf("lb1's check: %+v, %v; want passing", checks, err)
	}
}

// TestMemberKeepsSessionThroughFailedRenewals: renewals that fail for less
// than the TTL (Consul unreachable for a moment) are retried; the session
// stands, since Consul would end it only once the TTL passes.
func TestMemberKeepsSessionThroughFailedRenewals(t *testing.T) {
	c := lbtest.StartConsul(t)
	const ttl = 4 * time.Second
	m, f, session := faultyMember(t, c, ttl)
	f.mu.Lock()
	f.failUntil = time.Now().Add(ttl / 2) // two renewals fail
	f.mu.Unlock()
	time.Sleep(ttl + ttl/2)
	if s := m.session.Load().(string); s != session {
		t.Fatalf("the session went from %s to %q after renewals failed for %s of its %s TTL", session, s, ttl/2, ttl)
	}
	holds(t, c, session)
}

// TestMemberRenewsPastAHungRenewal: a renewal that never answers (a dead
// connection) gives way to the next one before the TTL passes, so the
// session stands.
func TestMemberRenewsPastAHungRenewal(t *testing.T) {
	c := lbtest.StartConsul(t)
	const ttl = 4 * time.Second
	m, f, session := faultyMember(t, c, ttl)
	f.mu.Lock()
	f.hang = true
	f.mu.Unlock()
	time.Sleep(2 * ttl)
	if s := m.session.Load().(string); s != session {
		t.Fatalf("the session went from %s to %q after a renewal hung", session, s)
	}
	holds(t, c, session)
}

// TestMemberTakesOverItsEarlierSession: an agent killed before it could
// leave leaves its session, bound to the check the restarted agent renews
// (so Consul never ends it) and holding the announcement; the restarted
// agent ends that session and announces itself at once, well before the
// TTL.
func TestMemberTakesOverItsEarlierSession(t *testing.T) {
	c := lbtest.StartConsul(t)
	const ttl = time.Minute
	killed := NewMember(c.Client, c.Addr, "wsctl/", "lb1", ttl, nil)
	if err := killed.join(context.Background()); err != nil { // never leaves
		t.Fatal(err)
	}
	old := killed.session.Load().(string)
	m := NewMember(c.Client, c.Addr, "wsctl/", "lb1", ttl, nil)
	runMember(t, m)
	lbtest.WaitFor(t, 20*time.Second, "the restarted lb1 announced", func() bool {
		p, _, err := c.Client.KV().Get("wsctl/agents/lb1", nil)
		return err == nil && p != nil && p.Session != old && p.Session == m.session.Load().(string)
	})
	if s, _, err := c.Client.Session().Info(old, nil); err != nil || s != nil {
		t.Errorf("the earlier run's session: %+v, %v; want it ended", s, err)
	}
}

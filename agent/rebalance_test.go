package agent

import (
	"context"
	"testing"
	"time"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/intent"
)

// rebalanceUnit is an agent on fakes whose backend ws has `rebalance:
// true` at close_rate rate, and whose clients reconnect (leastconn).
func rebalanceUnit(t *testing.T, rate float64) *unit {
	t.Helper()
	u := newUnit(t, "1h", Config{})
	u.a.spec.Backends[0].Rebalance = true
	u.a.spec.Backends[0].CloseRate = rate
	u.hap.reconnect = true
	return u
}

// sessions are the sessions of every server of ws, by name.
func (f *fakeHAProxy) sessionsOf(t *testing.T) map[string]int64 {
	t.Helper()
	all, err := f.Servers(context.Background(), "ws")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, s := range all {
		out[s.Server] = s.Scur
	}
	return out
}

// TestRebalanceAfterAdd: a fourth server added to three full ones is
// rebalanced for once it has taken its first client: the three give up
// the minimum (224 of 901: targets 226/225/225/225), every server ends within 10 % of its
// target, READY, and the metrics count one balanced rebalance and the
// sessions moved. Before its first client nothing moves.
func TestRebalanceAfterAdd(t *testing.T) {
	u := rebalanceUnit(t, 1000)
	u.prime(t, u.render(t))
	u.run(t)
	u.src.send(inst("a", 1), inst("b", 2), inst("c", 3))
	eventuallyFast(t, "a, b, c added", func() bool { return u.hap.admin("ws", "c") == haproxy.Ready })
	for _, s := range []string{"a", "b", "c"} {
		u.hap.connect("ws", s, 300)
	}
	// Added together, a, b and c are rebalanced for once: already even.
	eventuallyFast(t, "the first rebalance", func() bool { return u.a.metrics.Rebalances.Value("ws", "balanced") == 1 })

	u.src.send(inst("a", 1), inst("b", 2), inst("c", 3), inst("d", 4))
	eventuallyFast(t, "d added", func() bool { return u.hap.admin("ws", "d") == haproxy.Ready })
	time.Sleep(100 * time.Millisecond) // ten drain ticks
	if got := u.a.metrics.RebalanceMoved.Value("ws"); got != 0 {
		t.Fatalf("%d sessions moved before d took a client, want 0", got)
	}
	u.hap.connect("ws", "d", 1)
	eventuallyFast(t, "the rebalance after d", func() bool { return u.a.metrics.Rebalances.Value("ws", "balanced") == 2 })

	got := u.hap.sessionsOf(t)
	for s, n := range got {
		if n < 203 || n > 248 { // 901/4 = 225 ± 10 %
			t.Errorf("%s holds %d sessions, want 225 ± 10 %% (%v)", s, n, got)
		}
		if a := u.hap.admin("ws", s); a != haproxy.Ready {
			t.Errorf("%s is %s after the rebalance, want READY", s, a)
		}
	}
	if moved := u.a.metrics.RebalanceMoved.Value("ws"); moved != 224 {
		t.Errorf("moved %d sessions, want the minimum 224", moved)
	}
}

// TestRebalanceWaitsAndStops: an intent on the backend keeps a rebalance
// from starting; one that comes while it runs stops it, and its donors
// are READY again; the backend is forgotten once rebalanced for.
func TestRebalanceWaitsAndStops(t *testing.T) {
	u := rebalanceUnit(t, 20)
	ctx := u.attach(t, u.render(t, inst("a", 1), inst("b", 2), inst("c", 3)))
	u.hap.connect("ws", "a", 300)
	u.hap.connect("ws", "b", 300)
	u.hap.connect("ws", "c", 1)
	u.a.rebalanceAdded("ws", "c")
	hold := intent.Intent{Backend: "ws", Server: "b", State: haproxy.Drain}
	if err := u.intents.Put(ctx, hold); err != nil {
		t.Fatal(err)
	}
	u.a.rebalanceTick(ctx, u.a.serversOnce(ctx))
	if st := u.a.rebalances["ws"]; st == nil || st.cancel != nil {
		t.Fatalf("with an intent on ws/b: rebalance state %+v, want waiting", st)
	}
	if err := u.intents.Delete(ctx, hold.Ref()); err != nil {
		t.Fatal(err)
	}
	u.a.rebalanceTick(ctx, u.a.serversOnce(ctx))
	if st := u.a.rebalances["ws"]; st == nil || st.cancel == nil {
		t.Fatalf("intent gone: rebalance state %+v, want running", st)
	}
	eventuallyFast(t, "the donors in MAINT", func() bool { return u.hap.admin("ws", "a") == haproxy.Maint })
	if err := u.intents.Put(ctx, hold); err != nil {
		t.Fatal(err)
	}
	u.a.rebalanceTick(ctx, u.a.serversOnce(ctx))
	r := <-u.a.rebalanceResults
	u.a.rebalanceEnded(r)
	if r.res.Outcome != "canceled" {
		t.Errorf("outcome %q (err %v), want canceled", r.res.Outcome, r.err)
	}
	for _, s := range []string{"a", "b"} {
		if a := u.hap.admin("ws", s); a != haproxy.Ready {
			t.Errorf("%s is %s after the stopped rebalance, want READY", s, a)
		}
	}
	if _, ok := u.a.rebalances["ws"]; ok {
		t.Error("ws still waits for a rebalance after one ran")
	}
	if got := u.a.metrics.Rebalances.Value("ws", "canceled"); got != 1 {
		t.Errorf("canceled rebalances counted %d, want 1", got)
	}
}

// TestRebalanceStopsWithAgent: an agent stopped while it rebalances
// returns only once the donors are READY again.
func TestRebalanceStopsWithAgent(t *testing.T) {
	u := rebalanceUnit(t, 1)
	u.prime(t, u.render(t, inst("a", 1), inst("b", 2)))
	u.hap.connect("ws", "a", 100)
	stop := u.run(t)
	u.src.send(inst("a", 1), inst("b", 2), inst("c", 3))
	eventuallyFast(t, "c added", func() bool { return u.hap.admin("ws", "c") == haproxy.Ready })
	u.hap.connect("ws", "c", 1)
	eventuallyFast(t, "a in MAINT", func() bool { return u.hap.admin("ws", "a") == haproxy.Maint })
	stop()
	for _, s := range []string{"a", "b", "c"} {
		if a := u.hap.admin("ws", s); a != haproxy.Ready {
			t.Errorf("%s is %s once the agent stopped, want READY", s, a)
		}
	}
}

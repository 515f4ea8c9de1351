package agent

import (
	"context"
	"testing"
	"time"

	"github.com/wsctl/wsctl/fleet"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/intent"
	"github.com/wsctl/wsctl/internal/lbtest"
)

// TestAgentKeepsOperatorIntents records an operator's DRAIN in Consul KV,
// as `wsctl drain -c` does, then loses it in HAProxy (as a reload or a
// restart would): the agent sets it again and never sets the server ready,
// until the intent is gone.
func TestAgentKeepsOperatorIntents(t *testing.T) {
	r := startRig(t)
	w := lbtest.StartWsecho(t, "echo-1", "--close-spread", "0s")
	r.startAgentWith(t, Config{Spec: r.spec, Resync: 100 * time.Millisecond})
	register(t, r.consul, "echo-1", w)
	eventually(t, "echo-1 READY", func() bool { return r.servers(t, "ws")["echo-1"].Admin == haproxy.Ready })

	store, err := intent.Open(r.spec)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := store.Put(ctx, intent.Intent{Backend: "ws", Server: "echo-1", State: haproxy.Drain}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "echo-1 held in DRAIN", func() bool { return r.servers(t, "ws")["echo-1"].Admin == haproxy.Drain })

	// The state is lost behind the agent's back: it is set again.
	if err := r.client(t).SetState(ctx, "ws", "echo-1", haproxy.Ready); err != nil {
		t.Fatal(err)
	}
	eventually(t, "echo-1 back in DRAIN", func() bool { return r.servers(t, "ws")["echo-1"].Admin == haproxy.Drain })
	time.Sleep(500 * time.Millisecond) // several resyncs
	if got := r.servers(t, "ws")["echo-1"].Admin; got != haproxy.Drain {
		t.Fatalf("echo-1 is %s after resyncs, want DRAIN", got)
	}

	// Once the operator's intent is gone (wsctl ready), the agent no longer
	// holds it; the operator's READY stands.
	if err := store.Delete(ctx, haproxy.Ref{Backend: "ws", Server: "echo-1"}); err != nil {
		t.Fatal(err)
	}
	if err := r.client(t).SetState(ctx, "ws", "echo-1", haproxy.Ready); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if got := r.servers(t, "ws")["echo-1"].Admin; got != haproxy.Ready {
		t.Errorf("echo-1 is %s after the intent was deleted, want READY", got)
	}
}

// fleetView is a fleet read holding intents, as fleet.Member sends it.
func fleetView(index uint64, intents ...intent.Intent) *fleet.View {
	v := &fleet.View{Index: index, Intents: map[haproxy.Ref]intent.Intent{}}
	for _, in := range intents {
		v.Intents[in.Ref()] = in
	}
	return v
}

// TestSyncTakesIntentsFromFleetView: once a fleet view is applied, a sync
// holds the intents that view carries without reading the store (a Consul
// KV list in the path of every registration); the view is the store's
// content as the member's blocking query last saw it.
func TestSyncTakesIntentsFromFleetView(t *testing.T) {
	u := newUnit(t, "1h", Config{})
	ctx := u.attach(t, u.render(t, inst("a", 1), inst("b", 2)))
	u.joinFakeFleet(t)
	u.syncWith(ctx, inst("a", 1), inst("b", 2)) // the first sync
	drainA := intent.Intent{Backend: "ws", Server: "a", State: haproxy.Drain, Since: time.Now()}
	if u.a.fleetView(ctx, fleetView(2, drainA)) {
		u.a.retry = true
	}
	loads := u.intents.loads
	u.syncWith(ctx, inst("a", 1), inst("b", 2), inst("c", 3))
	if got := u.hap.admin("ws", "a"); got != haproxy.Drain {
		t.Errorf("a: %s, want DRAIN (held by the view's intent)", got)
	}
	if got := u.hap.admin("ws", "c"); got != haproxy.Ready {
		t.Errorf("c: %s, want READY (added)", got)
	}
	if got := u.intents.loads - loads; got != 0 {
		t.Errorf("the sync read the intents store %d times, want 0 (the view has them)", got)
	}
}

// TestSyncReadsIntentsWhileFleetReadsFail: while the member's reads of the
// fleet's keys fail, its last view may miss an operator's new intent: the
// sync reads the store instead (and, when that fails too, sets no server
// ready).
func TestSyncReadsIntentsWhileFleetReadsFail(t *testing.T) {
	u := newUnit(t, "1h", Config{})
	ctx := u.attach(t, u.render(t, inst("a", 1), inst("b", 2)))
	u.joinFakeFleet(t)
	u.syncWith(ctx, inst("a", 1), inst("b", 2))
	u.a.fleetView(ctx, fleetView(2))
	u.a.fleet.current = func() bool { return false }
	if err := u.intents.Put(ctx, intent.Intent{Backend: "ws", Server: "a", State: haproxy.Drain, Since: time.Now()}); err != nil {
		t.Fatal(err)
	}
	u.a.retry = true
	u.syncWith(ctx, inst("a", 1), inst("b", 2))
	if got := u.hap.admin("ws", "a"); got != haproxy.Drain {
		t.Errorf("a: %s, want DRAIN (the store's intent, which the last view lacks)", got)
	}
}

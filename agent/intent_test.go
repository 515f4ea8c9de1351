package agent

import (
	"context"
	"testing"
	"time"

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

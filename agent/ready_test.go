package agent

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/internal/lbtest"
)

// TestAgentReadyOnceAndRereadOnDemand runs the agent as systemd does:
// Ready must come once, after the first sync, and a Reread (SIGHUP) must
// pick up a changed spec file at once although the file is polled only
// hourly.
func TestAgentReadyOnceAndRereadOnDemand(t *testing.T) {
	r := startRig(t)
	w1 := lbtest.StartWsecho(t, "echo-1", "--close-spread", "0s")
	w2 := lbtest.StartWsecho(t, "static-1", "--close-spread", "0s")
	register(t, r.consul, "echo-1", w1)

	specFile, writeSpec, s := r.specFile(t)
	var readies atomic.Int32
	reread := make(chan struct{}, 1)
	a := r.startAgentWith(t, Config{
		Spec: s, SpecFile: specFile, SpecPoll: time.Hour, Reread: reread,
		Ready: func() { readies.Add(1) },
	})
	eventually(t, "ready", func() bool { return readies.Load() == 1 })
	if a.Metrics().LastSync().IsZero() {
		t.Error("Ready called before the first sync")
	}
	eventually(t, "echo-1 READY", func() bool { return r.servers(t, "ws")["echo-1"].Admin == haproxy.Ready })

	writeSpec("  - name: extra\n    servers:\n      - name: static-1\n        address: " + w2.Addr)
	reread <- struct{}{}
	eventually(t, "extra/static-1 READY after the reread", func() bool {
		return r.servers(t, "extra")["static-1"].Admin == haproxy.Ready
	})
	// Later syncs (the reread's) do not announce readiness again.
	if got := readies.Load(); got != 1 {
		t.Errorf("Ready called %d times, want 1", got)
	}
}

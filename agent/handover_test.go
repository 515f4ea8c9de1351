package agent

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/haproxy/haproxytest"
	"github.com/wsctl/wsctl/internal/lbtest"
)

// TestAgentHandsOverAfterReload: a structure change reloads HAProxy while
// WebSockets are open; after handover_after the agent closes the old
// worker's sessions at the backend's close_rate, the clients reconnect to
// the new worker, and the old worker exits long before hard_stop_after.
func TestAgentHandsOverAfterReload(t *testing.T) {
	const clients, rate = 30, 50.0
	r := startRigEdited(t, func(s string) string {
		s = strings.Replace(s, "  hard_stop_after: 5s\n", "  hard_stop_after: 1m\n  handover_after: 300ms\n", 1)
		return strings.Replace(s, "    drain_timeout: 30s\n", "    drain_timeout: 30s\n    close_rate: 50\n", 1)
	})
	specFile, writeSpec, s := r.specFile(t)
	a := r.startAgentWith(t, Config{Spec: s, SpecFile: specFile, SpecPoll: 50 * time.Millisecond})
	r.echoes(t, "echo-1")
	fleet := haproxytest.StartClients(t, "ws://"+r.frontend+"/ws", clients, true)
	if on := fleet.Connected(); on["echo-1"] != clients {
		t.Fatalf("clients per server = %v, want %d on echo-1", on, clients)
	}
	master := haproxy.NewMaster(r.haproxy.MasterSocket, 2*time.Second)

	start := time.Now()
	w2 := lbtest.StartWsecho(t, "static-1", "--close-spread", "0s")
	writeSpec("  - name: extra\n    servers:\n      - name: static-1\n        address: " + w2.Addr)
	eventually(t, "the reload", func() bool { return a.Metrics().Reloads.Load() == 1 })
	// While it hands over, the old worker and what it holds are on
	// /metrics, for the alert on old workers that keep their WebSockets.
	eventually(t, "the old worker on /metrics", func() bool {
		return strings.Contains(scrape(a), "wsctl_agent_old_worker_sessions{worker=")
	})
	eventually(t, "the old worker gone", func() bool {
		p, err := master.Procs(context.Background())
		return err == nil && len(p.Old) == 0
	})
	if gone := time.Since(start); gone > 30*time.Second {
		t.Errorf("the old worker lived %s, want it gone long before hard_stop_after (1m)", gone)
	}
	if !fleet.WaitFor(10*time.Second, func(on map[string]int) bool { return on["echo-1"] == clients }) {
		t.Fatalf("clients per server = %v, want all %d back", fleet.Connected(), clients)
	}
	var cuts []time.Time
	for _, e := range fleet.Since(start, false) {
		cuts = append(cuts, e.At)
	}
	if len(cuts) != clients {
		t.Errorf("%d clients cut, want each of the %d once", len(cuts), clients)
	}
	if peak, limit := haproxytest.PeakIn(cuts, 100*time.Millisecond), int(rate/10*1.2); peak > limit {
		t.Errorf("peak %d cuts per 100 ms at %g/s, want at most %d", peak, rate, limit)
	}
	// The hand-over reports what it closed itself; a session HAProxy ended
	// on its own at the same moment is the client's cut but not its close.
	eventually(t, "the hand-over's report", func() bool { return a.Metrics().HandoverClosed.Load() > 0 })
	if n := a.Metrics().HandoverClosed.Load(); n > clients {
		t.Errorf("the hand-over reports %d sessions closed, more than the %d there were", n, clients)
	}
	if body := scrape(a); strings.Contains(body, "wsctl_agent_old_worker") {
		t.Errorf("/metrics still has the old worker that exited:\n%s", body)
	}
}

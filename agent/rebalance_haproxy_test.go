package agent

import (
	"math"
	"strings"
	"testing"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/haproxy/haproxytest"
	"github.com/wsctl/wsctl/internal/lbtest"
)

// TestRebalanceAgentScaleOut: real HAProxy, Consul and reconnecting
// WebSocket clients. A fourth server registered next to three full ones
// is added by the agent, which then rebalances the backend (`rebalance:
// true`): every server ends within 15 % of a quarter, every one READY,
// and the sessions moved are at most 1.2 × the minimum.
func TestRebalanceAgentScaleOut(t *testing.T) {
	const clients = 240
	r := startRigEdited(t, func(s string) string {
		return strings.Replace(s, "    slowstart: 0s\n", "    slowstart: 0s\n    rebalance: true\n    close_rate: 200\n", 1)
	})
	var ws []*lbtest.Wsecho
	for _, id := range []string{"echo-1", "echo-2", "echo-3", "echo-4"} {
		ws = append(ws, lbtest.StartWsecho(t, id, "--close-spread", "0s"))
	}
	a := r.startAgent(t, r.spec)
	for i := range 3 {
		register(t, r.consul, ws[i].ID, ws[i])
	}
	eventually(t, "three servers READY and UP", func() bool {
		s := r.servers(t, "ws")
		return len(s) == 3 && s["echo-3"].TakesClients() && s["echo-2"].TakesClients() && s["echo-1"].TakesClients()
	})
	fleet := haproxytest.StartClients(t, "ws://"+r.frontend+"/ws", clients, true)
	// The three were added too: rebalanced for once their checks passed.
	eventually(t, "the first rebalance", func() bool { return a.Metrics().Rebalances.Load() >= 1 })
	first := a.Metrics().Rebalances.Load()
	moved := a.Metrics().RebalanceMoved.Value("ws")

	register(t, r.consul, ws[3].ID, ws[3])
	eventually(t, "the rebalance after echo-4", func() bool { return a.Metrics().Rebalances.Load() > first })
	if got := a.Metrics().Rebalances.Value("ws", "balanced"); got != first+1 {
		t.Errorf("balanced rebalances %d, want %d", got, first+1)
	}
	moved = a.Metrics().RebalanceMoved.Value("ws") - moved
	eventually(t, "every client connected", func() bool {
		n := 0
		for _, c := range fleet.Connected() {
			n += c
		}
		return n == clients
	})
	want := float64(clients) / 4
	for name, s := range r.servers(t, "ws") {
		if math.Abs(float64(s.Scur)-want) > 0.15*want {
			t.Errorf("%s holds %d sessions, want %g ± 15 %% (%v)", name, s.Scur, want, fleet.Connected())
		}
		if s.Admin != haproxy.Ready {
			t.Errorf("%s is %s at the end, want READY", name, s.Admin)
		}
	}
	// The minimum: each of the three gives up a third of its share.
	if minimum := clients / 4; moved > uint64(1.2*float64(minimum)) {
		t.Errorf("%d sessions moved, want at most 1.2 × the minimum %d", moved, minimum)
	}
}

package agent

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/haproxy/haproxytest"
	"github.com/wsctl/wsctl/internal/lbtest"
)

// stickyDrain makes the rig's backend sticky, with a short drain_timeout
// and a close_rate.
func stickyDrain(timeout, rate string) func(string) string {
	return func(s string) string {
		return strings.Replace(s, "    drain_timeout: 30s\n",
			"    drain_timeout: "+timeout+"\n    close_rate: "+rate+"\n    sticky: {cookie: SERVERID}\n", 1)
	}
}

// TestAgentDrainTimeoutClosesPaced deregisters a server holding WebSockets
// whose clients keep their sticky cookie and reconnect at once: when the
// drain_timeout passes, the agent sets MAINT first, then closes what is
// left at the backend's close_rate (never all at once), no client comes
// back to the drained server, and the server is deleted.
func TestAgentDrainTimeoutClosesPaced(t *testing.T) {
	const rate, perServer = 50.0, 20
	r := startRigEdited(t, stickyDrain("1s", "50"))
	r.startAgent(t, r.spec)
	r.echoes(t, "echo-1", "echo-2")
	fleet := haproxytest.StartClients(t, "ws://"+r.frontend+"/ws", 2*perServer, true)
	if on := fleet.Connected(); on["echo-2"] == 0 || on["echo-1"] == 0 {
		t.Fatalf("clients per server = %v, want both used", on)
	}
	n2 := fleet.Connected()["echo-2"]

	start := time.Now()
	r.consul.Deregister(t, "echo-2")
	eventually(t, "echo-2 deleted", func() bool {
		_, ok := r.servers(t, "ws")["echo-2"]
		return !ok
	})
	if !fleet.WaitFor(10*time.Second, func(on map[string]int) bool { return on["echo-1"] == 2*perServer }) {
		t.Fatalf("clients per server = %v, want all %d on echo-1", fleet.Connected(), 2*perServer)
	}
	var closes []time.Time
	for _, e := range fleet.Since(start, false) {
		if e.Server != "echo-2" {
			t.Errorf("client %d lost %s", e.Client, e.Server)
			continue
		}
		if e.At.Sub(start) < time.Second {
			t.Errorf("client %d cut %s after the deregistration, before the 1s drain_timeout", e.Client, e.At.Sub(start))
		}
		closes = append(closes, e.At)
	}
	if len(closes) != n2 {
		t.Errorf("%d clients of echo-2 were cut, want %d", len(closes), n2)
	}
	back := 0
	for _, e := range fleet.Since(start, true) {
		if e.Server == "echo-2" {
			back++
		}
	}
	if back != 0 {
		t.Errorf("%d reconnecting clients landed on the drained echo-2, want 0", back)
	}
	// rate/10 per 100 ms, +20%.
	if peak, limit := haproxytest.PeakIn(closes, 100*time.Millisecond), int(rate/10*1.2); peak > limit {
		t.Errorf("peak %d closes per 100 ms at %g/s, want at most %d", peak, rate, limit)
	}
	if len(closes) > 1 {
		t.Logf("closed %d sessions over %s, peak %d per 100 ms", len(closes), closes[len(closes)-1].Sub(closes[0]).Round(time.Millisecond), haproxytest.PeakIn(closes, 100*time.Millisecond))
	}
}

// TestAgentReadmitsAfterAFreshCheck: a server discovery reports healthy
// again comes back READY, but takes clients only once HAProxy's own check
// passes — not on the health it had before its MAINT.
func TestAgentReadmitsAfterAFreshCheck(t *testing.T) {
	r := startRig(t)
	r.startAgent(t, r.spec)
	w2 := r.echoes(t, "echo-1", "echo-2")["echo-2"]
	eventually(t, "echo-2 UP", func() bool { return r.servers(t, "ws")["echo-2"].State == haproxy.Up })
	r.consul.SetHealth(t, "echo-2", api.HealthCritical)
	eventually(t, "echo-2 MAINT", func() bool { return r.servers(t, "ws")["echo-2"].Admin == haproxy.Maint })

	// The instance is not really back: HAProxy's check fails while
	// Consul says passing.
	w2.Proc.Signal(t, syscall.SIGUSR1)
	r.consul.SetHealth(t, "echo-2", api.HealthPassing)
	eventually(t, "echo-2 READY", func() bool { return r.servers(t, "ws")["echo-2"].Admin == haproxy.Ready })
	time.Sleep(time.Second) // three check intervals
	if s := r.servers(t, "ws")["echo-2"]; s.State != haproxy.Down {
		t.Fatalf("echo-2 readmitted while its checks fail: %s, want DOWN", s.State)
	}
	for range 5 {
		c := lbtest.NewClient("ws://" + r.frontend + "/ws")
		if err := c.Connect(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		if c.Server == "echo-2" {
			t.Fatal("a client landed on echo-2 before a check passed")
		}
	}
	w2.Proc.Signal(t, syscall.SIGUSR2)
	eventually(t, "echo-2 UP after a passing check", func() bool { return r.servers(t, "ws")["echo-2"].State == haproxy.Up })
}

// TestAgentRestartFinishesItsWork: the agent's own drains and an
// unfinished batch survive a restart of the agent. Without the state file
// a new agent takes the DRAIN and MAINT it finds for an operator's and
// leaves them for good.
func TestAgentRestartFinishesItsWork(t *testing.T) {
	r := startRigEdited(t, stickyDrain("1s", "50"))
	ctx, cancel := context.WithCancel(context.Background())
	first := r.startAgentCtx(t, ctx)
	r.echoes(t, "echo-1", "echo-2", "echo-3")
	fleet := haproxytest.StartClients(t, "ws://"+r.frontend+"/ws", 6, false)
	if fleet.Connected()["echo-2"] == 0 {
		t.Fatalf("no client on echo-2: %v", fleet.Connected())
	}
	// A deregistration starts a drain; the agent stops before it ends.
	r.consul.Deregister(t, "echo-2")
	eventually(t, "echo-2 DRAIN", func() bool { return r.servers(t, "ws")["echo-2"].Admin == haproxy.Drain })
	cancel()
	first.wait()

	// A batch the agent was in the middle of: echo-3 added (so in MAINT)
	// but not set ready yet when the agent died.
	c := r.client(t)
	if err := c.SetState(context.Background(), "ws", "echo-3", haproxy.Maint); err != nil {
		t.Fatal(err)
	}
	stateFile := filepath.Join(r.runDir, StateFileName)
	var st ownWork
	data, err := os.ReadFile(stateFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	// The drain is recorded once the batch that set DRAIN returned; an
	// agent stopped in the middle of it records echo-2 as changing: either
	// makes it the agent's to finish.
	if _, ok := st.Drains["ws/echo-2"]; !ok && !slices.Contains(st.Changing, "ws/echo-2") {
		t.Fatalf("state file records neither the drain of echo-2 nor the batch:\n%s", data)
	}
	st.Changing = append(st.Changing, "ws/echo-3")
	data, _ = json.Marshal(st)
	if err := os.WriteFile(stateFile, data, 0o644); err != nil {
		t.Fatal(err)
	}

	r.startAgent(t, r.spec)
	eventually(t, "echo-2 drained and deleted by the new agent", func() bool {
		_, ok := r.servers(t, "ws")["echo-2"]
		return !ok
	})
	eventually(t, "echo-3 READY again", func() bool { return r.servers(t, "ws")["echo-3"].Admin == haproxy.Ready })
}

// echoes starts a wsecho per id, registers each in Consul under its id and
// waits until the running agent has made them all READY.
func (r *rig) echoes(t *testing.T, ids ...string) map[string]*lbtest.Wsecho {
	t.Helper()
	out := map[string]*lbtest.Wsecho{}
	for _, id := range ids {
		out[id] = lbtest.StartWsecho(t, id, "--close-spread", "0s")
		register(t, r.consul, id, out[id])
	}
	eventually(t, strings.Join(ids, ", ")+" READY", func() bool {
		s := r.servers(t, "ws")
		for _, id := range ids {
			if s[id].Admin != haproxy.Ready {
				return false
			}
		}
		return true
	})
	return out
}

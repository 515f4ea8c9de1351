package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/haproxy/haproxytest"
	"github.com/wsctl/wsctl/internal/lbtest"
)

// TestFleetRebalanceCommand runs `wsctl rebalance --fleet` against two
// load balancers holding 20/20/0 cookie clients each (echo-3 readmitted
// into the full backend): --dry-run prints the plan and cuts nobody; an
// agent killed during the closes is exit 2 naming it; once it is back the
// rebalance ends balanced, exit 0, every server READY on both.
func TestFleetRebalanceCommand(t *testing.T) {
	r := startCLIFleet(t, 2)
	spec := r.lbs[0].specFile
	if code, out, errOut := wsctl("maint", "ws/echo-3", "--fleet", "-c", spec, "--force"); code != 0 {
		t.Fatalf("maint: exit %d\n%s%s", code, out, errOut)
	}
	var clients []*haproxytest.Clients
	for _, lb := range r.lbs {
		clients = append(clients, haproxytest.StartClients(t, "ws://"+lb.frontend+"/ws", 40, true))
	}
	if code, out, errOut := wsctl("ready", "ws/echo-3", "--fleet", "-c", spec, "--wait-healthy", "15s"); code != 0 {
		t.Fatalf("ready: exit %d\n%s%s", code, out, errOut)
	}
	start := time.Now()
	code, out, errOut := wsctl("rebalance", "ws", "--fleet", "-c", spec, "--dry-run", "-o", "json")
	var plan struct {
		Result  string `json:"result"`
		Minimum int64  `json:"minimum"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &plan) != nil || plan.Result != "planned" || plan.Minimum != 26 {
		t.Fatalf("dry run: exit %d, %+v\nstdout %s\nstderr %s", code, plan, out, errOut)
	}
	time.Sleep(300 * time.Millisecond)
	for _, c := range clients {
		if cuts := c.Since(start, false); len(cuts) != 0 {
			t.Fatalf("the dry run cut %d clients", len(cuts))
		}
	}

	type result struct {
		code     int
		out, err string
	}
	done := make(chan result, 1)
	go func() {
		code, out, errOut := wsctl("rebalance", "ws", "--fleet", "-c", spec, "--close-rate", "2", "-q")
		done <- result{code, out, errOut}
	}()
	lbtest.WaitFor(t, 20*time.Second, "lb2 closing for the rebalance", func() bool {
		p, _, err := r.consul.Client.KV().Get("wsctl/progress/lb2/ws/echo-1", nil)
		return err == nil && p != nil && strings.Contains(string(p.Value), `"round":1`)
	})
	r.lbs[1].agent.Signal(t, syscall.SIGKILL)
	got := <-done
	if got.code != 2 || !strings.Contains(got.err, "agent lb2 stopped reporting") {
		t.Fatalf("lb2 killed: exit %d, stdout %q, stderr %q; want 2 naming lb2", got.code, got.out, got.err)
	}
	r.lbs[1].agent.Wait(5 * time.Second)
	for _, name := range []string{"echo-1", "echo-2"} {
		if s := r.lbs[0].server(t, name); s.Admin != haproxy.Ready {
			t.Errorf("lb1: %s %s after the failed rebalance, want READY", name, s.Admin)
		}
		// A killed agent cannot readmit its donors: the error said so,
		// and a local ready does.
		if code, out, errOut := wsctl("ready", "ws/"+name, "--socket", r.lbs[1].admin); code != 0 {
			t.Fatalf("lb2: ready %s: exit %d\n%s%s", name, code, out, errOut)
		}
	}
	r.lbs[1].start(t)
	lbtest.WaitFor(t, 15*time.Second, "lb2 back in the fleet", func() bool {
		p, _, err := r.consul.Client.KV().Get("wsctl/agents/lb2", nil)
		return err == nil && p != nil && p.Session != ""
	})

	code, out, errOut = wsctl("rebalance", "ws", "--fleet", "-c", spec, "--close-rate", "100", "-q")
	if code != 0 || !strings.HasPrefix(out, "ws balanced: ") {
		t.Fatalf("rebalance: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	total := map[string]int64{}
	for _, lb := range r.lbs {
		for _, name := range []string{"echo-1", "echo-2", "echo-3"} {
			s := lb.server(t, name)
			total[name] += s.Scur
			if s.Admin != haproxy.Ready {
				t.Errorf("%s: %s %s at the end, want READY", lb.id, name, s.Admin)
			}
		}
	}
	for name, n := range total {
		if n < 23 || n > 31 {
			t.Errorf("%s holds %d sessions fleet-wide, want 27 ± 15 %% (%v)", name, n, total)
		}
	}
}

// TestRolloutFleetRebalance: `wsctl rollout --rebalance` of a backend
// discovered from Consul ends with the fleet rebalance: the server deployed
// last, nearly empty after the rollout, gets its share back fleet-wide.
func TestRolloutFleetRebalance(t *testing.T) {
	r := startCLIFleet(t, 2)
	for _, lb := range r.lbs {
		haproxytest.StartClients(t, "ws://"+lb.frontend+"/ws", 30, true)
	}
	state := filepath.Join(t.TempDir(), "state.json")
	code, out, errOut := wsctl("rollout", "ws", "-c", r.lbs[0].specFile, "--close-after", "300ms", "--close-rate", "200",
		"--wait-healthy", "15s", "--state", state, "--rebalance", "-q", "--exec", "true")
	if code != 0 || !strings.Contains(out, "rollout of ws done") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	total := map[string]int64{}
	for _, lb := range r.lbs {
		for _, name := range []string{"echo-1", "echo-2", "echo-3"} {
			total[name] += lb.server(t, name).Scur
		}
	}
	for name, n := range total {
		if n < 17 || n > 23 {
			t.Errorf("%s holds %d sessions fleet-wide after the rollout, want 20 ± 15 %% (%v)", name, n, total)
		}
	}
}

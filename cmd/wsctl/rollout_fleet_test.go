package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/haproxy/haproxytest"
)

// stampedLines is a writer that notes when each line came: a rollout
// writes a step's line as the step ends.
type stampedLines struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines []stampedLine
}

type stampedLine struct {
	at   time.Time
	text string
}

func (w *stampedLines) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for {
		line, err := w.buf.ReadString('\n')
		if err != nil {
			w.buf.WriteString(line) // not a whole line yet
			return len(p), nil
		}
		w.lines = append(w.lines, stampedLine{at: time.Now(), text: strings.TrimSuffix(line, "\n")})
	}
}

// fleetStep is a step line of `wsctl rollout -o json` and when it ended.
type fleetStep struct {
	Server  string   `json:"server"`
	Landing []string `json:"landing"`
	Held    []string `json:"held"`
	Cuts    int      `json:"cuts"`
	Drain   string   `json:"drain"`
	Elapsed float64  `json:"elapsed_s"`
	start   time.Time
	end     time.Time
}

// TestRolloutFleet rolls a Consul-discovered backend of three servers
// across two load balancers, each with a real `wsctl agent` and
// reconnecting cookie clients, through the agents only (no socket): about
// C + C/N cuts over the fleet, no client back on the server being drained
// on either load balancer, the holds and the drains shown per step, every
// server READY with no intent at the end, closes within the fleet-wide
// rate.
func TestRolloutFleet(t *testing.T) {
	// A readmitted server warms up (slowstart): leastconn alone would send
	// most cut clients to a server still to deploy; only the holds keep
	// them off it.
	r := startCLIFleetSpec(t, 2, strings.Replace(fleetSpecText, "slowstart: 0s", "slowstart: 20s", 1))
	const perLB = 30 // 10 on each server of each load balancer
	var clients []*haproxytest.Clients
	for _, lb := range r.lbs {
		c := haproxytest.StartClients(t, "ws://"+lb.frontend+"/ws", perLB, true)
		if !c.WaitFor(10*time.Second, func(m map[string]int) bool { return m["echo-1"] == 10 && m["echo-2"] == 10 && m["echo-3"] == 10 }) {
			t.Fatalf("%s: clients not spread: %v", lb.id, c.Connected())
		}
		clients = append(clients, c)
	}

	dir := t.TempDir()
	log, state := filepath.Join(dir, "deploys"), filepath.Join(dir, "state.json")
	const rate = 200.0
	out := &stampedLines{}
	ios, _, errOut := testIO()
	ios.Out = out
	start := time.Now()
	code := Main([]string{"rollout", "ws", "-c", r.lbs[0].specFile, "--close-after", "300ms", "--close-rate", "200",
		"--wait-healthy", "15s", "--state", state, "--reason", "deploy 2.0", "-o", "json",
		"--exec", `echo "$WSCTL_SERVER $WSCTL_ADDRESS" >> ` + log}, ios)
	if code != 0 {
		t.Fatalf("exit %d\nstdout %v\nstderr %s", code, out.lines, errOut)
	}

	var steps []fleetStep
	var sum struct {
		Result string `json:"result"`
		Cuts   int    `json:"cuts"`
	}
	for _, l := range out.lines {
		if strings.Contains(l.text, `"type":"rollout"`) {
			if err := json.Unmarshal([]byte(l.text), &sum); err != nil {
				t.Fatal(err)
			}
			continue
		}
		var s fleetStep
		if err := json.Unmarshal([]byte(l.text), &s); err != nil {
			t.Fatalf("line %q: %v", l.text, err)
		}
		s.end = l.at
		s.start = l.at.Add(-time.Duration(s.Elapsed * float64(time.Second)))
		steps = append(steps, s)
	}
	if len(steps) != 3 || sum.Result != "done" {
		t.Fatalf("%d steps, summary %+v; want 3 and done: %v", len(steps), sum, out.lines)
	}
	wantHeld := [][]string{{}, {"echo-3"}, {}}
	for i, s := range steps {
		if s.Server != []string{"echo-1", "echo-2", "echo-3"}[i] || s.Drain != "drained" || !slices.Equal(s.Held, wantHeld[i]) {
			t.Errorf("step %d: %+v, want echo-%d drained, held %v", i+1, s, i+1, wantHeld[i])
		}
	}

	// Every server deployed once with its address, READY everywhere, no
	// intent nor state file left.
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	deploys := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(deploys) != 3 {
		t.Errorf("deploys %q, want one per server", deploys)
	}
	for i, d := range deploys {
		if f := strings.Fields(d); len(f) != 2 || f[0] != steps[i].Server || !strings.Contains(f[1], ":") {
			t.Errorf("deploy %d ran with %q, want %s and its address", i+1, d, steps[i].Server)
		}
	}
	for _, name := range []string{"echo-1", "echo-2", "echo-3"} {
		r.waitAdmin(t, name, haproxy.Ready)
		if in := r.intent(t, name); in != "" {
			t.Errorf("intent left for %s: %s", name, in)
		}
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("state file left: %v", err)
	}

	// Cuts over the fleet: at most C + C/N + 5%, as the agents report.
	const total = 2 * perLB
	var cuts []time.Time
	for i, c := range clients {
		if !c.WaitFor(10*time.Second, func(m map[string]int) bool { return m["echo-1"]+m["echo-2"]+m["echo-3"] == perLB }) {
			t.Errorf("%s: connected at the end %v, want all %d", r.lbs[i].id, c.Connected(), perLB)
		}
		for _, e := range c.Since(start, false) {
			cuts = append(cuts, e.At)
		}
		// Nobody back on the server being rolled; from the second step
		// on only on the deployed servers.
		for _, e := range c.Since(start, true) {
			for j, s := range steps {
				if e.At.Before(s.start) || e.At.After(s.end) {
					continue
				}
				if e.Server == s.Server || !slices.Contains(s.Landing, e.Server) {
					t.Errorf("%s step %d: client %d landed on %s while %s was rolled (landing %v)", r.lbs[i].id, j+1, e.Client, e.Server, s.Server, s.Landing)
				}
			}
		}
	}
	limit := total + total/3 + total*5/100
	per := make([]int, len(steps))
	for i, s := range steps {
		per[i] = s.Cuts
	}
	t.Logf("fleet rollout: %d cuts (reported %d; floor %d, limit %d), per step %v, in %s", len(cuts), sum.Cuts, total+total/3, limit,
		per, time.Since(start).Round(time.Millisecond))
	if len(cuts) > limit || len(cuts) != sum.Cuts {
		t.Errorf("%d clients cut, the rollout reports %d; want the same, at most %d", len(cuts), sum.Cuts, limit)
	}
	// Each agent paces its share: one more close per load balancer in a
	// window than the rate gives is the unaligned pacing (see the fleet
	// drain's test).
	sort.Slice(cuts, func(i, j int) bool { return cuts[i].Before(cuts[j]) })
	if peak, want := haproxytest.PeakIn(cuts, 100*time.Millisecond), int(rate/10*1.2); peak > want {
		t.Errorf("close peak %d per 100 ms over the fleet at %g/s, want at most %d", peak, rate, want)
	}
}

// TestRolloutFleetRefusals: a Consul backend rolls through the agents, so
// --socket and --surge are refused before anything changes; a static
// backend has no fleet for --allow-missing.
func TestRolloutFleetRefusals(t *testing.T) {
	specPath := writeFile(t, filepath.Join(t.TempDir(), "wsctl.yaml"), strings.NewReplacer("FRONTEND", "127.0.0.1:1", "CONSUL", "127.0.0.1:1", "RUN", t.TempDir()).Replace(fleetSpecText))
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--socket", "/nonexistent.sock"}, "not --socket"},
		{[]string{"--surge", "echo-4"}, "surge server across the fleet is not supported"},
	} {
		args := append([]string{"rollout", "ws", "-c", specPath, "--pause"}, c.args...)
		if code, _, errOut := wsctl(args...); code != exitError || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stderr %s; want %q", c.args, code, errOut, c.want)
		}
	}
}

// TestRolloutFleetPauseNext: a paused rollout across the fleet keeps its
// place in the state file: each --next goes on where the last one stopped
// (and says so), with the drained server in MAINT and the ones still to
// deploy held in DRAIN on every load balancer, the intents saying the same.
func TestRolloutFleetPauseNext(t *testing.T) {
	r := startCLIFleet(t, 2)
	for _, lb := range r.lbs {
		haproxytest.StartClients(t, "ws://"+lb.frontend+"/ws", 6, true)
	}
	args := []string{"rollout", "ws", "-c", r.lbs[0].specFile, "--close-after", "100ms", "--wait-healthy", "15s",
		"--state", filepath.Join(t.TempDir(), "state.json")}
	code, out, errOut := wsctl(append(args, "--pause")...)
	if code != 0 || !strings.Contains(out, "ws/echo-1 is drained and in MAINT: deploy it") {
		t.Fatalf("--pause: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	r.waitAdmin(t, "echo-1", haproxy.Maint)
	if in := r.intent(t, "echo-1"); !strings.Contains(in, `"MAINT"`) {
		t.Errorf("echo-1's intent while paused: %s, want MAINT", in)
	}
	code, out, errOut = wsctl(append(args, "--next")...)
	if code != 0 || !strings.Contains(out, "step 1/3 ws/echo-1") || !strings.Contains(out, "ws/echo-2 is drained") ||
		!strings.Contains(errOut, "resuming the rollout of ws") {
		t.Fatalf("--next: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	r.waitAdmin(t, "echo-1", haproxy.Ready)
	r.waitAdmin(t, "echo-2", haproxy.Maint)
	r.waitAdmin(t, "echo-3", haproxy.Drain)
	if in := r.intent(t, "echo-3"); !strings.Contains(in, `"DRAIN"`) || !strings.Contains(in, `"hold":true`) {
		t.Errorf("echo-3's intent while held: %s, want a DRAIN hold", in)
	}
	for _, want := range []string{"ws/echo-3 is drained", "rollout of ws done: 3 servers"} {
		code, out, errOut = wsctl(append(args, "--next")...)
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("--next: exit %d, stdout %q, stderr %q; want %q", code, out, errOut, want)
		}
	}
	for _, name := range []string{"echo-1", "echo-2", "echo-3"} {
		r.waitAdmin(t, name, haproxy.Ready)
		if in := r.intent(t, name); in != "" {
			t.Errorf("intent left for %s: %s", name, in)
		}
	}
}

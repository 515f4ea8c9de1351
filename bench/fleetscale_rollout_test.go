package bench

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/internal/lbtest"
	"github.com/wsctl/wsctl/rebalance"
)

// scaleFleet is what a fleet rollout of a "Fleet at scale" row acts on.
type scaleFleet struct {
	c        scaleCase
	wsctl    string
	spec     string // the operator's spec: Consul directly
	lbs      []*scaleLB
	backends []*lbtest.Wsecho // restarted in place as the rollout deploys them
	t0       time.Time        // the clients' start: the timelines' zero
}

// scaleRoll is what a fleet rollout measured.
type scaleRoll struct {
	rollCounts
	start     time.Time
	conns     int // C: WebSockets open when it started
	servers   int // N
	first     int // s₁: on chat-ws-1, the first rolled, when it started
	drops     int // closes the clients saw from its start to their end
	closePeak int
	liveEnd   int    // the clients' live WebSockets at their end
	failed    string // why the rollout stopped ("" when it did not)
	rows      []Row
	rebalance scaleRebalance // the fleet rebalance before it
}

// scaleRebalance is what the fleet rebalance before a rollout measured.
type scaleRebalance struct {
	took           time.Duration
	moved, minimum int64
	before, after  []int64 // sessions per server, fleet-wide
	// result is the rebalance's own verdict: balanced, or unbalanced
	// (two rounds done, a server still outside its tolerance: with 20
	// WebSockets, where the clients that reconnect land is chance).
	result string
	failed string
}

// runScaleRebalance evens out ws_cluster across the fleet with `wsctl
// rebalance --fleet` at the row's rate.
func runScaleRebalance(t *testing.T, f scaleFleet) scaleRebalance {
	t.Helper()
	start := time.Now()
	out, err := exec.Command(f.wsctl, "rebalance", "ws_cluster", "--fleet", "-c", f.spec, "--close-rate", fmt.Sprint(f.c.rate),
		"--timeout", "5m", "-o", "json", "-q").Output()
	rb := scaleRebalance{took: time.Since(start)}
	var ee *exec.ExitError
	unbalanced := false // exit 3: the rebalance ran, and says so
	if errors.As(err, &ee) {
		unbalanced = ee.ExitCode() == 3
		err = fmt.Errorf("%w: %s", err, bytes.TrimSpace(ee.Stderr))
	}
	lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
	var sum rebalance.Summary
	jerr := json.Unmarshal(lines[len(lines)-1], &sum)
	if unbalanced && jerr == nil && sum.Result == string(rebalance.Unbalanced) {
		err = nil // a result the report shows; the rollout starts from what it left
	}
	if jerr != nil || err != nil {
		rb.failed = fmt.Sprintf("wsctl rebalance --fleet before it: %v: %s", errors.Join(err, jerr), bytes.TrimSpace(out))
		return rb
	}
	rb.result, rb.moved, rb.minimum = sum.Result, sum.Closed, sum.Minimum
	for _, s := range sum.Before {
		rb.before = append(rb.before, s.Sessions)
	}
	for _, s := range sum.After {
		rb.after = append(rb.after, s.Sessions)
	}
	return rb
}

// runScaleRollout rolls every server of ws_cluster across the fleet, the
// way a pipeline does: `wsctl rollout --pause`, deploy, `--next`.
func runScaleRollout(t *testing.T, f scaleFleet) *scaleRoll {
	t.Helper()
	// The drain before left chat-ws-2 in MAINT with its intent in Consul:
	// readmit it, so the rollout starts with every server in rotation.
	lbs := scaleLBs(f.lbs)
	ro := &scaleRoll{servers: len(f.backends), start: time.Now()}
	if out, err := exec.Command(f.wsctl, "ready", "ws_cluster/chat-ws-2", "--fleet", "-c", f.spec, "--wait-healthy", "1m").CombinedOutput(); err != nil {
		// A failed rollout is a result too: the row says why.
		ro.failed = fmt.Sprintf("wsctl ready --fleet before it: %v: %s", err, bytes.TrimSpace(out))
		t.Error(ro.failed)
		return ro
	}
	// The drain left chat-ws-2 empty: even the servers out first, as a
	// pipeline does before a rollout (`wsctl rebalance --fleet`), so the
	// rollout starts from C/N a server and its floor is C + C/N.
	ro.rebalance = runScaleRebalance(t, f)
	if ro.rebalance.failed != "" {
		ro.failed = ro.rebalance.failed
		t.Error(ro.failed)
		return ro
	}
	before := lbs.mustSessions(t)
	ro.conns, ro.first, ro.start = before.total(), before["chat-ws-1"].scur, time.Now()
	rts := make([]*haproxy.Client, len(f.lbs))
	for i, lb := range f.lbs {
		rts[i] = lb.rt
	}
	var err error
	ro.rollCounts, err = pausedRollout{wsctl: f.wsctl,
		args: []string{"rollout", "ws_cluster", "-c", f.spec, "--close-after", "1s", "--close-rate", fmt.Sprint(f.c.rate),
			"--timeout", "10m", "--wait-healthy", "1m", "--state", filepath.Join(t.TempDir(), "rollout.json"), "-o", "json"},
		backend: "ws_cluster", rts: rts, start: f.t0,
		deploy: func(server string) {
			for i, w := range f.backends {
				if w.ID == server {
					f.backends[i] = restartWsecho(t, w)
				}
			}
		}}.run(t)
	ro.marks = append([]Mark{{TMs: ro.start.Sub(f.t0).Milliseconds(), Label: "rollout"}}, ro.marks...)
	if err != nil {
		ro.failed = err.Error()
		t.Error(err)
		return ro
	}
	// Let the last server's clients land before the clients stop.
	lbtest.WaitFor(t, 30*time.Second, fmt.Sprintf("%d WebSockets back", ro.conns), func() bool {
		now, err := lbs.sessions()
		return err == nil && now.total() >= ro.conns
	})
	time.Sleep(2 * time.Second)
	return ro
}

// floor is the fewest cuts the rollout can make: C + s₁.
func (ro *scaleRoll) floor() int { return ro.conns + ro.first }

// check fails t on what the rollout promises whatever the speed.
func (ro *scaleRoll) check(t *testing.T) {
	t.Helper()
	if ro.back != 0 {
		t.Errorf("the rollout sent %d clients to a held or draining server, want 0", ro.back)
	}
	if limit := ro.floor() + ro.conns*5/100; ro.cut > limit {
		t.Errorf("the rollout cut %d sessions of %d on %d servers (%d on the first), want at most C + s₁ + 5%% = %d",
			ro.cut, ro.conns, ro.servers, ro.first, limit)
	}
}

func (ro *scaleRoll) String() string {
	return fmt.Sprintf("rollout of %d servers: C %d, s₁ %d, cut %d %v (C + C/N %d, C + s₁ %d), drops seen %d, in %s, close peak %d, "+
		"back %d, live at the end %d", ro.servers, ro.conns, ro.first, ro.cut, ro.cuts, ro.conns+ro.conns/ro.servers, ro.floor(),
		ro.drops, ro.total.Round(100*time.Millisecond), ro.closePeak, ro.back, ro.liveEnd)
}

// fleetScaleRolloutReport is the rollout table of the section, "" when no
// row had one.
func fleetScaleRolloutReport(runs []scaleRun, name string) string {
	var b strings.Builder
	for _, r := range runs {
		ro := r.roll
		if ro == nil {
			continue
		}
		if b.Len() == 0 {
			b.WriteString("\n### Fleet rollout\n\n" +
				"| load balancers × WebSockets, rate | C | servers N | cuts (agents) | drops clients saw | C + C/N | C + s₁ | time | per server (mean) | close peak /100 ms | allowed | back | not reconnected |\n" +
				"|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		}
		var sum time.Duration
		for _, d := range ro.perBackend {
			sum += d
		}
		took := fmt.Sprintf("**%.1f s**", ro.total.Seconds())
		// A rollout that stopped did not count what the end compares
		// with the start.
		left := strconv.Itoa(ro.conns - ro.liveEnd)
		if ro.failed != "" {
			took, left = fmt.Sprintf("**stopped after %.1f s**", ro.total.Seconds()), "–"
		}
		fmt.Fprintf(&b, "| %s | %d | %d | **%d** | %d | %d | %d | %s | %.1f s | **%d** | %.0f | %d | %s |\n",
			r.c.label(), ro.conns, ro.servers, ro.cut, ro.drops, ro.conns+ro.conns/ro.servers, ro.floor(), took,
			sum.Seconds()/float64(max(len(ro.perBackend), 1)), ro.closePeak, r.c.rate/10*1.2, ro.back, left)
	}
	if b.Len() == 0 {
		return ""
	}
	fmt.Fprintf(&b, "\nCuts per server, in roll order:\n\n")
	for _, r := range runs {
		if ro := r.roll; ro != nil {
			fmt.Fprintf(&b, "- %s: %v\n", r.c.label(), ro.cuts)
			if rb := ro.rebalance; rb.failed == "" && rb.took > 0 {
				fmt.Fprintf(&b, "  - the fleet rebalance before it: %v → %v, moved %d (minimum %d) in %.1f s, %s\n",
					rb.before, rb.after, rb.moved, rb.minimum, rb.took.Seconds(), rb.result)
			}
			if ro.failed != "" {
				// The first line says why; the rest is the command's own
				// table.
				why, _, _ := strings.Cut(ro.failed, "\n")
				fmt.Fprintf(&b, "  - the rollout stopped: %s\n", why)
			}
		}
	}
	fmt.Fprintf(&b, "\nPlot: [%[1]s_rollout.svg](%[1]s_rollout.svg) (the largest fleet with a rollout: drops and reconnects per 100 ms "+
		"summed over the load balancers, live WebSockets; dashed lines: the rollout's start and each restart).\n", name)
	return b.String()
}

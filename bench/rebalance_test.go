package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wsctl/wsctl/internal/lbtest"
)

// scaleOutRun is one scale-out from three servers to four: the sessions per
// server before and after the action (or the wait), and what it cost.
type scaleOutRun struct {
	before, after []int
	minimum       int // Σ max(0, sessions − target) before
	moved         int // sessions wsctl rebalance closed (0 when waiting)
	took          time.Duration
	rows          []Row
	marks         []Mark
	reconnPeak    int
}

// maxMean is the most sessions a server holds and the mean.
func maxMean(xs []int) (int, float64) {
	most, sum := 0, 0
	for _, x := range xs {
		most, sum = max(most, x), sum+x
	}
	return most, float64(sum) / float64(max(1, len(xs)))
}

// TestScenarioRebalance: a fourth server readmitted next to three full
// ones (a scale-out) under reconnecting cookie clients, then either
// `wsctl rebalance` or, as users do today, nothing for the same time.
func TestScenarioRebalance(t *testing.T) {
	conns := size(120, 3000)
	rate := size(100.0, 500.0)
	wsctl := lbtest.GoBinary(t, "cmd/wsctl")
	lbtest.GoBinary(t, "cmd/wsecho")

	var runsOf [2][]scaleOutRun
	for i := range runs() {
		var window time.Duration
		for m, mode := range []string{"rebalance", "wait"} {
			t.Run(fmt.Sprintf("%s_%d", mode, i+1), func(t *testing.T) {
				r := runScaleOut(t, conns, rate, wsctl, window)
				if mode == "rebalance" {
					window = r.took
				}
				runsOf[m] = append(runsOf[m], r)
			})
		}
	}
	if t.Failed() {
		return
	}
	var body strings.Builder
	fmt.Fprintf(&body, "## Rebalance after a scale-out\n\n")
	fmt.Fprintf(&body, "Method: examples/basic on HAProxy (leastconn, SERVERID sticky cookie, `option redispatch`, checks every 300 ms), "+
		"three wsecho backends holding %d in-process loadgen clients (Reconnect, one cookie jar each, an echo a second), and a fourth "+
		"backend in MAINT, readmitted (`set server … state ready`) once they are connected: a scale-out from 3 to 4 servers. Then\n\n"+
		"- **rebalance**: `wsctl rebalance ws_cluster --close-rate %g` (donors in MAINT, oldest WebSockets closed at the rate, "+
		"READY once the reconnects landed);\n"+
		"- **wait**: what users do today: nothing, for as long as the rebalance took in the same repeat.\n\n"+
		"Sessions per server from `show stat` (scur) before and after; the minimum is Σ max(0, sessions − target); "+
		"the reconnect peak is the worst 100 ms slot of handshakes from the readmission on. %d repeat(s), medians; "+
		"the machine is shared (2 cores), so read ratios, not absolutes.\n\n", conns, rate, runs())
	fmt.Fprintf(&body, "| mode | max/mean before | max/mean after | moved | minimum | moved / minimum | time | reconnect peak /100ms |\n|---|---|---|---|---|---|---|---|\n")
	for m, mode := range []string{"rebalance", "wait"} {
		med := func(f func(r scaleOutRun) float64) float64 {
			var xs []float64
			for _, r := range runsOf[m] {
				xs = append(xs, f(r))
			}
			return Median(xs)
		}
		ratio := func(xs []int) float64 { most, mean := maxMean(xs); return float64(most) / mean }
		moved, minimum := med(func(r scaleOutRun) float64 { return float64(r.moved) }), med(func(r scaleOutRun) float64 { return float64(r.minimum) })
		fmt.Fprintf(&body, "| %s | %.2f | %.2f | %.0f | %.0f | %.2f | %.1f s | %.0f |\n", mode,
			med(func(r scaleOutRun) float64 { return ratio(r.before) }), med(func(r scaleOutRun) float64 { return ratio(r.after) }),
			moved, minimum, moved/max(1, minimum), med(func(r scaleOutRun) float64 { return r.took.Seconds() }),
			med(func(r scaleOutRun) float64 { return float64(r.reconnPeak) }))
	}
	first := runsOf[0][0]
	fmt.Fprintf(&body, "\nSessions per server (backend1–4), first repeat: rebalance %v → %v; wait %v → %v.\n",
		first.before, first.after, runsOf[1][0].before, runsOf[1][0].after)
	fmt.Fprintf(&body, "\nPlot: [rebalance_scaleout.svg](rebalance_scaleout.svg) (the rebalance, first repeat).\n")
	title := fmt.Sprintf("wsctl rebalance after a scale-out 3 → 4, %d clients, %g closes/s", conns, rate)
	publish(t, "rebalance", body.String(), map[string]func(*os.File) error{
		"rebalance_scaleout.svg": func(f *os.File) error { return WriteSVG(f, title, first.rows, first.marks) },
	})
}

// runScaleOut runs one scale-out: with window 0 `wsctl rebalance`, else
// a wait of window.
func runScaleOut(t *testing.T, conns int, rate float64, wsctl string, window time.Duration) scaleOutRun {
	t.Helper()
	st, specPath := startRollStack(t, conns, true)
	load := startRollLoad(t, st, conns)
	defer load.cancel()
	servers := []string{"backend1", "backend2", "backend3", "backend4"}
	scur := func() []int {
		var out []int
		for _, s := range servers {
			v, _ := strconv.Atoi(st.serverStat(t, s, statScur))
			out = append(out, v)
		}
		return out
	}
	lbtest.SocketCommand(t, st.Admin, "set server ws_cluster/backend4 state ready")
	lbtest.WaitFor(t, 20*time.Second, "backend4 UP", func() bool { return st.serverStat(t, "backend4", statStatus) == "UP" })
	var r scaleOutRun
	r.before = scur()
	t0 := time.Now()
	firstSlot := int(t0.Sub(load.start) / (100 * time.Millisecond))
	r.marks = append(r.marks, Mark{TMs: t0.Sub(load.start).Milliseconds(), Label: "backend4 in"})
	if window == 0 {
		cmd := exec.Command(wsctl, "rebalance", "ws_cluster", "-c", specPath, "--close-rate", fmt.Sprint(rate), "-o", "json")
		cmd.Env = append(os.Environ(), "WSCTL_RUN_DIR="+st.RunDir)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("wsctl rebalance: %v\n%s", err, out)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		var sum struct {
			Result          string
			Minimum, Closed int
		}
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil {
			t.Fatalf("wsctl rebalance output: %v\n%s", err, out)
		}
		if sum.Result != "balanced" {
			t.Errorf("wsctl rebalance: %s, want balanced\n%s", sum.Result, out)
		}
		r.minimum, r.moved = sum.Minimum, sum.Closed
	} else {
		time.Sleep(window)
	}
	r.took = time.Since(t0)
	r.marks = append(r.marks, Mark{TMs: time.Since(load.start).Milliseconds(), Label: "end"})
	r.after = scur()
	var rr rollRun
	load.finish(&rr, firstSlot)
	r.rows, r.reconnPeak = rr.rows, rr.reconnPeak
	if window != 0 {
		// What a rebalance would have had to move.
		var target float64
		for _, n := range r.before {
			target += float64(n) / float64(len(r.before))
		}
		for _, n := range r.before {
			r.minimum += max(0, n-int(target))
		}
	}
	t.Logf("%v → %v, minimum %d, moved %d in %s, reconnect peak %d", r.before, r.after, r.minimum, r.moved, r.took, r.reconnPeak)
	return r
}

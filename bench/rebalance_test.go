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
	"github.com/wsctl/wsctl/rebalance"
)

// rebalanceRun is one uneven backend, then `wsctl rebalance` or a wait:
// the sessions per server before and after the action (or the wait), and
// what it cost.
type rebalanceRun struct {
	before, after []int
	minimum       int // Σ max(0, sessions − target) before
	moved         int // sessions wsctl rebalance closed (0 when waiting)
	rounds        int // wsctl rebalance's rounds (a second one when the first left it uneven)
	took          time.Duration
	// closing is the time wsctl spent on its rounds' closes, by its own
	// clock (from each round's plan to its last closing step): moved /
	// closing is the rate it closed at, whatever the clients saw.
	closing    time.Duration
	rows       []Row
	marks      []Mark
	closePeak  int // drops per 100 ms, worst slot from the rebalance on
	reconnPeak int // handshakes per 100 ms, worst slot from the rebalance on
}

// rebalanceCase is one way a backend ends up uneven.
type rebalanceCase struct {
	name  string // the plot is rebalance_<name>.svg
	title string
	spare bool // a fourth backend in MAINT (startRollStack)
	// servers are the servers counted before and after.
	servers []string
	// unbalance makes the backend uneven under load, adding its marks to r.
	unbalance func(t *testing.T, st *stack, specPath string, load *rollLoad, rate float64, wsctl string, r *rebalanceRun)
}

var rebalanceCases = []rebalanceCase{
	{
		name: "rollout", title: "after a rolling deploy",
		servers: []string{"backend1", "backend2", "backend3"},
		unbalance: func(t *testing.T, st *stack, specPath string, load *rollLoad, rate float64, wsctl string, r *rebalanceRun) {
			var rr rollRun
			rollEvery(t, st, specPath, load.start, false, rate, wsctl, &rr)
			r.marks = append(r.marks, rr.marks...)
		},
	},
	{
		name: "scaleout", title: "after a scale-out 3 → 4", spare: true,
		servers: []string{"backend1", "backend2", "backend3", "backend4"},
		unbalance: func(t *testing.T, st *stack, _ string, load *rollLoad, _ float64, _ string, r *rebalanceRun) {
			r.marks = append(r.marks, Mark{TMs: time.Since(load.start).Milliseconds(), Label: "backend4 in"})
			lbtest.SocketCommand(t, st.Admin, "set server ws_cluster/backend4 state ready")
			lbtest.WaitFor(t, 20*time.Second, "backend4 UP", func() bool { return st.serverStat(t, "backend4", statStatus) == "UP" })
		},
	},
}

// maxMean is the most sessions a server holds and the mean.
func maxMean(xs []int) (int, float64) {
	most, sum := 0, 0
	for _, x := range xs {
		most, sum = max(most, x), sum+x
	}
	return most, float64(sum) / float64(max(1, len(xs)))
}

// TestScenarioRebalance: a backend left uneven under reconnecting cookie
// clients, by a rolling deploy (`wsctl rollout`, the last server deployed
// ends nearly empty) or by a fourth server readmitted next to three full
// ones (a scale-out), then either `wsctl rebalance` or, as users do today,
// nothing for the same time.
func TestScenarioRebalance(t *testing.T) {
	conns := size(120, 3000)
	rate := size(100.0, 500.0)
	wsctl := lbtest.GoBinary(t, "cmd/wsctl")
	lbtest.GoBinary(t, "cmd/wsecho")

	modes := []string{"rebalance", "wait"}
	runsOf := make([][2][]rebalanceRun, len(rebalanceCases))
	for ci, c := range rebalanceCases {
		for i := range runs() {
			var window time.Duration
			for m, mode := range modes {
				t.Run(fmt.Sprintf("%s_%s_%d", c.name, mode, i+1), func(t *testing.T) {
					r := runRebalance(t, c, conns, rate, wsctl, window)
					if mode == "rebalance" {
						window = r.took
					}
					runsOf[ci][m] = append(runsOf[ci][m], r)
				})
			}
		}
	}
	if t.Failed() {
		return
	}
	var body strings.Builder
	fmt.Fprintf(&body, "## Rebalance after a rolling deploy and after a scale-out\n\n")
	fmt.Fprintf(&body, "Method: examples/basic on HAProxy (leastconn, SERVERID sticky cookie, `option redispatch`, checks every 300 ms), "+
		"wsecho backends holding %d in-process loadgen clients (Reconnect, one cookie jar each, an echo a second), made uneven two ways:\n\n"+
		"- **rollout**: three backends, every one rolled as the rolling-deploy scenario's rollout does (`wsctl rollout --pause "+
		"--close-after %s --close-rate %g`, SIGTERM, a new wsecho, `--next`): the server deployed last ends nearly empty;\n"+
		"- **scaleout**: three backends and a fourth in MAINT, readmitted (`set server … state ready`) once the clients are "+
		"connected: a scale-out from 3 to 4 servers.\n\nThen\n\n"+
		"- **rebalance**: `wsctl rebalance ws_cluster --close-rate %g` (donors in MAINT, oldest WebSockets closed at the rate, "+
		"READY once the reconnects landed);\n"+
		"- **wait**: what users do today: nothing, for as long as the rebalance took in the same case and repeat.\n\n"+
		"Sessions per server from `show stat` (scur) before and after; the minimum is Σ max(0, sessions − target); "+
		"the close and reconnect peaks are the worst 100 ms slot of drops and of handshakes seen by the clients from the "+
		"rebalance (or the wait) on; the close-rate promises at most %.0f closes per 100 ms. %d repeat(s), medians; "+
		"the machine is shared (2 cores), so read ratios, not absolutes.\n\n", conns, closeAfter, rate, rate, rate/10, runs())
	fmt.Fprintf(&body, "| case | mode | max/mean before | max/mean after | moved | minimum | moved / minimum | time | close peak /100ms | reconnect peak /100ms |\n|---|---|---|---|---|---|---|---|---|---|\n")
	plots := map[string]func(*os.File) error{}
	var notes []string
	for ci, c := range rebalanceCases {
		for m, mode := range modes {
			med := func(f func(r rebalanceRun) float64) float64 {
				var xs []float64
				for _, r := range runsOf[ci][m] {
					xs = append(xs, f(r))
				}
				return Median(xs)
			}
			ratio := func(xs []int) float64 { most, mean := maxMean(xs); return float64(most) / mean }
			moved, minimum := med(func(r rebalanceRun) float64 { return float64(r.moved) }), med(func(r rebalanceRun) float64 { return float64(r.minimum) })
			fmt.Fprintf(&body, "| %s | %s | %.2f | %.2f | %.0f | %.0f | %.2f | %.1f s | %.0f | %.0f |\n", c.name, mode,
				med(func(r rebalanceRun) float64 { return ratio(r.before) }), med(func(r rebalanceRun) float64 { return ratio(r.after) }),
				moved, minimum, moved/max(1, minimum), med(func(r rebalanceRun) float64 { return r.took.Seconds() }),
				med(func(r rebalanceRun) float64 { return float64(r.closePeak) }),
				med(func(r rebalanceRun) float64 { return float64(r.reconnPeak) }))
		}
		first, wait := runsOf[ci][0][0], runsOf[ci][1][0]
		notes = append(notes, fmt.Sprintf("- %s, first repeat: sessions per server (%s) rebalance %v → %v, wait %v → %v; "+
			"wsctl closed %d in %d round(s), %.1f s of closing by its own clock (%.0f/s)", c.name, strings.Join(c.servers, ", "),
			first.before, first.after, wait.before, wait.after, first.moved, first.rounds, first.closing.Seconds(), closeRate(first)))
		title := fmt.Sprintf("wsctl rebalance %s, %d clients, %g closes/s", c.title, conns, rate)
		plots["rebalance_"+c.name+".svg"] = func(f *os.File) error { return WriteSVG(f, title, first.rows, first.marks) }
	}
	fmt.Fprintf(&body, "\n%s\n", strings.Join(notes, "\n"))
	fmt.Fprintf(&body, "\nPlots (the rebalance, first repeat): [rebalance_rollout.svg](rebalance_rollout.svg) (the rollout, then the rebalance), "+
		"[rebalance_scaleout.svg](rebalance_scaleout.svg).\n")
	publish(t, "rebalance", body.String(), plots)
}

// closeRate is the sessions wsctl closed per second of its closing, or 0.
func closeRate(r rebalanceRun) float64 {
	if r.closing <= 0 {
		return 0
	}
	return float64(r.moved) / r.closing.Seconds()
}

// runRebalance makes the backend uneven as c does, then with window 0
// runs `wsctl rebalance`, else waits for window.
func runRebalance(t *testing.T, c rebalanceCase, conns int, rate float64, wsctl string, window time.Duration) rebalanceRun {
	t.Helper()
	st, specPath := startRollStack(t, conns, c.spare)
	load := startRollLoad(t, st, conns)
	defer load.cancel()
	scur := func() []int {
		var out []int
		for _, s := range c.servers {
			v, _ := strconv.Atoi(st.serverStat(t, s, statScur))
			out = append(out, v)
		}
		return out
	}
	var r rebalanceRun
	c.unbalance(t, st, specPath, load, rate, wsctl, &r)
	r.before = scur()
	t0 := time.Now()
	firstSlot := int(t0.Sub(load.start) / (100 * time.Millisecond))
	action := "wait"
	if window == 0 {
		action = "rebalance"
	}
	r.marks = append(r.marks, Mark{TMs: t0.Sub(load.start).Milliseconds(), Label: action})
	if window == 0 {
		cmd := exec.Command(wsctl, "rebalance", "ws_cluster", "-c", specPath, "--close-rate", fmt.Sprint(rate), "-o", "json")
		cmd.Env = append(os.Environ(), "WSCTL_RUN_DIR="+st.RunDir)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("wsctl rebalance: %v\n%s", err, out)
		}
		r.minimum, r.moved, r.rounds, r.closing = readRebalanceJSON(t, out)
	} else {
		time.Sleep(window)
	}
	r.took = time.Since(t0)
	r.marks = append(r.marks, Mark{TMs: time.Since(load.start).Milliseconds(), Label: "end"})
	r.after = scur()
	var rr rollRun
	load.finish(&rr, firstSlot)
	r.rows, r.closePeak, r.reconnPeak = rr.rows, rr.closePeak, rr.reconnPeak
	if window != 0 {
		// What a rebalance would have had to move.
		var loads []rebalance.Load
		for i, n := range r.before {
			loads = append(loads, rebalance.Load{Server: c.servers[i], Sessions: int64(n), Weight: 1, Eligible: true})
		}
		r.minimum = int(rebalance.Compute(loads, 0).Moves)
	}
	t.Logf("%s %s: %v → %v, minimum %d, moved %d in %d round(s), %s (closing %s, %.0f/s by wsctl's clock), close peak %d, reconnect peak %d",
		c.name, action, r.before, r.after, r.minimum, r.moved, r.rounds, r.took, r.closing, closeRate(r), r.closePeak, r.reconnPeak)
	return r
}

// readRebalanceJSON reads `wsctl rebalance -o json`: the minimum, the
// sessions closed and the rounds from its summary, and the time its rounds
// spent closing from its steps. A summary other than balanced fails the
// test.
func readRebalanceJSON(t *testing.T, out []byte) (minimum, closed, rounds int, closing time.Duration) {
	t.Helper()
	planned := map[int]float64{} // round → elapsed at its plan
	lastClose := map[int]float64{}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for _, line := range lines {
		var l struct {
			Type, Step, Result string
			Round              int
			Minimum, Closed    int
			Rounds             int
			Elapsed            float64 `json:"elapsed_s"`
		}
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("wsctl rebalance output: %v\n%s", err, out)
		}
		switch {
		case l.Type == "step" && l.Step == string(rebalance.Planned):
			planned[l.Round] = l.Elapsed
		case l.Type == "step" && l.Step == string(rebalance.Closing):
			lastClose[l.Round] = l.Elapsed
		case l.Type == "rebalance":
			if l.Result != string(rebalance.Balanced) {
				t.Errorf("wsctl rebalance: %s, want balanced\n%s", l.Result, out)
			}
			minimum, closed, rounds = l.Minimum, l.Closed, l.Rounds
		}
	}
	for round, end := range lastClose {
		closing += time.Duration((end - planned[round]) * float64(time.Second))
	}
	return minimum, closed, rounds, closing
}

package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsctl/wsctl/discovery/static"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/internal/lbtest"
	"github.com/wsctl/wsctl/loadgen"
	"github.com/wsctl/wsctl/model"
	"github.com/wsctl/wsctl/proxy"
	"github.com/wsctl/wsctl/render"
	"github.com/wsctl/wsctl/spec"
)

// reloadMode is how a structural change reaches HAProxy.
type reloadMode string

const (
	// reloadHandover is `wsctl reload`: render, validate, write, reload,
	// then the paced hand-over of the old workers' WebSockets.
	reloadHandover reloadMode = "handover"
	// reloadPlain renders, writes and reloads through the master CLI: the
	// old workers keep their WebSockets until hard-stop-after cuts them.
	reloadPlain reloadMode = "plain"
)

var reloadModes = []reloadMode{reloadHandover, reloadPlain}

var reloadTitle = map[reloadMode]string{
	reloadHandover: "`wsctl reload` (paced hand-over)",
	reloadPlain:    "plain reload (render + write + master `reload`)",
}

// reloadParams size the scenario.
type reloadParams struct {
	conns         int
	arrival       time.Duration
	reloads       int
	spacing       time.Duration // between two reloads
	hardStop      time.Duration
	handoverAfter time.Duration
	closeRate     int
}

// procSample is the HAProxy master tree at one instant.
type procSample struct {
	tMs   int64
	procs int
	rssKB int64
}

// reloadRun is one mode's run.
type reloadRun struct {
	mode      reloadMode
	res       loadgen.Result
	rows      []Row
	marks     []Mark
	samples   []procSample
	closed    int // sessions closed by the hand-over (wsctl reload's JSON)
	left      int // sessions left in old workers when a hand-over gave up
	timedOut  int // hand-overs that did not see every old worker exit
	endProcs  int // processes once the last reload's old workers had their time
	backToOne time.Duration
}

// TestScenarioReloads: ten structural reloads while clients hold
// reconnecting WebSockets, with `wsctl reload` (paced hand-over) against
// plain reloads, hard-stop-after shortened. Smoke: 60 clients, 3 reloads;
// full: 3,000 clients, 10 reloads 8 s apart.
func TestScenarioReloads(t *testing.T) {
	p := reloadParams{
		conns:         size(60, 3000),
		arrival:       size(time.Second, 10*time.Second),
		reloads:       size(3, 10),
		spacing:       size(1500*time.Millisecond, 8*time.Second),
		hardStop:      size(4*time.Second, 20*time.Second),
		handoverAfter: size(500*time.Millisecond, 2*time.Second),
		closeRate:     size(200, 750),
	}
	runsBy := map[reloadMode][]reloadRun{}
	for i := range runs() {
		for _, mode := range reloadModes {
			r := inSubtest(t, fmt.Sprintf("%s-%d", mode, i+1), func(t *testing.T) reloadRun { return runReloads(t, mode, p) })
			runsBy[mode] = append(runsBy[mode], r)
			if mode == reloadHandover && (r.timedOut != 0 || r.left != 0) {
				t.Errorf("handover: %d hand-overs timed out, %d sessions left for hard-stop-after to cut", r.timedOut, r.left)
			}
			if mode == reloadHandover && r.endProcs != 2 {
				t.Errorf("handover: %d HAProxy processes after the hand-overs, want the master and one worker", r.endProcs)
			}
			if r.res.Connected < p.conns {
				t.Errorf("%s: %d clients connected, want at least %d", mode, r.res.Connected, p.conns)
			}
		}
	}
	publish(t, "reloads", reloadsReport(runsBy, p), reloadsPlots(runsBy, p))
}

func runReloads(t *testing.T, mode reloadMode, p reloadParams) reloadRun {
	t.Helper()
	st := startStack(t, model.TargetHAProxy, p.conns+1000,
		"hard_stop_after: 30m", fmt.Sprintf("hard_stop_after: %s\n  handover_after: %s", p.hardStop, p.handoverAfter),
		"drain_timeout: 5m", fmt.Sprintf("drain_timeout: 5m\n    close_rate: %d", p.closeRate))
	specFile := filepath.Join(st.RunDir, "wsctl.yaml")
	cfgFile := filepath.Join(st.RunDir, "haproxy.cfg")
	var wsctl string
	if mode == reloadHandover {
		wsctl = lbtest.GoBinary(t, "cmd/wsctl")
	}
	run := reloadRun{mode: mode}

	cfg := loadgen.DefaultConfig()
	cfg.URL = st.url()
	cfg.Conns = p.conns
	cfg.Rate = float64(p.conns) / p.arrival.Seconds()
	firstReload := p.arrival + time.Second
	cfg.Duration = firstReload + time.Duration(p.reloads-1)*p.spacing + p.hardStop + 3*time.Second
	cfg.Interval = time.Second
	cfg.Reconnect = true
	cfg.Cookies = true
	results := make(chan loadgen.Result, 1)
	start := time.Now()
	var wg sync.WaitGroup
	defer wg.Wait()
	// A failed test stops the clients and the sampler before waiting.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wg.Go(func() {
		res, err := loadgen.Run(ctx, cfg)
		if err != nil {
			t.Error(err)
		}
		results <- res
	})
	samplerCtx, stopSampler := context.WithCancel(ctx)
	wg.Go(func() {
		for {
			if rss, procs, err := TreeRSS(st.ProxyPID); err == nil {
				run.samples = append(run.samples, procSample{tMs: time.Since(start).Milliseconds(), procs: procs, rssKB: rss / 1024})
			}
			select {
			case <-samplerCtx.Done():
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	})

	for i := range p.reloads {
		time.Sleep(time.Until(start.Add(firstReload + time.Duration(i)*p.spacing)))
		// The structural change: the servers' check interval alternates,
		// which only a reload applies.
		interval := []string{"interval: 6s", "interval: 5s"}[i%2]
		text := strings.Replace(st.Spec, "interval: 5s", interval, 1)
		if err := os.WriteFile(specFile, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		run.marks = append(run.marks, Mark{TMs: time.Since(start).Milliseconds(), Label: fmt.Sprint(i + 1)})
		switch mode {
		case reloadHandover:
			cmd := exec.Command(wsctl, "reload", "-c", specFile, "--haproxy-config", cfgFile, "-o", "json")
			cmd.Env = append(os.Environ(), "WSCTL_RUN_DIR="+st.RunDir)
			out, err := cmd.Output()
			var sum reloadSummary
			if jerr := json.Unmarshal(out, &sum); jerr != nil {
				t.Fatalf("wsctl reload %d: %v, %v\n%s", i+1, err, jerr, out)
			}
			if sum.Result != "exited" {
				run.timedOut++
			}
			for _, w := range sum.Workers {
				run.closed += w.Closed
				run.left += w.Left
			}
		case reloadPlain:
			plainReload(t, st, text, cfgFile)
		}
	}
	last := time.Duration(run.marks[len(run.marks)-1].TMs) * time.Millisecond
	// Old workers holding WebSockets leave at hard-stop-after at the latest.
	time.Sleep(time.Until(start.Add(last + p.hardStop + time.Second)))
	_, run.endProcs, _ = TreeRSS(st.ProxyPID)
	run.res = <-results
	stopSampler()
	wg.Wait()
	run.rows = RowsFromBuckets(run.res.Timeline)
	run.backToOne = backToOne(run.samples, last)
	t.Logf("%s: reconnect peak %d per 100 ms, max processes %d, max RSS %d KB, dropped %d (hand-over closed %d), processes at the end %d, back to one worker %s after the last reload, lost echoes %d",
		mode, run.reconnectPeak(p), run.maxProcs(), run.maxRSS(), run.res.Dropped, run.closed, run.endProcs, run.backToOne, run.res.LostEchoes)
	return run
}

// reloadSummary is what the benchmark reads of `wsctl reload -o json`.
type reloadSummary struct {
	Result  string
	Workers []struct {
		Closed int
		Left   int `json:"sessions_left"`
	}
}

// plainReload is a reload without wsctl: render, write, reload through the
// master CLI until the new worker answers.
func plainReload(t *testing.T, st *stack, text, cfgFile string) {
	t.Helper()
	s, err := spec.Parse("wsctl.yaml", []byte(text), func(k string) (string, bool) {
		if k == "WSCTL_RUN_DIR" {
			return st.RunDir, true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := render.Config(s, model.TargetHAProxy, static.Snapshot(s), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := proxy.WriteAtomic(cfgFile, r.Config); err != nil {
		t.Fatal(err)
	}
	if err := haproxy.NewMaster(s.HAProxy.MasterSocket, 30*time.Second).Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// backToOne is how long after the last reload the tree was the master and
// one worker for good.
func backToOne(samples []procSample, last time.Duration) time.Duration {
	at := time.Duration(-1)
	for _, s := range samples {
		t := time.Duration(s.tMs) * time.Millisecond
		switch {
		case s.procs > 2:
			at = -1
		case at < 0 && t >= last:
			at = t - last
		}
	}
	return at
}

// reconnectPeak is the most handshakes in one 100 ms slot from the first
// reload on (the arrival before it is the same in both modes).
func (r reloadRun) reconnectPeak(p reloadParams) int {
	from := int((p.arrival + time.Second) / (100 * time.Millisecond))
	return Peak(r.rows, from, len(r.rows), func(r Row) int { return r.Connects })
}

func (r reloadRun) maxProcs() int {
	n := 0
	for _, s := range r.samples {
		n = max(n, s.procs)
	}
	return n
}

func (r reloadRun) maxRSS() int64 {
	var n int64
	for _, s := range r.samples {
		n = max(n, s.rssKB)
	}
	return n
}

func reloadsReport(runsBy map[reloadMode][]reloadRun, p reloadParams) string {
	var body strings.Builder
	fmt.Fprintf(&body, "## Reloads: paced hand-over against plain reloads\n\nMachine:\n\n%s\n", DescribeMachine().Markdown())
	fmt.Fprintf(&body, "Method: examples/basic (leastconn, SERVERID sticky cookie, 3 static wsecho servers) on free ports, "+
		"`hard_stop_after: %s` (shortened for the run), `handover_after: %s`, ws_cluster `close_rate: %d`; %d wsload clients "+
		"arriving over %s, echoing every second and reconnecting (jittered backoff, sticky cookie) whenever they are closed; "+
		"%d structural reloads %s apart from %s on (the servers' check interval alternates 6s/5s, which only a reload applies). "+
		"Each column is a separate stack, one after the other:\n\n"+
		"- **`wsctl reload`**: the binary as users run it (`wsctl reload -c wsctl.yaml --haproxy-config haproxy.cfg -o json`): "+
		"render, validate, write, save the server state, reload through the master CLI, then close the old workers' WebSockets "+
		"at the close rate after the grace period; it returns once every old worker exited (the next reload waits for it when "+
		"it takes longer than the spacing).\n"+
		"- **plain reload**: render, write, `reload` on the master CLI until the new worker answers; the old workers keep "+
		"their WebSockets until hard-stop-after cuts them.\n\n"+
		"Processes and RSS: the HAProxy master's process tree, sampled every 500 ms. Reconnect peak: handshakes per 100 ms "+
		"from the first reload on. Closes: every connection a client saw closed by the peer (each one reconnects); the "+
		"hand-over's share is what `wsctl reload` reports having closed, the rest was cut by hard-stop-after (or lost otherwise). "+
		"%d repeat(s), medians.\n\n",
		p.hardStop, p.handoverAfter, p.closeRate, p.conns, p.arrival, p.reloads, p.spacing, p.arrival+time.Second, runs())
	body.WriteString("| |")
	for _, m := range reloadModes {
		fmt.Fprintf(&body, " %s |", reloadTitle[m])
	}
	body.WriteString("\n|---|" + strings.Repeat("---|", len(reloadModes)) + "\n")
	of := func(m reloadMode, f func(reloadRun) float64) float64 {
		var v []float64
		for _, r := range runsBy[m] {
			v = append(v, f(r))
		}
		return Median(v)
	}
	row := func(name, format string, f func(reloadRun) float64) {
		fmt.Fprintf(&body, "| %s |", name)
		for _, m := range reloadModes {
			fmt.Fprintf(&body, " "+format+" |", of(m, f))
		}
		body.WriteString("\n")
	}
	peak := func(r reloadRun) float64 { return float64(r.reconnectPeak(p)) }
	procs := func(r reloadRun) float64 { return float64(r.maxProcs()) }
	rss := func(r reloadRun) float64 { return float64(r.maxRSS()) / 1024 }
	cuts := func(r reloadRun) float64 { return float64(r.res.Dropped - r.closed) }
	row("**reconnect peak per 100 ms**", "**%.0f**", peak)
	row("HAProxy processes, max (master + workers)", "%.0f", procs)
	row("HAProxy RSS, max (MB)", "%.1f", rss)
	row("clients closed, total (all reconnected)", "%.0f", func(r reloadRun) float64 { return float64(r.res.Dropped) })
	row("… closed by the hand-over, paced", "%.0f", func(r reloadRun) float64 { return float64(r.closed) })
	row("**… cut by hard-stop-after or otherwise**", "**%.0f**", cuts)
	row("back to one worker after the last reload (s)", "%.1f", func(r reloadRun) float64 { return r.backToOne.Seconds() })
	row("lost echoes", "%.0f", func(r reloadRun) float64 { return float64(r.res.LostEchoes) })
	row("echo p99 (ms)", "%.2f", func(r reloadRun) float64 { return r.res.EchoP99Ms })
	ratio := func(f func(reloadRun) float64) float64 {
		if h := of(reloadHandover, f); h > 0 {
			return of(reloadPlain, f) / h
		}
		return 0
	}
	fmt.Fprintf(&body, "\nSame run, plain / hand-over: reconnect peak ×%.1f, max processes ×%.1f, max RSS ×%.1f. "+
		"The hand-over moves every client to the new worker at each reload (more reconnects in total, paced at the close "+
		"rate), where a plain reload leaves them on the old worker until hard-stop-after cuts them all at once (%s here, 30m "+
		"by default: processes and RSS then stay for that long). "+
		"Max processes are the same here because the clients are all on one worker at a time: with plain reloads an old worker that holds no WebSocket exits at once, so only the one holding everyone waits for hard-stop-after; processes pile up when clients spread over several generations (arrivals during the reloads, as in the churn scenario). RSS peaks higher during a hand-over, while the new worker takes the reconnecting clients before the old one has exited.\n\n", ratio(peak), ratio(procs), ratio(rss), p.hardStop)
	body.WriteString("Processes / RSS (MB) over time, first repeat, every 5 s:\n\n| t (s) |")
	for _, m := range reloadModes {
		fmt.Fprintf(&body, " %s |", m)
	}
	body.WriteString("\n|---|" + strings.Repeat("---|", len(reloadModes)) + "\n")
	n := 0
	for _, m := range reloadModes {
		n = max(n, len(runsBy[m][0].samples))
	}
	for i := 0; i < n; i += 10 {
		fmt.Fprintf(&body, "| %.0f |", float64(i)/2)
		for _, m := range reloadModes {
			if s := runsBy[m][0].samples; i < len(s) {
				fmt.Fprintf(&body, " %d / %.1f |", s[i].procs, float64(s[i].rssKB)/1024)
			} else {
				body.WriteString(" – |")
			}
		}
		body.WriteString("\n")
	}
	body.WriteString("\nPlots (first repeat): reloads_handover.svg, reloads_plain.svg (connects and closes per 100 ms, live connections; dashed lines are the reloads).\n")
	return body.String()
}

func reloadsPlots(runsBy map[reloadMode][]reloadRun, p reloadParams) map[string]func(f *os.File) error {
	plots := map[string]func(f *os.File) error{}
	for _, mode := range reloadModes {
		first := runsBy[mode][0]
		title := fmt.Sprintf("reloads, %s: %d clients, %d reloads, hard-stop-after %s", mode, p.conns, p.reloads, p.hardStop)
		plots["reloads_"+string(mode)+".svg"] = func(f *os.File) error { return WriteSVG(f, title, first.rows, first.marks) }
	}
	return plots
}

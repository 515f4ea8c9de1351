package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/internal/lbtest"
	"github.com/wsctl/wsctl/loadgen"
	"github.com/wsctl/wsctl/model"
)

// rollMode is how a backend is taken out before it is stopped.
type rollMode string

const (
	// paced is `wsctl drain --close-after 2s --close-rate R`, then `wsctl
	// ready --wait-healthy` once the new instance listens.
	paced rollMode = "paced"
	// seeds is the seeds' recipe: `state drain`, the same 2 s wait, then
	// `shutdown sessions server` (every session at once), `state ready`.
	seeds rollMode = "seeds"
	// rollout is `wsctl rollout --pause`, then `--next` after each
	// restart: the servers still to deploy are held in DRAIN.
	rollout rollMode = "rollout"
	// rolloutSurge is rollout with `--surge` and a fourth server.
	rolloutSurge rollMode = "rollout_surge"
)

// closeAfter is how long either mode lets clients leave by themselves.
const closeAfter = 2 * time.Second

// rollRun is one rolling deploy under reconnecting clients.
type rollRun struct {
	res        loadgen.Result
	rows       []Row
	marks      []Mark
	cut        int             // sessions the proxy closed: wsctl's "closed", or scur at shutdown
	cuts       []int           // cut per backend, in roll order
	back       int             // new sessions on a server while it drained (stot delta)
	perBackend []time.Duration // drain start → back in rotation and UP
	closePeak  int             // drops per 100 ms, worst slot during the roll
	reconnPeak int             // handshakes per 100 ms, worst slot during the roll
	total      time.Duration   // first drain → last server back
}

// TestScenarioRollingDeploy restarts the backends one by one under clients
// that reconnect with their cookie jars, the paced way and the seeds' way,
// and counts drops, lost echoes, reconnect peaks and the clients sent back
// to the server being drained.
func TestScenarioRollingDeploy(t *testing.T) {
	conns := size(60, 3000)
	rolled := size(1, 3)
	rate := size(50.0, 500.0) // --close-rate, sessions per second
	wsctl := lbtest.GoBinary(t, "cmd/wsctl")
	lbtest.GoBinary(t, "cmd/wsecho")
	modes := size([]rollMode{paced, rollout}, []rollMode{paced, seeds, rollout, rolloutSurge})

	var body strings.Builder
	fmt.Fprintf(&body, "## 2. Rolling deploy under reconnecting clients\n\n")
	fmt.Fprintf(&body, "Method: examples/basic on HAProxy (leastconn, SERVERID sticky cookie, `option redispatch`, "+
		"health checks every 300 ms, rise 2), three wsecho backends, %d in-process loadgen clients with "+
		"Reconnect and one cookie jar each, an echo every second. For each of %d backend(s) in turn (every backend for the rollout): take it out, "+
		"SIGTERM it, start a new wsecho on the same port, put it back and wait until HAProxy sees it UP.\n\n"+
		"- **paced**: `wsctl drain ws_cluster/B --close-after %s --close-rate %g` (DRAIN, wait, MAINT, close the rest "+
		"at the rate), then `wsctl ready ws_cluster/B --wait-healthy 20s`.\n"+
		"- **seeds**: `set server ws_cluster/B state drain`, the same %s wait, `shutdown sessions server ws_cluster/B` "+
		"(all at once), then `set server ws_cluster/B state ready`.\n"+
		"- **rollout**: `wsctl rollout -c wsctl.yaml ws_cluster --pause --close-after %s --close-rate %g`, then after each "+
		"restart the same with `--next` (readmit with a fresh check, drain the next server); every server is rolled. "+
		"The servers still to deploy are held in DRAIN, so the clients cut from a server land on deployed servers only.\n"+
		"- **rollout_surge**: the same with a fourth server in MAINT and `--surge backend4`: it takes the first server's "+
		"clients and is drained and left in MAINT at the end.\n\n"+
		"\"Cut\" = sessions the proxy closed (wsctl's `closed`, or `scur` at the shutdown); \"back on draining server\" "+
		"= `stot` of the server between the start of its drain and its SIGTERM (new sessions it took while draining; for "+
		"the rollout, from when it is first seen out of READY, held or drained, polled every 50 ms); "+
		"peaks are the worst 100 ms slot from the first drain on. %d repeat(s), medians shown.\n\n",
		conns, rolled, closeAfter, rate, closeAfter, closeAfter, rate, runs())
	fmt.Fprintf(&body, "| mode | drops (cut + beyond) | lost echoes | back on draining server | close peak /100ms | reconnect peak /100ms | time per backend (mean) | time to finish |\n|---|---|---|---|---|---|---|---|\n")

	plots := map[string]func(*os.File) error{}
	var cutNotes []string
	peaks := map[rollMode][2]float64{} // median close and reconnect peaks
	for _, mode := range modes {
		var all []rollRun
		for i := range runs() {
			var r rollRun
			ran := false
			t.Run(fmt.Sprintf("%s_%d", mode, i+1), func(t *testing.T) {
				if mode == rollout || mode == rolloutSurge {
					r = runRollout(t, mode == rolloutSurge, conns, rate, wsctl)
				} else {
					r = runRolling(t, mode, conns, rolled, rate, wsctl)
				}
				ran = true
				if mode == seeds {
					return
				}
				if limit := conns + conns/3 + conns*5/100; mode != paced && r.cut > limit {
					t.Errorf("the rollout cut %d sessions of %d clients on 3 servers, want at most C + C/N + 5%% = %d", r.cut, conns, limit)
				}
				// Behaviour the drain promises, whatever the speed.
				if r.back != 0 {
					t.Errorf("%d clients were sent back to a draining server, want 0", r.back)
				}
				if r.res.Dropped != r.cut {
					t.Errorf("dropped %d %v, want exactly the %d sessions wsctl closed", r.res.Dropped, r.res.DropsByCode, r.cut)
				}
				live := 0
				for _, n := range r.res.PerServer {
					live += n
				}
				if live != conns {
					t.Errorf("live at the end %d %v, want all %d clients reconnected", live, r.res.PerServer, conns)
				}
			})
			if !ran {
				continue
			}
			t.Logf("%s run %d: dropped %d %v (cut %d), lost echoes %d/%d, back %d, close peak %d, reconnect peak %d, per backend %v, total %s, at the end %v",
				mode, i+1, r.res.Dropped, r.res.DropsByCode, r.cut, r.res.LostEchoes, r.res.Sent, r.back, r.closePeak, r.reconnPeak, r.perBackend, r.total, r.res.PerServer)
			all = append(all, r)
		}
		if len(all) == 0 {
			continue
		}
		med := func(f func(rollRun) float64) float64 {
			xs := make([]float64, len(all))
			for i, r := range all {
				xs[i] = f(r)
			}
			return Median(xs)
		}
		fmt.Fprintf(&body, "| %s | %.0f (%.0f + %.0f) | %.0f of %.0f | %.0f | %.0f | %.0f | %.2f s | %.1f s |\n", mode,
			med(func(r rollRun) float64 { return float64(r.res.Dropped) }),
			med(func(r rollRun) float64 { return float64(r.cut) }),
			med(func(r rollRun) float64 { return float64(r.res.Dropped - r.cut) }),
			med(func(r rollRun) float64 { return float64(r.res.LostEchoes) }),
			med(func(r rollRun) float64 { return float64(r.res.Sent) }),
			med(func(r rollRun) float64 { return float64(r.back) }),
			med(func(r rollRun) float64 { return float64(r.closePeak) }),
			med(func(r rollRun) float64 { return float64(r.reconnPeak) }),
			med(func(r rollRun) float64 {
				var sum time.Duration
				for _, d := range r.perBackend {
					sum += d
				}
				return sum.Seconds() / float64(max(len(r.perBackend), 1))
			}),
			med(func(r rollRun) float64 { return r.total.Seconds() }))
		peaks[mode] = [2]float64{
			med(func(r rollRun) float64 { return float64(r.closePeak) }),
			med(func(r rollRun) float64 { return float64(r.reconnPeak) }),
		}
		for i, r := range all {
			perBackend := make([]string, len(r.perBackend))
			for j, d := range r.perBackend {
				perBackend[j] = fmt.Sprintf("%.1fs", d.Seconds())
			}
			cutNotes = append(cutNotes, fmt.Sprintf("- %s run %d: cut per backend %v, time per backend %v, drops by code %v, connections per server at the end %v",
				mode, i+1, r.cuts, perBackend, r.res.DropsByCode, r.res.PerServer))
		}
		first := all[0]
		title := fmt.Sprintf("rolling deploy, %s: %d reconnecting clients, %d backends (run 1)", mode, conns, rolled)
		plots["rolling_"+string(mode)+".svg"] = func(f *os.File) error { return WriteSVG(f, title, first.rows, first.marks) }
	}
	if p, q := peaks[paced], peaks[seeds]; p[0] > 0 && p[1] > 0 && q[0] > 0 {
		fmt.Fprintf(&body, "\nSeeds' recipe / paced drain, medians of this run: close peak ×%.1f, reconnect peak ×%.1f.\n", q[0]/p[0], q[1]/p[1])
	}
	if p, q := peaks[paced], peaks[rollout]; p[0] > 0 && q[0] > 0 {
		fmt.Fprintf(&body, "\nRollout / paced drain loop, medians of this run: close peak ×%.1f, reconnect peak ×%.1f.\n", q[0]/p[0], q[1]/p[1])
	}
	fmt.Fprintf(&body, "\nPlots: [rolling_paced.svg](rolling_paced.svg), [rolling_seeds.svg](rolling_seeds.svg), "+
		"[rolling_rollout.svg](rolling_rollout.svg), [rolling_rollout_surge.svg](rolling_rollout_surge.svg). "+
		"Target (docs/architecture.md): close peak ≤ R/10 per 100 ms +20%% = %.0f; 0 clients back on the drained server; "+
		"0 drops beyond the paced closes. Lost echoes are those in flight on a connection that was cut. With leastconn "+
		"the clients of a drained server move to the others, and a restarted server only ramps up (slowstart 30s), "+
		"so later backends carry more and are cut more (see the cut per backend below): the paced roll cuts more "+
		"sessions in total than there are clients, but every cut is paced and sends nobody back to a draining server. "+
		"The seeds' recipe cuts each client of a server twice: by `shutdown sessions`, then, having come straight back "+
		"on its sticky cookie, by the SIGTERM (1001). The rollout's floor is C + C/N (%d here): the first server's clients "+
		"can only land on servers still to deploy; every other client is cut once. With the surge the first server's clients "+
		"land on the surge instead, and are cut once more when it is removed, so the floor is the same: what the surge buys "+
		"is that no client ever lands on a server still to deploy. Cuts per client are not measured (loadgen counts drops, "+
		"not per client).\n\n%s\n", rate/10*1.2, conns+conns/3, strings.Join(cutNotes, "\n"))
	publish(t, "rolling", body.String(), plots)
}

func runRolling(t *testing.T, mode rollMode, conns, rolled int, rate float64, wsctl string) rollRun {
	t.Helper()
	st := startStack(t, model.TargetHAProxy, conns, "interval: 5s", "interval: 300ms")
	load := startRollLoad(t, st, conns)
	defer load.cancel()
	start := load.start

	var r rollRun
	firstSlot := 0
	rollStart := time.Now()
	for i, b := range st.Backends[:rolled] {
		server := "ws_cluster/" + b.ID
		stot := func() int {
			v, _ := strconv.Atoi(st.serverStat(t, b.ID, statStot))
			return v
		}
		t0 := time.Now()
		if i == 0 {
			firstSlot = int(t0.Sub(start) / (100 * time.Millisecond))
		}
		r.marks = append(r.marks, Mark{TMs: t0.Sub(start).Milliseconds(), Label: "drain " + b.ID})
		before := stot()
		switch mode {
		case paced:
			out, err := exec.Command(wsctl, "drain", server, "--socket", st.Admin, "--close-after", closeAfter.String(),
				"--close-rate", fmt.Sprint(rate), "--timeout", "2m", "-o", "json", "--quiet").CombinedOutput()
			if err != nil {
				t.Fatalf("wsctl drain %s: %v\n%s", server, err, out)
			}
			var sum struct {
				Sockets []struct {
					Closed int `json:"closed"`
				} `json:"sockets"`
			}
			if err := json.Unmarshal(out, &sum); err != nil {
				t.Fatalf("wsctl drain output: %v\n%s", err, out)
			}
			c := 0
			for _, s := range sum.Sockets {
				c += s.Closed
			}
			r.cut += c
			r.cuts = append(r.cuts, c)
		case seeds:
			lbtest.SocketCommand(t, st.Admin, "set server "+server+" state drain")
			time.Sleep(closeAfter)
			n, _ := strconv.Atoi(st.serverStat(t, b.ID, statScur))
			r.cut += n
			r.cuts = append(r.cuts, n)
			lbtest.SocketCommand(t, st.Admin, "shutdown sessions server "+server)
			// Let the cut clients come back before the backend stops.
			time.Sleep(500 * time.Millisecond)
		}
		r.back += stot() - before
		b.Proc.Signal(t, syscall.SIGTERM)
		if !b.Proc.Wait(10 * time.Second) {
			t.Fatalf("%s did not stop on SIGTERM", b.ID)
		}
		r.marks = append(r.marks, Mark{TMs: time.Since(start).Milliseconds(), Label: "restart " + b.ID})
		st.Backends[i] = lbtest.StartWsechoAt(t, b.ID, b.Addr, "--close-spread", "0s")
		switch mode {
		case paced:
			if out, err := exec.Command(wsctl, "ready", server, "--socket", st.Admin, "--wait-healthy", "20s").CombinedOutput(); err != nil {
				t.Fatalf("wsctl ready %s: %v\n%s", server, err, out)
			}
		case seeds:
			lbtest.SocketCommand(t, st.Admin, "set server "+server+" state ready")
		}
		lbtest.WaitFor(t, 20*time.Second, b.ID+" UP", func() bool {
			return strings.HasPrefix(st.serverStat(t, b.ID, statStatus), "UP")
		})
		r.perBackend = append(r.perBackend, time.Since(t0))
	}
	r.total = time.Since(rollStart)
	load.finish(&r, firstSlot)
	return r
}

// startRollStack starts the stack of the rolling scenarios, checks every
// 300 ms, with a fourth backend kept in MAINT when spare (a surge server,
// or the server a scale-out readmits), and writes its spec where wsctl
// reads it.
func startRollStack(t *testing.T, conns int, spare bool) (*stack, string) {
	t.Helper()
	var replace []string
	spareAddr := lbtest.Addr(t)
	if spare {
		replace = []string{"      - name: backend3\n", "      - name: backend4\n        address: " + spareAddr + "\n      - name: backend3\n"}
	}
	st := startStack(t, model.TargetHAProxy, conns, append([]string{"interval: 5s", "interval: 300ms"}, replace...)...)
	if spare {
		lbtest.StartWsechoAt(t, "backend4", spareAddr, "--close-spread", "0s")
		lbtest.SocketCommand(t, st.Admin, "set server ws_cluster/backend4 state maint")
	}
	specPath := filepath.Join(st.RunDir, "wsctl.yaml")
	if err := os.WriteFile(specPath, []byte(st.Spec), 0o644); err != nil {
		t.Fatal(err)
	}
	return st, specPath
}

// runRollout rolls every backend with `wsctl rollout --pause`, restarting
// each paused server and going on with `--next`; with surge a fourth
// backend in MAINT is the surge.
func runRollout(t *testing.T, surge bool, conns int, rate float64, wsctl string) rollRun {
	t.Helper()
	st, specPath := startRollStack(t, conns, surge)
	load := startRollLoad(t, st, conns)
	defer load.cancel()
	var r rollRun
	firstSlot := int(time.Since(load.start) / (100 * time.Millisecond))
	rollEvery(t, st, specPath, load.start, surge, rate, wsctl, &r)
	load.finish(&r, firstSlot)
	return r
}

// rollEvery rolls every backend of st as runRollout does, under load that
// started at start, and fills r's cuts, clients back, marks and times.
func rollEvery(t *testing.T, st *stack, specPath string, start time.Time, surge bool, rate float64, wsctl string, r *rollRun) {
	t.Helper()
	stat := func(id string, field int) int {
		v, _ := strconv.Atoi(st.serverStat(t, id, field))
		return v
	}
	t0 := time.Now()
	args := []string{"rollout", "ws_cluster", "-c", specPath, "--close-after", closeAfter.String(), "--close-rate", fmt.Sprint(rate),
		"--timeout", "2m", "--wait-healthy", "20s", "-o", "json"}
	if surge {
		args = append(args, "--surge", "backend4")
	}
	mode := "--pause"
	stepStart := t0
	ctx := context.Background()
	rt, err := haproxy.Dial(ctx, st.Admin, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for {
		// The server this call drains is the one it pauses at (or the
		// surge, in the last call): count what it takes from when it is
		// first seen out of READY (held or drained).
		before := map[string]int64{}
		stop := make(chan struct{})
		watched := make(chan struct{})
		go func() {
			defer close(watched)
			for {
				if all, err := rt.Servers(ctx, "ws_cluster"); err == nil {
					for _, s := range all {
						if _, seen := before[s.Server]; !seen && s.Admin != haproxy.Ready {
							before[s.Server] = s.Stot
						}
					}
				}
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
			}
		}()
		cmd := exec.Command(wsctl, append(args, mode)...)
		cmd.Env = append(os.Environ(), "WSCTL_RUN_DIR="+st.RunDir)
		out, err := cmd.Output()
		close(stop)
		<-watched
		backOn := func(server string) int {
			from, ok := before[server]
			if !ok {
				t.Errorf("%s was never seen out of READY", server)
			}
			return stat(server, statStot) - int(from)
		}
		if err != nil {
			t.Fatalf("wsctl rollout %s: %v\n%s", mode, err, out)
		}
		mode = "--next"
		var paused string
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			var l struct {
				Type, Server, Result string
				Surge                bool
				Cuts                 int
				Paused               *struct{ Server string }
			}
			if err := json.Unmarshal([]byte(line), &l); err != nil {
				t.Fatalf("wsctl rollout output: %v\n%s", err, out)
			}
			switch {
			case l.Type == "step":
				r.cut += l.Cuts
				r.cuts = append(r.cuts, l.Cuts)
				if l.Surge {
					r.back += backOn(l.Server)
				}
			case l.Paused != nil:
				paused = l.Paused.Server
			}
		}
		if paused == "" {
			break
		}
		r.back += backOn(paused)
		r.marks = append(r.marks, Mark{TMs: time.Since(start).Milliseconds(), Label: "restart " + paused})
		for i, b := range st.Backends {
			if b.ID != paused {
				continue
			}
			b.Proc.Signal(t, syscall.SIGTERM)
			if !b.Proc.Wait(10 * time.Second) {
				t.Fatalf("%s did not stop on SIGTERM", b.ID)
			}
			st.Backends[i] = lbtest.StartWsechoAt(t, b.ID, b.Addr, "--close-spread", "0s")
		}
		r.perBackend = append(r.perBackend, time.Since(stepStart))
		stepStart = time.Now()
	}
	// The last call readmitted the last server (and removed the surge).
	r.perBackend[len(r.perBackend)-1] += time.Since(stepStart)
	r.total = time.Since(t0)
}

// rollLoad is the reconnecting cookie clients of a rolling deploy.
type rollLoad struct {
	start  time.Time
	cancel context.CancelFunc
	done   chan loadgen.Result
}

// startRollLoad connects conns reconnecting clients, each with its cookie
// jar and an echo a second, and waits until every one holds a session.
func startRollLoad(t *testing.T, st *stack, conns int) *rollLoad {
	t.Helper()
	cfg := loadgen.DefaultConfig()
	cfg.URL = st.url()
	cfg.Conns = conns
	cfg.Rate = size(0.0, 1000.0)
	cfg.Duration = 10 * time.Minute // ended by cancel once the roll is over
	cfg.Interval = time.Second
	cfg.Reconnect = true
	cfg.Cookies = true
	ctx, cancel := context.WithCancel(context.Background())
	l := &rollLoad{start: time.Now(), cancel: cancel, done: make(chan loadgen.Result, 1)}
	go func() {
		res, err := loadgen.Run(ctx, cfg)
		if err != nil {
			t.Error(err)
		}
		l.done <- res
	}()
	scur := func() int {
		n := 0
		for _, b := range st.Backends {
			v, _ := strconv.Atoi(st.serverStat(t, b.ID, statScur))
			n += v
		}
		return n
	}
	lbtest.WaitFor(t, 60*time.Second, fmt.Sprintf("%d sessions", conns), func() bool { return scur() >= conns })
	time.Sleep(time.Second)
	return l
}

// finish lets the last reconnects land, ends the load and fills r's
// result, timeline and peaks from firstSlot on.
func (l *rollLoad) finish(r *rollRun, firstSlot int) {
	time.Sleep(2 * time.Second)
	l.cancel()
	r.res = <-l.done
	r.rows = RowsFromBuckets(r.res.Timeline)
	r.closePeak = Peak(r.rows, firstSlot, len(r.rows), func(x Row) int { return x.Closes })
	r.reconnPeak = Peak(r.rows, firstSlot, len(r.rows), func(x Row) int { return x.Connects })
}

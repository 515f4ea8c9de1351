package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsctl/wsctl/agent"
	"github.com/wsctl/wsctl/discovery/consul"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/internal/lbtest"
	"github.com/wsctl/wsctl/loadgen"
	"github.com/wsctl/wsctl/model"
	"github.com/wsctl/wsctl/render"
	"github.com/wsctl/wsctl/spec"
)

// fleetMode is how one server is drained on every load balancer.
type fleetMode string

const (
	// fleetWide is one `wsctl drain --fleet` through Consul: every agent
	// drains at once, closing at its share of --close-rate.
	fleetWide fleetMode = "fleet"
	// oneByOne is `wsctl drain --socket` on each load balancer in turn,
	// each at --close-rate.
	oneByOne fleetMode = "one by one"
)

// fleetLBs is how many load balancers the scenario runs.
const fleetLBs = 3

// fleetBenchRun is one drain of chat-ws-2 across the load balancers.
type fleetBenchRun struct {
	res        []loadgen.Result // per load balancer's clients
	rows       []Row            // summed over the load balancers
	marks      []Mark
	took       time.Duration // drain start → drained everywhere
	cut        int           // sessions wsctl closed, summed
	back       int           // new sessions on chat-ws-2 of a load balancer while it drained
	closePeak  int           // drops per 100 ms over the fleet, worst slot from the drain on
	reconnPeak int           // handshakes per 100 ms over the fleet, worst slot from the drain on
}

func (r fleetBenchRun) dropped() int {
	n := 0
	for _, res := range r.res {
		n += res.Dropped
	}
	return n
}

// TestScenarioFleetDrain drains one server of three behind three HAProxy
// load balancers, each with its agent and its reconnecting clients: one
// `wsctl drain --fleet` against the local command on each load balancer in
// turn. Smoke: 60 clients; full: 3,000.
func TestScenarioFleetDrain(t *testing.T) {
	conns := size(60, 3000)
	rate := size(50.0, 500.0)
	wsctl := lbtest.GoBinary(t, "cmd/wsctl")
	runsBy := map[fleetMode][]fleetBenchRun{}
	for i := range runs() {
		for _, mode := range []fleetMode{fleetWide, oneByOne} {
			var r fleetBenchRun
			ran := false
			t.Run(fmt.Sprintf("%s_%d", strings.ReplaceAll(string(mode), " ", "_"), i+1), func(t *testing.T) {
				r = runFleetDrain(t, mode, conns, rate, wsctl)
				ran = true
				// Behaviour the drain promises, whatever the speed.
				if r.back != 0 {
					t.Errorf("%d clients were sent back to a draining server, want 0", r.back)
				}
				if d := r.dropped(); d != r.cut {
					t.Errorf("dropped %d, want exactly the %d sessions wsctl closed", d, r.cut)
				}
			})
			if !ran {
				continue
			}
			t.Logf("%s run %d: drained in %s, cut %d, dropped %d, back %d, close peak %d, reconnect peak %d",
				mode, i+1, r.took.Round(time.Millisecond), r.cut, r.dropped(), r.back, r.closePeak, r.reconnPeak)
			runsBy[mode] = append(runsBy[mode], r)
		}
	}
	var body strings.Builder
	fmt.Fprintf(&body, "## 4. Fleet drain: one server across %d load balancers\n\nMachine:\n\n%s\n", fleetLBs, DescribeMachine().Markdown())
	fmt.Fprintf(&body, "Method: examples/consul (leastconn, SERVERID sticky cookie, servers from Consul) on %d HAProxy "+
		"load balancers, each with its in-process `wsctl agent` (`--agent-id lbN`), one dev Consul, three wsecho "+
		"backends; %d in-process loadgen clients, a third on each load balancer, with Reconnect and one cookie jar "+
		"each, an echo every second. chat-ws-2 is drained with `--close-after %s --close-rate %g`:\n\n"+
		"- **fleet**: one `wsctl drain ws_cluster/chat-ws-2 --fleet` (no socket): every agent drains at once, "+
		"closing at its share of the fleet-wide rate.\n"+
		"- **one by one**: `wsctl drain ws_cluster/chat-ws-2 --socket` on each load balancer in turn, each at the rate.\n\n"+
		"\"Time to drained\" = from the first command to the last exiting, chat-ws-2 in MAINT with no session on "+
		"every load balancer. Peaks are the worst 100 ms slot, summed over the load balancers, from the drain on. "+
		"\"Back on drained server\" = `stot` of chat-ws-2 on a load balancer while it drained there. "+
		"Medians over %d repeat(s).\n\n", fleetLBs, conns, closeAfter, rate, runs())
	body.WriteString("| mode | time to drained | sessions closed | clients dropped | close peak /100ms | reconnect peak /100ms | back on drained server |\n|---|---|---|---|---|---|---|\n")
	for _, mode := range []fleetMode{fleetWide, oneByOne} {
		rs := runsBy[mode]
		if len(rs) == 0 {
			continue
		}
		med := func(f func(fleetBenchRun) float64) float64 {
			xs := make([]float64, len(rs))
			for i, r := range rs {
				xs[i] = f(r)
			}
			return Median(xs)
		}
		fmt.Fprintf(&body, "| %s | %.2f s | %.0f | %.0f | %.0f | %.0f | %.0f |\n", mode,
			med(func(r fleetBenchRun) float64 { return r.took.Seconds() }),
			med(func(r fleetBenchRun) float64 { return float64(r.cut) }),
			med(func(r fleetBenchRun) float64 { return float64(r.dropped()) }),
			med(func(r fleetBenchRun) float64 { return float64(r.closePeak) }),
			med(func(r fleetBenchRun) float64 { return float64(r.reconnPeak) }),
			med(func(r fleetBenchRun) float64 { return float64(r.back) }))
	}
	if f, o := runsBy[fleetWide], runsBy[oneByOne]; len(f) > 0 && len(o) > 0 {
		took := func(rs []fleetBenchRun) float64 {
			xs := make([]float64, len(rs))
			for i, r := range rs {
				xs[i] = r.took.Seconds()
			}
			return Median(xs)
		}
		fmt.Fprintf(&body, "\nOne by one / fleet, medians of this run: time to drained ×%.1f.\n", took(o)/took(f))
	}
	fmt.Fprintf(&body, "\nTarget (the issue): closes summed over the fleet ≤ R/10 per 100 ms +20%% = %.0f; 0 clients back "+
		"on the drained server. One by one, each load balancer waits its own --close-after in turn; the fleet waits "+
		"it once, and its agents share the rate, so the fleet-wide close peak stays that of one local drain. "+
		"Plots: [fleet_fleet.svg](fleet_fleet.svg), [fleet_one_by_one.svg](fleet_one_by_one.svg) (summed over the load "+
		"balancers; dashed lines are the drains).\n", rate/10*1.2)
	plots := map[string]func(f *os.File) error{}
	for mode, rs := range runsBy {
		first := rs[0]
		title := fmt.Sprintf("fleet drain, %s: %d reconnecting clients on %d load balancers (run 1)", mode, conns, fleetLBs)
		plots["fleet_"+strings.ReplaceAll(string(mode), " ", "_")+".svg"] = func(f *os.File) error { return WriteSVG(f, title, first.rows, first.marks) }
	}
	publish(t, "fleet", body.String(), plots)
}

// benchLB is one load balancer of the scenario.
type benchLB struct {
	id, runDir, frontend, specFile string
	sp                             *spec.Spec
	rt                             *haproxy.Client
}

// stot is chat-ws-2's total sessions on the load balancer.
func (lb *benchLB) stot(t *testing.T) int {
	t.Helper()
	s, err := lb.rt.Server(context.Background(), "ws_cluster", "chat-ws-2")
	if err != nil {
		t.Fatal(err)
	}
	return int(s.Stot)
}

func runFleetDrain(t *testing.T, mode fleetMode, conns int, rate float64, wsctl string) fleetBenchRun {
	t.Helper()
	lbtest.Binary(t, "haproxy")
	c := lbtest.StartConsul(t)
	for i := range 3 {
		w := lbtest.StartWsecho(t, fmt.Sprintf("chat-ws-%d", i+1), "--close-spread", "0s")
		host, port, _ := net.SplitHostPort(w.Addr)
		p, _ := strconv.Atoi(port)
		c.Register(t, w.ID, "chat-ws", host, p, nil, nil)
	}
	src, err := os.ReadFile(filepath.Join(lbtest.ModuleRoot(t), "examples", "consul", "wsctl.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	var lbs []*benchLB
	for i := range fleetLBs {
		lb := &benchLB{id: fmt.Sprintf("lb%d", i+1), runDir: t.TempDir(), frontend: lbtest.Addr(t)}
		text := strings.NewReplacer("127.0.0.1:8080", lb.frontend, "127.0.0.1:8404", lbtest.Addr(t), "${CONSUL_HTTP_ADDR:-127.0.0.1:8500}", c.Addr,
			"${WSCTL_RUN_DIR:-/run/wsctl}", lb.runDir, "interval: 2s", "interval: 300ms").Replace(string(src))
		lb.specFile = filepath.Join(t.TempDir(), "wsctl.yaml")
		if err := os.WriteFile(lb.specFile, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if lb.sp, err = spec.Load(lb.specFile); err != nil {
			t.Fatal(err)
		}
		snap, err := consul.Once(context.Background(), lb.sp, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := render.Config(lb.sp, model.TargetHAProxy, snap, "")
		if err != nil {
			t.Fatal(err)
		}
		h := lbtest.StartHAProxy(t, lb.runDir, string(res.Config), lb.sp.HAProxy.AdminSocket)
		lbtest.WaitTCP(t, lb.frontend, 10*time.Second)
		if lb.rt, err = haproxy.Dial(context.Background(), lb.sp.HAProxy.AdminSocket, 2*time.Second); err != nil {
			t.Fatal(err)
		}
		ag, err := agent.New(agent.Config{Spec: lb.sp, ConfigFile: h.Config, AgentID: lb.id, DrainPoll: 100 * time.Millisecond,
			Log: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { _ = ag.Run(ctx) })
		lbs = append(lbs, lb)
	}
	lbtest.WaitFor(t, 30*time.Second, "every agent in the fleet", func() bool {
		pairs, _, err := c.Client.KV().List("wsctl/agents/", nil)
		return err == nil && len(pairs) == fleetLBs
	})

	// A third of the clients on each load balancer, started together.
	start := time.Now()
	results := make([]loadgen.Result, fleetLBs)
	var clients sync.WaitGroup
	for i, lb := range lbs {
		cfg := loadgen.DefaultConfig()
		cfg.URL = "ws://" + lb.frontend + "/ws"
		cfg.Conns = conns / fleetLBs
		cfg.Rate = size(0.0, 1000.0/fleetLBs)
		cfg.Duration = 10 * time.Minute // ended by cancel once the drain is over
		cfg.Interval = time.Second
		cfg.Reconnect = true
		cfg.Cookies = true
		clients.Go(func() {
			res, err := loadgen.Run(ctx, cfg)
			if err != nil {
				t.Error(err)
			}
			results[i] = res
		})
	}
	lbtest.WaitFor(t, 60*time.Second, fmt.Sprintf("%d sessions", conns), func() bool {
		n := 0
		for _, lb := range lbs {
			for _, name := range []string{"chat-ws-1", "chat-ws-2", "chat-ws-3"} {
				s, err := lb.rt.Server(context.Background(), "ws_cluster", name)
				if err == nil {
					n += int(s.Scur)
				}
			}
		}
		return n >= conns
	})
	time.Sleep(time.Second)

	var r fleetBenchRun
	t0 := time.Now()
	firstSlot := int(t0.Sub(start) / (100 * time.Millisecond))
	drain := func(lb *benchLB, args ...string) []byte {
		cmd := exec.Command(wsctl, append([]string{"drain", "ws_cluster/chat-ws-2", "--close-after", closeAfter.String(),
			"--close-rate", fmt.Sprint(rate), "--timeout", "2m", "-o", "json"}, args...)...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("wsctl drain %v: %v\n%s", args, err, out)
		}
		return out
	}
	switch mode {
	case fleetWide:
		r.marks = append(r.marks, Mark{TMs: t0.Sub(start).Milliseconds(), Label: "drain --fleet"})
		before := make([]int, len(lbs))
		for i, lb := range lbs {
			before[i] = lb.stot(t)
		}
		out := drain(lbs[0], "--fleet", "-c", lbs[0].specFile)
		r.cut = fleetClosed(t, out)
		for i, lb := range lbs {
			r.back += lb.stot(t) - before[i]
		}
	case oneByOne:
		for _, lb := range lbs {
			r.marks = append(r.marks, Mark{TMs: time.Since(start).Milliseconds(), Label: "drain " + lb.id})
			before := lb.stot(t)
			out := drain(lb, "--socket", lb.sp.HAProxy.AdminSocket)
			var sum struct {
				Sockets []struct {
					Closed int `json:"closed"`
				} `json:"sockets"`
			}
			if err := json.Unmarshal(out, &sum); err != nil {
				t.Fatalf("wsctl drain output: %v\n%s", err, out)
			}
			for _, s := range sum.Sockets {
				r.cut += s.Closed
			}
			r.back += lb.stot(t) - before
		}
	}
	r.took = time.Since(t0)
	// Let the cut clients land elsewhere before the clients stop.
	time.Sleep(2 * time.Second)
	cancel()
	clients.Wait()
	r.res = results
	var timelines [][]Row
	for _, res := range results {
		timelines = append(timelines, RowsFromBuckets(res.Timeline))
	}
	r.rows = SumRows(timelines...)
	r.closePeak = Peak(r.rows, firstSlot, len(r.rows), func(x Row) int { return x.Closes })
	r.reconnPeak = Peak(r.rows, firstSlot, len(r.rows), func(x Row) int { return x.Connects })
	return r
}

// fleetClosed reads the sessions closed from `wsctl drain --fleet -o json`.
func fleetClosed(t *testing.T, out []byte) int {
	t.Helper()
	var sum struct {
		Total struct {
			Closed int `json:"closed"`
		} `json:"total"`
	}
	if err := json.Unmarshal(out, &sum); err != nil {
		t.Fatalf("wsctl drain --fleet output: %v\n%s", err, out)
	}
	return sum.Total.Closed
}

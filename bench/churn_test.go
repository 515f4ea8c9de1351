package bench

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/wsctl/wsctl/agent"
	"github.com/wsctl/wsctl/discovery"
	"github.com/wsctl/wsctl/discovery/consul"
	"github.com/wsctl/wsctl/internal/lbtest"
	"github.com/wsctl/wsctl/loadgen"
	"github.com/wsctl/wsctl/model"
	"github.com/wsctl/wsctl/proxy"
	"github.com/wsctl/wsctl/render"
	"github.com/wsctl/wsctl/runtime"
	"github.com/wsctl/wsctl/spec"
)

// churnMode is how membership changes reach HAProxy.
type churnMode string

const (
	churnAgent  churnMode = "agent"  // wsctl agent: runtime API
	churnReload churnMode = "reload" // render and reload on every change
)

// churnRun is one churn run's figures.
type churnRun struct {
	mode            churnMode
	changes         int
	live            []time.Duration // register → READY
	reloads         int
	workers         int   // HAProxy processes under the master at the end
	rssKB           int64 // of the whole HAProxy tree at the end
	res             loadgen.Result
	rows            []Row
	marks           []Mark
	connectedAtPeak int
}

// TestScenarioChurn: membership changes while clients arrive, applied by
// the agent against render-and-reload on every change (the consul-template
// way). Smoke: 60 clients, 6 changes; full: 3,000 clients over a minute, 50
// changes.
func TestScenarioChurn(t *testing.T) {
	conns, arrival, changes := size(60, 3000), size(3*time.Second, 60*time.Second), size(6, 50)
	var runsBy = map[churnMode][]churnRun{}
	for range runs() {
		for _, mode := range []churnMode{churnAgent, churnReload} {
			r := runChurn(t, mode, conns, arrival, changes)
			runsBy[mode] = append(runsBy[mode], r)
			if r.res.Connected != conns || r.res.Dropped != 0 {
				t.Errorf("%s: connected %d of %d, dropped %d (%v): membership changes must not cut anyone",
					mode, r.res.Connected, conns, r.res.Dropped, r.res.DropsByCode)
			}
			if mode == churnAgent && r.reloads != 0 {
				t.Errorf("agent reloaded %d times for membership changes", r.reloads)
			}
		}
	}
	var body strings.Builder
	fmt.Fprintf(&body, "## Churn: membership changes under arriving clients\n\nMachine:\n\n%s\n", DescribeMachine().Markdown())
	fmt.Fprintf(&body, "Method: examples/consul (leastconn, SERVERID sticky cookie, servers from Consul) on free ports; "+
		"a dev Consul; %d wsecho backends, 3 registered at the start; %d wsload clients arriving over %s and held "+
		"(no reconnect: every drop counts); %d membership changes spread over the arrival, alternately registering "+
		"a new instance and deregistering an old one. **agent**: `wsctl agent` (runtime API, min-quiet 5ms). "+
		"**reload**: what consul-template does — on every change, query Consul (polled until the change shows, "+
		"which favours it), render, write, reload through the master CLI. Register→live: Consul HTTP register until "+
		"the server is READY in the running HAProxy. Workers and RSS: the HAProxy master's process tree at the end of "+
		"the changes, clients still connected. Medians over %d repeat(s).\n\n", size(4, 6), conns, arrival, changes, runs())
	body.WriteString("| | agent (runtime API) | render + reload per change |\n|---|---|---|\n")
	a, r := runsBy[churnAgent], runsBy[churnReload]
	row := func(name string, f func(churnRun) float64, format string) {
		ma, mr := medianOf(a, f), medianOf(r, f)
		fmt.Fprintf(&body, "| %s | "+format+" | "+format+" |\n", name, ma, mr)
	}
	row("reloads", func(c churnRun) float64 { return float64(c.reloads) }, "%.0f")
	row("HAProxy processes at the end (master + workers)", func(c churnRun) float64 { return float64(c.workers) }, "%.0f")
	row("HAProxy RSS at the end (MB)", func(c churnRun) float64 { return float64(c.rssKB) / 1024 }, "%.1f")
	row("clients dropped", func(c churnRun) float64 { return float64(c.res.Dropped) }, "%.0f")
	row("register→live p50 (ms)", func(c churnRun) float64 { return quantileMs(c.live, 0.5) }, "%.1f")
	row("register→live p99 (ms)", func(c churnRun) float64 { return quantileMs(c.live, 0.99) }, "%.1f")
	row("echo p99 (ms)", func(c churnRun) float64 { return c.res.EchoP99Ms }, "%.2f")
	ratio := func(f func(churnRun) float64) float64 {
		if d := medianOf(a, f); d > 0 {
			return medianOf(r, f) / d
		}
		return 0
	}
	fmt.Fprintf(&body, "\nReload / agent, medians of this run: HAProxy processes ×%.1f, RSS ×%.1f, register→live p50 ×%.1f.\n",
		ratio(func(c churnRun) float64 { return float64(c.workers) }),
		ratio(func(c churnRun) float64 { return float64(c.rssKB) }),
		ratio(func(c churnRun) float64 { return quantileMs(c.live, 0.5) }))
	fmt.Fprintf(&body, "\nEvery reload of a WebSocket proxy leaves a worker alive for as long as its connections live "+
		"(bounded by `hard-stop-after`, 30m here): the reload column's processes and RSS are that tax. "+
		"Plots: churn_agent.svg, churn_reload.svg (connects per 100 ms, live connections; dashed lines are the changes).\n")
	plots := map[string]func(f *os.File) error{}
	for mode, rs := range runsBy {
		first := rs[0]
		title := fmt.Sprintf("churn, %s: %d clients, %d membership changes", mode, conns, changes)
		plots["churn_"+string(mode)+".svg"] = func(f *os.File) error { return WriteSVG(f, title, first.rows, first.marks) }
	}
	publish(t, "churn", body.String(), plots)
}

func medianOf(rs []churnRun, f func(churnRun) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	sort.Float64s(v)
	return v[len(v)/2]
}

func quantileMs(d []time.Duration, q float64) float64 {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return float64(s[int(q*float64(len(s)-1))]) / float64(time.Millisecond)
}

func runChurn(t *testing.T, mode churnMode, conns int, arrival time.Duration, changes int) churnRun {
	t.Helper()
	lbtest.Binary(t, "haproxy")
	c := lbtest.StartConsul(t)
	runDir := t.TempDir()
	frontend := lbtest.Addr(t)
	var backends []*lbtest.Wsecho
	for i := range size(4, 6) {
		backends = append(backends, lbtest.StartWsecho(t, fmt.Sprintf("chat-ws-%d", i+1), "--close-spread", "0s"))
	}
	register := func(w *lbtest.Wsecho) {
		host, port, _ := net.SplitHostPort(w.Addr)
		p, _ := strconv.Atoi(port)
		if err := c.Client.Agent().ServiceRegister(&api.AgentServiceRegistration{
			ID: w.ID, Name: "chat-ws", Address: host, Port: p,
			Check: &api.AgentServiceCheck{TTL: "1h", Status: api.HealthPassing},
		}); err != nil {
			t.Fatal(err)
		}
	}
	registered := backends[:3]
	for _, w := range registered {
		register(w)
	}
	src, err := os.ReadFile(filepath.Join(lbtest.ModuleRoot(t), "examples", "consul", "wsctl.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.NewReplacer("127.0.0.1:8080", frontend, "${CONSUL_HTTP_ADDR:-127.0.0.1:8500}", c.Addr).Replace(string(src))
	sp, err := spec.Parse("wsctl.yaml", []byte(text), func(k string) (string, bool) {
		if k == "WSCTL_RUN_DIR" {
			return runDir, true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	snapshotWith := func(want func(discovery.Snapshot) bool) []byte {
		for deadline := time.Now().Add(10 * time.Second); ; {
			snap, err := consul.Once(context.Background(), sp, nil)
			if err != nil {
				t.Fatal(err)
			}
			if want(snap) {
				r, err := render.Config(sp, model.TargetHAProxy, snap, "")
				if err != nil {
					t.Fatal(err)
				}
				return r.Config
			}
			if time.Now().After(deadline) {
				t.Fatal("Consul never showed the change")
			}
			time.Sleep(time.Millisecond)
		}
	}
	has := func(id string) func(discovery.Snapshot) bool {
		return func(s discovery.Snapshot) bool {
			return slices.ContainsFunc(s.Backends["ws_cluster"], func(in discovery.Instance) bool { return in.ID == id })
		}
	}
	config := snapshotWith(func(s discovery.Snapshot) bool { return len(s.Backends["ws_cluster"]) == 3 })
	h := lbtest.StartHAProxy(t, runDir, string(config), sp.HAProxy.AdminSocket)
	lbtest.WaitTCP(t, frontend, 10*time.Second)
	rt, err := runtime.Dial(context.Background(), sp.HAProxy.AdminSocket, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}

	run := churnRun{mode: mode, changes: changes}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	var ag *agent.Agent
	if mode == churnAgent {
		ag, err = agent.New(agent.Config{Spec: sp, ConfigFile: h.Config, MinQuiet: 5 * time.Millisecond, MaxQuiet: 100 * time.Millisecond,
			Log: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { _ = ag.Run(ctx) })
	}
	reload := func(want func(discovery.Snapshot) bool) {
		if mode != churnReload {
			return
		}
		if _, err := proxy.WriteAtomic(h.Config, snapshotWith(want)); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(10 * time.Second); ; {
			conn, err := net.DialTimeout("unix", h.MasterSocket, time.Second)
			if err == nil {
				_, err = conn.Write([]byte("reload\n"))
				conn.Close()
				if err == nil {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("reload: %v", err)
			}
			time.Sleep(5 * time.Millisecond)
		}
		run.reloads++
	}

	cfg := loadgen.DefaultConfig()
	cfg.URL = "ws://" + frontend + "/ws"
	cfg.Conns = conns
	cfg.Rate = float64(conns) / arrival.Seconds()
	cfg.Duration = arrival + 5*time.Second
	cfg.Interval = time.Second
	cfg.Cookies = true
	results := make(chan loadgen.Result, 1)
	start := time.Now()
	wg.Go(func() {
		res, err := loadgen.Run(context.Background(), cfg)
		if err != nil {
			t.Error(err)
		}
		results <- res
	})

	pool := slices.Clone(backends[3:])
	for i := range changes {
		time.Sleep(arrival / time.Duration(changes+1))
		run.marks = append(run.marks, Mark{TMs: time.Since(start).Milliseconds(), Label: ""})
		if i%2 == 0 && len(pool) > 0 {
			w := pool[0]
			pool = pool[1:]
			begin := time.Now()
			register(w)
			reload(has(w.ID))
			for {
				s, err := rt.Server(context.Background(), "ws_cluster", w.ID)
				if err == nil && s.Admin == runtime.Ready {
					break
				}
				if time.Since(begin) > 10*time.Second {
					t.Fatalf("%s not live after 10s", w.ID)
				}
				time.Sleep(500 * time.Microsecond)
			}
			run.live = append(run.live, time.Since(begin))
			registered = append(registered, w)
		} else {
			w := registered[0]
			registered = registered[1:]
			pool = append(pool, w)
			if err := c.Client.Agent().ServiceDeregister(w.ID); err != nil {
				t.Fatal(err)
			}
			reload(func(s discovery.Snapshot) bool { return !has(w.ID)(s) })
		}
	}
	time.Sleep(2 * time.Second) // let old workers without connections leave
	rss, procs, err := TreeRSS(h.Proc.PID)
	if err != nil {
		t.Fatal(err)
	}
	run.rssKB, run.workers = rss/1024, procs
	if ag != nil {
		run.reloads = int(ag.Metrics().Reloads.Load())
	}
	run.res = <-results
	run.rows = RowsFromBuckets(run.res.Timeline)
	t.Logf("%s: %d changes, reloads %d, processes %d, RSS %d KB, dropped %d, live p50 %.1f ms p99 %.1f ms",
		mode, changes, run.reloads, run.workers, run.rssKB, run.res.Dropped, quantileMs(run.live, 0.5), quantileMs(run.live, 0.99))
	return run
}

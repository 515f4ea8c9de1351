package bench

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wsctl/wsctl/discovery/consul"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/internal/lbtest"
	"github.com/wsctl/wsctl/loadgen"
	"github.com/wsctl/wsctl/model"
	"github.com/wsctl/wsctl/render"
	"github.com/wsctl/wsctl/spec"
)

// scaleRun is what one case measured.
type scaleRun struct {
	c          scaleCase
	joined     time.Duration // agents started → all announced
	converged  time.Duration // a registration → live on every load balancer
	ramp       time.Duration // clients started → every WebSocket open (or the ramp's time out)
	connected  int           // WebSockets open before the drain
	onServer   int           // of them on the drained server
	took       time.Duration // `drain --fleet` start → exit
	closed     int           // its total closed
	back       int
	closePeak  int
	dropped    int
	kvWrites   float64 // per agent per second during the drain, the busiest agent
	kvWritesT  float64 // all agents, per second
	blocking   float64 // blocking queries per agent per second, the busiest
	blockingKV float64 // of which on the fleet's keys
	agentCPU   float64 // the busiest agent's CPU during the drain, % of one core
	agentRSS   int64   // the largest agent's RSS at the end, bytes
	consulCPU  float64
	consulRSS  int64
	failed     string // why the drain failed ("" when it did not)
	rows       []Row  // the drain's plot: from 5 s before it to the rollout or the end
	marks      []Mark
	roll       *scaleRoll // nil without a rollout
}

// TestScenarioFleetScale: N HAProxy load balancers, each with its `wsctl
// agent` process, on one Consul; up to 100,000 WebSockets from wsload
// processes; a fleet drain of one server at rate R. Smoke: 1 and 2 load
// balancers of 20 WebSockets; full: see scaleCases. Each case runs once
// (they are long), whatever -bench-repeats says.
func TestScenarioFleetScale(t *testing.T) {
	bins := scaleBinaries{
		wsctl:  lbtest.GoBinary(t, "cmd/wsctl"),
		wsload: lbtest.GoBinary(t, "cmd/wsload"),
	}
	lbtest.GoBinary(t, "cmd/wsecho")
	var runs []scaleRun
	tried := 0
	cases := scaleCases(t)
	for _, c := range cases {
		var r scaleRun
		t.Run(strings.NewReplacer(" ", "", ",", "_", "/", "", "×", "x").Replace(c.label()), func(t *testing.T) {
			tried++
			r = runFleetScale(t, c, bins)
			if r.back != 0 {
				t.Errorf("%d clients were sent back to the drained server, want 0", r.back)
			}
			if r.roll != nil {
				r.roll.check(t)
			}
		})
		if r.c.lbs == 0 { // -run left the case out, or it stopped early
			continue
		}
		t.Logf("%s: joined %s, converged %s, ramp %s, %d connected, %d on the server, drained in %s (sessions/R %.1f s), closed %d, "+
			"back %d, close peak %d, KV writes/s per agent %.1f (all %.1f), blocking/s per agent %.1f (fleet keys %.1f), "+
			"agent CPU %.0f%% RSS %.1f MB, Consul CPU %.0f%% RSS %.1f MB",
			c.label(), r.joined.Round(time.Millisecond), r.converged.Round(time.Millisecond), r.ramp.Round(time.Second), r.connected, r.onServer,
			r.took.Round(time.Millisecond), float64(r.onServer)/c.rate, r.closed, r.back, r.closePeak, r.kvWrites, r.kvWritesT,
			r.blocking, r.blockingKV, r.agentCPU, mb(r.agentRSS), r.consulCPU, mb(r.consulRSS))
		if r.roll != nil {
			t.Logf("%s: %s", c.label(), r.roll)
		}
		runs = append(runs, r)
	}
	// A run of some rows only (-bench-fleetscale-rows, or -run
	// 'FleetScale/10x3000') is a rerun: it gets a section of its own and
	// leaves the full table alone.
	name := "fleetscale"
	if *scaleRowsFlag != "" || tried < len(cases) {
		name = "fleetscale-rerun"
	}
	publish(t, name, fleetScaleReport(runs, name), fleetScalePlots(runs, name))
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

type scaleBinaries struct{ wsctl, wsload string }

// fleetScaleReport is the scenario's section of RESULTS.md.
func fleetScaleReport(runs []scaleRun, name string) string {
	var b strings.Builder
	title := "Fleet at scale: N load balancers, up to 100,000 WebSockets"
	if name != "fleetscale" {
		title += " (a rerun of some rows: " + name + ")"
	}
	fmt.Fprintf(&b, "## %s\n\nMachine:\n\n%s\n", title, DescribeMachine().Markdown())
	b.WriteString("Method: `go test ./bench -run FleetScale -bench-full` (part of `make bench`). For each row a fresh stack: one Consul 1.22 " +
		"dev agent (or three servers), N HAProxy 2.6 processes rendered from examples/consul (`connections: 6000`, health checks every 300 ms) " +
		"each with its own `wsctl agent` process (the binary, defaults, `--agent-id lbN`) and its own loopback `source_address` for its " +
		"connections to the servers, as a load balancer on a host of its own has (on one shared address the kernel's search for a free " +
		"ephemeral port took most of HAProxy's CPU from 15,000 WebSockets per server on), wsecho backends registered in Consul " +
		"(three, or one per 12,500 WebSockets: a process holds at most 20,000 descriptors, and a rollout lands a server's clients on one), " +
		"and one wsload process per load balancer (reconnecting, one cookie jar per client, an echo every 30 s, its own loopback source " +
		"address, so no source/destination pair needs more than the 28,000 ephemeral ports), ramping at 2,000 WebSockets a second in all " +
		"(at most 500 per process). Every agent talks to Consul " +
		"through its own counting HTTP proxy in the test process, which is how KV writes (PUT/DELETE on /v1/kv, PUT on /v1/txn, one " +
		"request each) and blocking queries (GET with `index=`) are counted per agent; the drain command talks to Consul directly.\n\n" +
		"- **join**: agent processes started → every one announced under `wsctl/agents/`. **converge**: the last backend registered " +
		"(HTTP API) → live (READY, up) in every HAProxy, polled every 20 ms. **ramp**: the clients started → every WebSocket open " +
		"(`scur` summed, polled every second; given up 2 min after the time the ramp rate needs).\n" +
		"- **drain**: `wsctl drain ws_cluster/chat-ws-2 --fleet --close-after 1s --close-rate R`, timed from start to exit; " +
		"\"on server\" = chat-ws-2's `scur` summed over the load balancers just before. Close peak: the worst 100 ms slot of drops, " +
		"summed over the wsload timelines (each shifted by its start, to the nearest 100 ms) from the drain on; allowed R/10 + 20 %. " +
		"Back = chat-ws-2's `stot` growth over the drain, summed. KV writes and blocking queries: per second of the drain, the busiest " +
		"agent (and the sum over all); CPU: the busiest agent's user+system time over the drain, % of one core; RSS at the end of the drain.\n" +
		"- **rollout** (rows with one, after the drain): `wsctl ready ws_cluster/chat-ws-2 --fleet`, `wsctl rebalance ws_cluster --fleet --close-rate R` " +
		"(the drain left chat-ws-2 empty; a pipeline evens the servers out before a rollout), then `wsctl rollout ws_cluster -c SPEC " +
		"--pause --close-after 1s --close-rate R` through the agents (the backend is discovered from Consul, so the rollout goes across the " +
		"fleet), then after each SIGTERM and restart of the paused wsecho the same with `--next`, as the rolling-deploy scenario does on one " +
		"load balancer. Every server is rolled, in name order. The floor is C + s₁ (C the WebSockets when it starts, s₁ those on the first " +
		"server, chat-ws-1, whose clients can only land on servers still to deploy; every other client is cut once): C + C/N when the " +
		"servers are even, as the rebalance leaves them. Cuts: what the agents report closed (wsctl's `cuts`) " +
		"and the drops the clients saw over the rollout; back = new sessions on a server while it was held or drained, summed over the " +
		"load balancers (polled every 50 ms from when each first sees it out of READY); not reconnected = C − the clients' live WebSockets " +
		"at the end (2 s after the rollout).\n\n" +
		"One run per row (each takes minutes); the machine has 2 cores shared by every process of the row and by other work: compare rows " +
		"of this run, not across runs.\n\n")
	b.WriteString("| load balancers × WebSockets, rate | WebSockets | backends | ramp | join | converge | on server | drain time | sessions ÷ R | bound 1.15·s/R+3 s | close peak /100 ms | allowed | back | KV writes/s per agent (all) | blocking queries/s per agent (fleet keys) | agent CPU / RSS | Consul CPU / RSS |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range runs {
		c := r.c
		sr := float64(r.onServer) / c.rate
		took := fmt.Sprintf("**%.1f s**", r.took.Seconds())
		if r.failed != "" {
			took = fmt.Sprintf("**failed after %.1f s** (%d closed)", r.took.Seconds(), r.closed)
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %.0f s | %.2f s | %.0f ms | %d | %s | %.1f s | %.1f s | **%d** | %.0f | %d | %.1f (%.0f) | %.1f (%.1f) | %.0f %% / %.0f MB | %.0f %% / %.0f MB |\n",
			c.label(), r.connected, c.backends(), r.ramp.Seconds(), r.joined.Seconds(), float64(r.converged)/float64(time.Millisecond), r.onServer,
			took, sr, 1.15*sr+3, r.closePeak, c.rate/10*1.2, r.back, r.kvWrites, r.kvWritesT, r.blocking, r.blockingKV,
			r.agentCPU, mb(r.agentRSS), r.consulCPU, mb(r.consulRSS))
	}
	for _, r := range runs {
		if r.failed != "" {
			fmt.Fprintf(&b, "\n- %s: the drain failed: %s\n", r.c.label(), r.failed)
		}
	}
	fmt.Fprintf(&b, "\nBefore this scenario (issue 19, one Consul dev server, same machine): 10 × 500 at 500/s: 1,669 on the server, "+
		"drain 5.1 s, peak 53; 20 × 500 at 500/s: 3,344, 10.8 s, peak 66; 10 × 3,000 at 1,000/s: 10,000, 20.9–25.0 s, peak 102.\n\n"+
		"Plot: [%[1]s_drain.svg](%[1]s_drain.svg) (the largest fleet at the higher rate: drops and reconnects per 100 ms "+
		"summed over the load balancers, live WebSockets; the dashed line is the drain).\n", name)
	b.WriteString(fleetScaleRolloutReport(runs, name))
	return b.String()
}

// fleetScalePlots are the drain's plot and the rollout's of the largest
// fleet at the highest rate (the largest with a rollout for the latter).
func fleetScalePlots(runs []scaleRun, name string) map[string]func(f *os.File) error {
	plots := map[string]func(f *os.File) error{}
	largest := func(ok func(scaleRun) bool) (scaleRun, bool) {
		var best scaleRun
		found := false
		for _, r := range runs {
			if ok(r) && (!found || r.connected > best.connected || r.connected == best.connected && r.c.rate > best.c.rate) {
				best, found = r, true
			}
		}
		return best, found
	}
	if d, ok := largest(func(r scaleRun) bool { return !r.c.cluster }); ok {
		title := fmt.Sprintf("fleet drain at scale: %s, %d WebSockets", d.c.label(), d.connected)
		plots[name+"_drain.svg"] = func(f *os.File) error { return WriteSVG(f, title, d.rows, d.marks) }
	}
	if ro, ok := largest(func(r scaleRun) bool { return r.roll != nil }); ok {
		title := fmt.Sprintf("fleet rollout at scale: %s, %d WebSockets, %d servers", ro.c.label(), ro.roll.conns, ro.roll.servers)
		plots[name+"_rollout.svg"] = func(f *os.File) error { return WriteSVG(f, title, ro.roll.rows, ro.roll.marks) }
	}
	return plots
}

// consulCounter counts what one agent asks of Consul, through a reverse
// proxy in front of it.
type consulCounter struct {
	addr                                string
	kvWrites, blocking, blockingKV, all atomic.Int64
}

type consulCounts struct{ kvWrites, blocking, blockingKV, all int64 }

func (c *consulCounter) counts() consulCounts {
	return consulCounts{c.kvWrites.Load(), c.blocking.Load(), c.blockingKV.Load(), c.all.Load()}
}

// countConsul starts a counting proxy to Consul at target for the test.
func countConsul(t *testing.T, target, kvPrefix string) *consulCounter {
	t.Helper()
	u, err := url.Parse("http://" + target)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &consulCounter{addr: l.Addr().String()}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.FlushInterval = -1
	rp.ErrorLog = log.New(io.Discard, "", 0) // blocking queries cut at the end of a run
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 64}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		c.all.Add(1)
		kv := strings.HasPrefix(req.URL.Path, "/v1/kv/")
		switch {
		case (req.Method == http.MethodPut || req.Method == http.MethodDelete) && kv,
			req.Method == http.MethodPut && req.URL.Path == "/v1/txn":
			c.kvWrites.Add(1)
		case req.Method == http.MethodGet && req.URL.Query().Get("index") != "" && req.URL.Query().Get("index") != "0":
			c.blocking.Add(1)
			if strings.HasPrefix(req.URL.Path, "/v1/kv/"+kvPrefix) {
				c.blockingKV.Add(1)
			}
		}
		rp.ServeHTTP(w, req)
	})}
	done := make(chan struct{})
	go func() {
		_ = srv.Serve(l)
		close(done)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return c
}

// scaleLB is one load balancer of a run.
type scaleLB struct {
	id, frontend string
	rt           *haproxy.Client
	agent        *lbtest.Process
	consul       *consulCounter
}

// scaleLBs are the load balancers of a run.
type scaleLBs []*scaleLB

// sessions returns the current and total sessions (scur, stot) of every
// server of ws_cluster, summed over the load balancers: one `show
// servers state` and `show stat` each, asked together (an HAProxy under
// thousands of WebSockets answers slowly). A load balancer that does not
// answer counts none, and its error is returned.
func (lbs scaleLBs) sessions() (serverSessions, error) {
	per := make([][]haproxy.ServerStatus, len(lbs))
	errs := make([]error, len(lbs))
	var wg sync.WaitGroup
	for i, lb := range lbs {
		wg.Go(func() { per[i], errs[i] = lb.rt.Servers(context.Background(), "ws_cluster") })
	}
	wg.Wait()
	n := serverSessions{}
	for _, all := range per {
		for _, s := range all {
			n[s.Server] = sessionCount{scur: n[s.Server].scur + int(s.Scur), stot: n[s.Server].stot + int(s.Stot)}
		}
	}
	return n, errors.Join(errs...)
}

// mustSessions is sessions, failing t when a load balancer did not answer.
func (lbs scaleLBs) mustSessions(t *testing.T) serverSessions {
	t.Helper()
	n, err := lbs.sessions()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// sessionCount is a server's current and total sessions.
type sessionCount struct{ scur, stot int }

// serverSessions are the sessions by server.
type serverSessions map[string]sessionCount

// total is the current sessions of every server.
func (s serverSessions) total() int {
	n := 0
	for _, v := range s {
		n += v.scur
	}
	return n
}

// scaleLoader is one wsload process.
type scaleLoader struct {
	cmd         *exec.Cmd
	out, stderr bytes.Buffer
	timeline    string
	started     time.Time
	done        chan error
}

func runFleetScale(t *testing.T, c scaleCase, bins scaleBinaries) scaleRun {
	t.Helper()
	lbtest.Binary(t, "haproxy")
	r := scaleRun{c: c}
	var consuls []*lbtest.Consul
	if c.cluster {
		consuls = lbtest.StartConsulCluster(t).Servers
	} else {
		consuls = []*lbtest.Consul{lbtest.StartConsul(t)}
	}
	reg := consuls[0]
	// Every backend but the last is there when the load balancers start;
	// the last one's registration is what convergence times.
	nb := c.backends()
	backends := make([]*lbtest.Wsecho, nb)
	register := func(i int) {
		host, port, _ := net.SplitHostPort(backends[i].Addr)
		p, _ := strconv.Atoi(port)
		reg.Register(t, backends[i].ID, "chat-ws", host, p, nil, nil)
	}
	for i := range nb {
		backends[i] = lbtest.StartWsecho(t, fmt.Sprintf("chat-ws-%d", i+1), "--close-spread", "0s")
		if i < nb-1 {
			register(i)
		}
	}
	src, err := os.ReadFile(filepath.Join(lbtest.ModuleRoot(t), "examples", "consul", "wsctl.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	specText := func(consulAddr, runDir, frontend string) string {
		return strings.NewReplacer("127.0.0.1:8080", frontend, "127.0.0.1:8404", lbtest.Addr(t),
			"${CONSUL_HTTP_ADDR:-127.0.0.1:8500}", consulAddr, "${WSCTL_RUN_DIR:-/run/wsctl}", runDir,
			"interval: 2s", "interval: 300ms", "connections: 4000", "connections: 6000").Replace(string(src))
	}
	writeSpec := func(text string) (string, *spec.Spec) {
		path := filepath.Join(t.TempDir(), "wsctl.yaml")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		sp, err := spec.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		return path, sp
	}
	opSpec, _ := writeSpec(specText(reg.Addr, t.TempDir(), lbtest.Addr(t)))

	lbs := make([]*scaleLB, c.lbs)
	var configs []string
	for i := range lbs {
		lb := &scaleLB{id: fmt.Sprintf("lb%d", i+1), frontend: lbtest.Addr(t)}
		runDir := t.TempDir()
		target := consuls[i%len(consuls)].Addr
		_, sp := writeSpec(specText(target, runDir, lb.frontend))
		lb.consul = countConsul(t, target, sp.Consul.KVPrefix)
		// Each load balancer of a fleet has its own address; here they
		// share one host, so each gets its own loopback source address
		// for its connections to the servers. On one address the kernel's
		// search for a free ephemeral port per connect() took most of the
		// CPU once 15,000 WebSockets went to one server (10 × 3,000).
		path, sp := writeSpec(specText(lb.consul.addr, runDir, lb.frontend) +
			fmt.Sprintf("\nsource_address: 127.1.%d.%d\n", i/200, 2+i%200))
		snap, err := consul.Once(context.Background(), sp, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := render.Config(sp, model.TargetHAProxy, snap, "")
		if err != nil {
			t.Fatal(err)
		}
		h := lbtest.StartHAProxy(t, runDir, string(res.Config), sp.HAProxy.AdminSocket)
		lbtest.WaitTCP(t, lb.frontend, 10*time.Second)
		// Counting is not timed: wait for an HAProxy that answers slowly
		// under tens of thousands of WebSockets on a busy host.
		if lb.rt, err = haproxy.Dial(context.Background(), sp.HAProxy.AdminSocket, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		configs = append(configs, path, h.Config)
		lbs[i] = lb
	}
	start := time.Now()
	for i, lb := range lbs {
		lb.agent = lbtest.Start(t, bins.wsctl, "agent", "-c", configs[2*i], "--haproxy-config", configs[2*i+1],
			"--listen", "", "--agent-id", lb.id)
	}
	lbtest.WaitFor(t, 60*time.Second, "every agent announced", func() bool {
		pairs, _, err := reg.Client.KV().List("wsctl/agents/", nil)
		return err == nil && len(pairs) == c.lbs
	})
	r.joined = time.Since(start)

	last := backends[nb-1].ID
	start = time.Now()
	register(nb - 1)
	lbtest.WaitFor(t, 60*time.Second, last+" live on every load balancer", func() bool {
		for _, lb := range lbs {
			s, err := lb.rt.Server(context.Background(), "ws_cluster", last)
			if err != nil || !live(s) {
				return false
			}
		}
		return true
	})
	r.converged = time.Since(start)

	// Clients: one wsload per load balancer, ramping at 2,000 a second in
	// all (at most 500 each).
	dir := t.TempDir()
	rate := min(500, 2000/float64(c.lbs))
	loaders := make([]*scaleLoader, c.lbs)
	for i, lb := range lbs {
		p := &scaleLoader{timeline: filepath.Join(dir, fmt.Sprintf("timeline%d.csv", i)), done: make(chan error, 1)}
		p.cmd = exec.Command(bins.wsload, "--url", "ws://"+lb.frontend+"/ws", "--conns", fmt.Sprint(c.perLB),
			"--rate", fmt.Sprint(rate), "--duration", "2h", "--interval", "30s", "--grace", "1s", "--reconnect", "--cookies",
			// A handshake the loaded host answers late is waited for:
			// given up at the default 5 s, it is dialled again, adding
			// work just when the host is behind.
			"--handshake-timeout", "30s",
			"--source-ips", fmt.Sprintf("127.0.%d.%d", 1+i/200, 2+i%200), "--timeline", p.timeline, "-o", "json")
		p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.stderr
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		p.started = time.Now()
		go func() { p.done <- p.cmd.Wait() }()
		t.Cleanup(func() {
			select {
			case <-p.done:
			default:
				_ = p.cmd.Process.Kill()
				<-p.done
			}
		})
		loaders[i] = p
	}
	t0 := loaders[0].started
	// A host that cannot hold them all drains what it reached: the row
	// says how many.
	deadline := time.Now().Add(time.Duration(float64(c.perLB)/rate*float64(time.Second)) + 2*time.Minute)
	for r.connected < c.total() && time.Now().Before(deadline) {
		time.Sleep(time.Second)
		now, _ := scaleLBs(lbs).sessions()
		r.connected = now.total()
	}
	r.ramp = time.Since(t0)
	if r.connected < c.total() {
		t.Logf("%s: %d of %d WebSockets open when the ramp's time ran out; draining with those", c.label(), r.connected, c.total())
	}
	time.Sleep(2 * time.Second)

	// The drain, with everything it costs measured over it.
	before := scaleLBs(lbs).mustSessions(t)
	r.onServer = before["chat-ws-2"].scur
	var pids []int
	for _, lb := range lbs {
		pids = append(pids, lb.agent.PID)
	}
	for _, s := range consuls {
		pids = append(pids, s.Proc.PID)
	}
	cpuBefore := cpuTimes(t, pids)
	countsBefore := make([]consulCounts, len(lbs))
	for i, lb := range lbs {
		countsBefore[i] = lb.consul.counts()
	}
	dStart := time.Now()
	r.marks = append(r.marks, Mark{TMs: dStart.Sub(t0).Milliseconds(), Label: "drain --fleet"})
	out, err := exec.Command(bins.wsctl, "drain", "ws_cluster/chat-ws-2", "--fleet", "-c", opSpec, "--close-after", "1s",
		"--close-rate", fmt.Sprint(c.rate), "--timeout", "10m", "-o", "json").Output()
	r.took = time.Since(dStart)
	cpuAfter := cpuTimes(t, pids)
	r.closed = fleetClosed(t, out)
	if err != nil {
		// A failed drain is a result too: the row says why.
		var res struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(out, &res)
		r.failed = cmp.Or(res.Error, err.Error())
		t.Errorf("wsctl drain --fleet: %v: %s", err, r.failed)
	}
	r.back = scaleLBs(lbs).mustSessions(t)["chat-ws-2"].stot - before["chat-ws-2"].stot
	secs := r.took.Seconds()
	for i, lb := range lbs {
		d := lb.consul.counts()
		b := countsBefore[i]
		w := float64(d.kvWrites-b.kvWrites) / secs
		r.kvWrites = max(r.kvWrites, w)
		r.kvWritesT += w
		if q := float64(d.blocking-b.blocking) / secs; q > r.blocking {
			r.blocking, r.blockingKV = q, float64(d.blockingKV-b.blockingKV)/secs
		}
		r.agentCPU = max(r.agentCPU, 100*(cpuAfter[i]-cpuBefore[i]).Seconds()/secs)
		if rss, ok := RSS(lb.agent.PID); ok {
			r.agentRSS = max(r.agentRSS, rss)
		}
	}
	for i, s := range consuls {
		j := len(lbs) + i
		r.consulCPU += 100 * (cpuAfter[j] - cpuBefore[j]).Seconds() / secs
		if rss, ok := RSS(s.Proc.PID); ok {
			r.consulRSS += rss
		}
	}

	// Let the cut clients land elsewhere.
	time.Sleep(2 * time.Second)
	if c.rollout {
		r.roll = runScaleRollout(t, scaleFleet{c: c, wsctl: bins.wsctl, spec: opSpec, lbs: lbs, backends: backends, t0: t0})
	}

	// Stop the clients and read their timelines.
	var timelines [][]Row
	for i, p := range loaders {
		_ = p.cmd.Process.Signal(syscall.SIGINT)
		if err := <-p.done; err != nil {
			t.Fatalf("wsload %d: %v\n%s", i, err, p.stderr.String())
		}
		p.done <- nil // for the cleanup
		var res loadgen.Result
		if err := json.Unmarshal(p.out.Bytes(), &res); err != nil {
			t.Fatalf("wsload %d output: %v\n%s", i, err, p.out.String())
		}
		r.dropped += res.Dropped
		if r.roll != nil {
			for _, n := range res.PerServer {
				r.roll.liveEnd += n
			}
		}
		rows, err := ReadTimelineCSV(p.timeline)
		if err != nil {
			t.Fatal(err)
		}
		shift := int(math.Round(float64(p.started.Sub(t0)) / float64(100*time.Millisecond)))
		timelines = append(timelines, append(make([]Row, shift), rows...))
	}
	rows := SumRows(timelines...)
	from, to := slot(dStart.Sub(t0)), len(rows)
	if r.roll != nil {
		rollFrom := slot(r.roll.start.Sub(t0))
		to = rollFrom
		r.roll.drops = Sum(rows, rollFrom, len(rows), func(x Row) int { return x.Closes })
		r.roll.closePeak = Peak(rows, rollFrom, len(rows), func(x Row) int { return x.Closes })
		r.roll.rows, r.roll.marks = Window(rows, r.roll.marks, rollFrom-50, len(rows))
	}
	r.closePeak = Peak(rows, from, to, func(x Row) int { return x.Closes })
	// The plots start a little before the drain or the rollout: the ramp
	// is long.
	r.rows, r.marks = Window(rows, r.marks, from-50, to)
	return r
}

// slot is the 100 ms slot of a timeline d after its start.
func slot(d time.Duration) int { return int(d / (100 * time.Millisecond)) }

// cpuTimes reads the CPU time of every pid.
func cpuTimes(t *testing.T, pids []int) []time.Duration {
	t.Helper()
	out := make([]time.Duration, len(pids))
	for i, p := range pids {
		d, err := CPUTime(p)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = d
	}
	return out
}

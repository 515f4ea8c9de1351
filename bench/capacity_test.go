package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wsctl/wsctl/internal/lbtest"
	"github.com/wsctl/wsctl/loadgen"
	"github.com/wsctl/wsctl/model"
)

// haproxyReserve is the descriptors HAProxy 2.6 keeps beyond two per
// connection for the rendered basic example (three servers), measured:
// maxconn 9980 makes it ask for 20003.
const haproxyReserve = 43

// probeConns is the clients that measure the echo latency once every
// other client is connected.
const probeConns = 20

// capacityRun is one attempt to hold conns WebSockets through one proxy.
type capacityRun struct {
	held, failed, dropped int
	rssBefore, rssAt      int64
	procs                 int
	p50, p99              float64
	probeP50, probeP99    float64
	probeEchoes           int
	rows                  []Row
}

// TestScenarioCapacity holds as many WebSockets as it attempts through the
// rendered HAProxy and nginx (worker_processes 1) configs, split over
// several wsload processes since each needs one descriptor per client, and
// measures the proxies' RSS per connection and the echo latency at load.
func TestScenarioCapacity(t *testing.T) {
	conns := size(60, 9000)
	loaders := 2
	hold := size(2*time.Second, 10*time.Second)
	rate := size(0.0, 1500.0) // per wsload process
	interval := size(500*time.Millisecond, 2*time.Second)
	wsload := lbtest.GoBinary(t, "cmd/wsload")
	m := DescribeMachine()

	var body strings.Builder
	fmt.Fprintf(&body, "## 1. Capacity: WebSockets held per proxy process\n\n")
	fmt.Fprintf(&body, "Method: examples/basic rendered with `connections: %d` (so HAProxy `maxconn` and nginx "+
		"`worker_connections` are sized to the attempt), three wsecho backends, nginx with `worker_processes 1`. "+
		"%d wsload processes of %d clients each (%g new/s each, one loopback source address each) hold their "+
		"connections for %s after the ramp and echo every %s. RSS is VmRSS summed over every process of the proxy "+
		"(master and workers) from /proc, idle after start vs at full load; per connection = the difference / held. "+
		"Latency: every echo of the run, ramp included: median of the processes' p50, worst of their p99. %d repeat(s), medians shown.\n\nMachine:\n\n%s\n",
		conns, loaders, conns/loaders, rate, hold, interval, runs(), m.Markdown())
	fmt.Fprintf(&body, "| proxy | attempted | held (median) | handshake failures | drops | RSS idle → at load | per connection | echo p50 / p99 at load (probe) | echo p50 / p99 whole run |\n|---|---|---|---|---|---|---|---|---|\n")

	// The attempts: the target through each proxy, and with -bench-full HAProxy
	// at the fd bound: the largest connections whose maxconn (+10%) fits
	// the limit, attempting 99% of the fd-bound maximum.
	type attempt struct {
		name, target     string
		specConns, conns int
		loaders          int
	}
	attempts := []attempt{
		{model.TargetHAProxy, model.TargetHAProxy, conns, conns, loaders},
		{model.TargetNginx, model.TargetNginx, conns, conns, loaders},
	}
	haproxyMax := (int(m.FDLimit) - haproxyReserve) / 2
	if *full {
		c := 1
		for 2*(c+1+(c+1+9)/10)+haproxyReserve <= int(m.FDLimit) {
			c++
		}
		attempts = append(attempts, attempt{"haproxy_bound", model.TargetHAProxy, c, haproxyMax * 99 / 100, 3})
	}
	plots := map[string]func(*os.File) error{}
	perConn := map[string]float64{} // median KB per connection, by attempt
	for _, a := range attempts {
		target, conns, loaders := a.target, a.conns, a.loaders
		var all []capacityRun
		for i := range runs() {
			var r capacityRun
			ran := false
			t.Run(fmt.Sprintf("%s_%d", a.name, i+1), func(t *testing.T) {
				r = runCapacity(t, target, a.specConns, conns, loaders, rate, hold, interval, wsload)
				ran = true
				// Behaviour, not speed: every client is held to the end.
				if r.held != conns || r.failed != 0 || r.dropped != 0 {
					t.Errorf("%s: held %d of %d (handshake failures %d, drops %d), want all held", target, r.held, conns, r.failed, r.dropped)
				}
				if r.probeEchoes == 0 {
					t.Errorf("%s: the latency probe got no echo through the loaded proxy", target)
				}
			})
			if !ran {
				continue
			}
			t.Logf("%s run %d: held %d/%d, failed %d, dropped %d, rss %d→%d (%d procs), p50 %.2fms p99 %.2fms, probe %d echoes p50 %.2fms p99 %.2fms",
				target, i+1, r.held, conns, r.failed, r.dropped, r.rssBefore, r.rssAt, r.procs, r.p50, r.p99, r.probeEchoes, r.probeP50, r.probeP99)
			all = append(all, r)
		}
		if len(all) == 0 {
			continue
		}
		med := func(f func(capacityRun) float64) float64 {
			xs := make([]float64, len(all))
			for i, r := range all {
				xs[i] = f(r)
			}
			return Median(xs)
		}
		held := med(func(r capacityRun) float64 { return float64(r.held) })
		perConn[a.name] = med(func(r capacityRun) float64 { return float64(r.rssAt-r.rssBefore) / float64(max(r.held, 1)) / 1024 })
		label := target
		if a.specConns != conns {
			label = fmt.Sprintf("%s at the fd bound (connections: %d → maxconn %d, %d wsload processes)", target, a.specConns, a.specConns+(a.specConns+9)/10, loaders)
		}
		fmt.Fprintf(&body, "| %s | %d | %.0f | %.0f | %.0f | %.1f MB → %.1f MB | %.1f KB | %.2f ms / %.2f ms | %.2f ms / %.2f ms |\n",
			label, conns, held,
			med(func(r capacityRun) float64 { return float64(r.failed) }),
			med(func(r capacityRun) float64 { return float64(r.dropped) }),
			med(func(r capacityRun) float64 { return float64(r.rssBefore) / 1e6 }),
			med(func(r capacityRun) float64 { return float64(r.rssAt) / 1e6 }),
			med(func(r capacityRun) float64 { return float64(r.rssAt-r.rssBefore) / float64(max(r.held, 1)) / 1024 }),
			med(func(r capacityRun) float64 { return r.probeP50 }),
			med(func(r capacityRun) float64 { return r.probeP99 }),
			med(func(r capacityRun) float64 { return r.p50 }),
			med(func(r capacityRun) float64 { return r.p99 }))
		rows := all[0].rows
		title := fmt.Sprintf("capacity via %s: %d WebSockets from %d wsload processes (run 1)", target, conns, loaders)
		plots["capacity_"+a.name+".svg"] = func(f *os.File) error { return WriteSVG(f, title, rows, nil) }
	}
	if h, n := perConn[model.TargetHAProxy], perConn[model.TargetNginx]; h > 0 && n > 0 {
		fmt.Fprintf(&body, "\nMemory per WebSocket, nginx / HAProxy, medians of this run: ×%.1f.\n", n/h)
	}
	fmt.Fprintf(&body, "\nPlots: [capacity_haproxy.svg](capacity_haproxy.svg), [capacity_nginx.svg](capacity_nginx.svg), "+
		"[capacity_haproxy_bound.svg](capacity_haproxy_bound.svg).\n\n"+
		"What bounds it: the open-file limit, %d per process, which HAProxy and nginx inherit and cannot raise. "+
		"A proxied WebSocket costs the proxy two descriptors (client side and server side), so one HAProxy process "+
		"carries at most (%d − %d for listeners, sockets and pollers) / 2 = %d WebSockets; HAProxy derives its own "+
		"maxconn from it when none is set, and refuses to start (\"Cannot raise FD limit\") when the rendered maxconn "+
		"(connections + 10%%) needs more, which `wsctl check` reports before that happens. The 10%% headroom means "+
		"the largest spec this host accepts is the bound row's `connections`; its maxconn still allows the 99%% attempt. nginx with one worker has "+
		"the same bound: `worker_connections` counts both sides, and `worker_rlimit_nofile` above the hard limit is "+
		"refused by the kernel (nginx logs it and keeps the inherited limit). The load generator needs one descriptor "+
		"per client, hence several wsload processes; the backends hold a third each. More WebSockets on this host "+
		"need more proxy processes (several HAProxy instances behind the same port with SO_REUSEPORT, or more nginx "+
		"workers), each with its own limit.\n\n"+
		"Measured on HAProxy 2.6.12 with the rendered config (one frontend, admin socket, master CLI): it asks for "+
		"2 × maxconn + %d descriptors (maxconn 9980 → \"Cannot raise FD limit to 20003, limit is 20000\"; 9978 starts; "+
		"a one-server config asks for 2 × maxconn + 40), which `proxy.HostProblem` covers with a reserve of 45 "+
		"(it reserved 30 before this run found the gap: `connections: 9072` to `9077` passed the check and HAProxy refused them).\n", m.FDLimit, m.FDLimit, haproxyReserve, haproxyMax, haproxyReserve)
	publish(t, "capacity", body.String(), plots)
}

func runCapacity(t *testing.T, target string, specConns, conns, loaders int, rate float64, hold, interval time.Duration, wsload string) capacityRun {
	t.Helper()
	st := startStack(t, target, specConns, "nginx:\n  pid_file", "nginx:\n  worker_processes: 1\n  pid_file")
	time.Sleep(300 * time.Millisecond)
	var r capacityRun
	var err error
	if r.rssBefore, _, err = TreeRSS(st.ProxyPID); err != nil {
		t.Fatal(err)
	}
	per := conns / loaders
	ramp := time.Duration(0)
	if rate > 0 {
		ramp = time.Duration(float64(per) / rate * float64(time.Second))
	}
	duration := ramp + hold
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), duration+time.Minute)
	defer cancel()
	type proc struct {
		cmd         *exec.Cmd
		out, stderr bytes.Buffer
		timeline    string
	}
	procs := make([]*proc, loaders)
	for i := range procs {
		n := per
		if i == loaders-1 {
			n = conns - per*(loaders-1)
		}
		p := &proc{timeline: filepath.Join(dir, fmt.Sprintf("timeline%d.csv", i))}
		p.cmd = exec.CommandContext(ctx, wsload, "--url", st.url(), "--conns", fmt.Sprint(n),
			"--rate", fmt.Sprint(rate), "--duration", duration.String(), "--interval", interval.String(),
			"--grace", "2s", "--source-ips", fmt.Sprintf("127.0.0.%d", i+2), "--timeline", p.timeline, "-o", "json")
		p.cmd.Stdout = &p.out
		p.cmd.Stderr = &p.stderr
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs[i] = p
	}
	// At load: a second after the ramp every client has connected. Then a
	// probe of probeConns extra clients echoes every 100 ms for a while,
	// so the latency at load is not mixed with the handshakes of the ramp.
	time.Sleep(ramp + time.Second)
	if r.rssAt, r.procs, err = TreeRSS(st.ProxyPID); err != nil {
		t.Fatal(err)
	}
	probe := loadgen.DefaultConfig()
	probe.URL = st.url()
	probe.Conns = probeConns
	probe.Rate = 0
	probe.Duration = min(3*time.Second, hold/2)
	probe.Interval = 100 * time.Millisecond
	pres, err := loadgen.Run(ctx, probe)
	if err != nil {
		t.Fatal(err)
	}
	r.probeP50, r.probeP99, r.probeEchoes = pres.EchoP50Ms, pres.EchoP99Ms, pres.Echoed
	var timelines [][]Row
	var p50s []float64
	for i, p := range procs {
		if err := p.cmd.Wait(); err != nil {
			t.Fatalf("wsload %d: %v\n%s%s", i, err, p.out.String(), p.stderr.String())
		}
		var res loadgen.Result
		if err := json.Unmarshal(p.out.Bytes(), &res); err != nil {
			t.Fatalf("wsload %d output: %v\n%s", i, err, p.out.String())
		}
		for _, n := range res.PerServer {
			r.held += n
		}
		r.failed += res.HandshakeFailed
		r.dropped += res.Dropped
		p50s = append(p50s, res.EchoP50Ms)
		r.p99 = max(r.p99, res.EchoP99Ms)
		rows, err := ReadTimelineCSV(p.timeline)
		if err != nil {
			t.Fatal(err)
		}
		timelines = append(timelines, rows)
	}
	r.p50 = Median(p50s)
	r.rows = SumRows(timelines...)
	return r
}

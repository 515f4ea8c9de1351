package bench

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wsctl/wsctl/agent"
	"github.com/wsctl/wsctl/discovery"
	"github.com/wsctl/wsctl/echoserver"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/internal/lbtest"
	"github.com/wsctl/wsctl/loadgen"
	"github.com/wsctl/wsctl/proxy"
	"golang.org/x/sys/unix"
)

// churnMode is how membership changes reach HAProxy.
type churnMode string

const (
	// churnConsul applies nothing: "live" is a blocking query on Consul's
	// health endpoint returning with the new instance, the floor every
	// follower of Consul starts from.
	churnConsul churnMode = "consul"
	// churnAgent is `wsctl agent` with its defaults.
	churnAgent churnMode = "agent"
	// churnAgentFast is `wsctl agent --min-quiet 5ms`.
	churnAgentFast churnMode = "agent-5ms"
	// churnReload renders and reloads on every change (consul-template).
	churnReload churnMode = "reload"
	// churnConsulLarge and churnAgentLarge are churnConsul and churnAgent
	// with churnLargeServers() more servers in the backend.
	churnConsulLarge churnMode = "consul-large"
	churnAgentLarge  churnMode = "agent-large"
)

var churnModes = []churnMode{churnConsul, churnAgent, churnAgentFast, churnReload, churnConsulLarge, churnAgentLarge}

var churnModesFlag = flag.String("bench-churn-modes", "",
	"Churn: run only these columns, comma-separated (consul, agent, agent-5ms, reload, consul-large, agent-large); "+
		"their figures are logged and RESULTS.md is left alone. Default: every column, and a full run writes the section")

// selectedChurnModes returns the modes -bench-churn-modes names, in the
// table's order, and whether they are all of them.
func selectedChurnModes(t *testing.T) ([]churnMode, bool) {
	t.Helper()
	if *churnModesFlag == "" {
		return churnModes, true
	}
	names := strings.Split(*churnModesFlag, ",")
	for _, name := range names {
		if !slices.Contains(churnModes, churnMode(strings.TrimSpace(name))) {
			t.Fatalf("-bench-churn-modes: unknown mode %q (want one of %v)", name, churnModes)
		}
	}
	var out []churnMode
	for _, m := range churnModes {
		if slices.ContainsFunc(names, func(n string) bool { return churnMode(strings.TrimSpace(n)) == m }) {
			out = append(out, m)
		}
	}
	return out, len(out) == len(churnModes)
}

// churnLarge maps a large variant to the mode it runs.
var churnLarge = map[churnMode]churnMode{churnConsulLarge: churnConsul, churnAgentLarge: churnAgent}

// churnLargeServers is how many servers the large variants add to the
// backend (echoTargets: loopback ports of one echo server in a child
// process).
func churnLargeServers() int { return size(20, 1000) }

// churnTitle heads a mode's column.
func churnTitle(m churnMode) string {
	title := map[churnMode]string{
		churnConsul:    "Consul alone (blocking query returns)",
		churnAgent:     "`wsctl agent`, defaults",
		churnAgentFast: "`wsctl agent --min-quiet 5ms`",
		churnReload:    "render + reload per change (consul-template's way)",
	}
	if base, ok := churnLarge[m]; ok {
		return fmt.Sprintf("%s, %d more servers", title[base], churnLargeServers())
	}
	return title[m]
}

// isAgent reports whether m runs `wsctl agent`.
func isAgent(m churnMode) bool {
	return m == churnAgent || m == churnAgentFast || m == churnAgentLarge
}

// churnRun is one churn run's figures.
type churnRun struct {
	mode    churnMode
	changes int
	live    []time.Duration // register → live in HAProxy (consul: → query returns)
	seen    []time.Duration // register → a blocking query returns with it, same registrations
	// late counts HAProxy's UP lines its state had not matched yet at the
	// first look after them (agent modes): live is then that look's answer.
	late    int
	reloads int
	agent   agentCounters // over the changes (agent modes)
	workers int           // HAProxy processes under the master at the end
	rssKB   int64         // of the whole HAProxy tree at the end
	res     loadgen.Result
	rows    []Row
	marks   []Mark
}

// gaps are, registration by registration, how long after Consul's
// blocking query returned with it the server was live: on a busy machine
// Consul's own latency swings by more than the target (issue 19: 2 ms at
// p50, 5 ms at p99), so the gap is taken per registration too, not only
// between the quantiles of two columns.
func (r churnRun) gaps() []time.Duration {
	out := make([]time.Duration, min(len(r.live), len(r.seen)))
	for i := range out {
		out[i] = r.live[i] - r.seen[i]
	}
	return out
}

// TestScenarioChurn: membership changes while clients arrive, applied by
// `wsctl agent` (defaults, and --min-quiet 5ms) against render-and-reload on
// every change (the consul-template way), with Consul's own blocking-query
// latency as the floor, all in the same run; then Consul alone and the
// agent again with churnLargeServers() more servers in the backend. Smoke:
// 60 clients, 6 changes, 20 more servers; full: 3,000 clients over a
// minute, 50 changes, 1,000 more servers.
func TestScenarioChurn(t *testing.T) {
	conns, arrival, changes := size(60, 3000), size(3*time.Second, 60*time.Second), size(6, 50)
	modes, all := selectedChurnModes(t)
	runsBy := map[churnMode][]churnRun{}
	for i := range runs() {
		for _, mode := range modes {
			r := inSubtest(t, fmt.Sprintf("%s-%d", mode, i+1), func(t *testing.T) churnRun { return runChurn(t, mode, conns, arrival, changes) })
			runsBy[mode] = append(runsBy[mode], r)
			if r.res.Connected != conns || r.res.Dropped != 0 {
				t.Errorf("%s: connected %d of %d, dropped %d (%v): membership changes must not cut anyone",
					mode, r.res.Connected, conns, r.res.Dropped, r.res.DropsByCode)
			}
			if isAgent(mode) && r.reloads != 0 {
				t.Errorf("%s reloaded %d times for membership changes", mode, r.reloads)
			}
		}
	}
	if !all {
		t.Logf("-bench-churn-modes %s: RESULTS.md left alone (the section compares every column)", *churnModesFlag)
		return
	}
	publish(t, "churn", churnReport(runsBy, conns, arrival, changes), churnPlots(runsBy, conns, changes))
}

func churnReport(runsBy map[churnMode][]churnRun, conns int, arrival time.Duration, changes int) string {
	var body strings.Builder
	fmt.Fprintf(&body, "## Churn: membership changes under arriving clients\n\nMachine:\n\n%s\n", DescribeMachine().Markdown())
	fmt.Fprintf(&body, "Method: examples/consul (leastconn, SERVERID sticky cookie, health checks every 2s, servers from Consul) "+
		"on free ports; one Consul 1.22 server as production runs it (`-server -bootstrap-expect 1`, Raft on disk; not `-dev`, whose answers are indented, about twice the bytes (2.7 MB for 1,000 instances), which Consul encodes and the agent compares on every change); %d wsecho backends, 3 registered at the start; %d wsload clients arriving over %s "+
		"and held (no reconnect: every drop counts); %d membership changes spread over the arrival, alternately registering "+
		"an instance (HTTP API, TTL check passing) and deregistering an old one. Each column is a separate stack, run one after "+
		"the other in every repeat:\n\n"+
		"- **Consul alone**: nothing applies the changes; \"live\" is a blocking query on `/v1/health/service/chat-ws?passing` "+
		"(waiting on the index read before the registration) returning with the new instance.\n"+
		"- **`wsctl agent`, defaults**: the `wsctl agent` binary as users start it (`-c wsctl.yaml --haproxy-config …`; "+
		"--min-quiet %s, --max-quiet %s).\n"+
		"- **`wsctl agent --min-quiet 5ms`**: the same with the debounce tuned down (a second row, not the headline).\n"+
		"- **render + reload**: what consul-template does — on every change, query Consul (polled every ms until the change "+
		"shows, which favours it), render, write, reload through the master CLI.\n"+
		"- **%d more servers**: Consul alone and the agent with its defaults again, with that many more instances registered "+
		"(loopback ports of one echo server in a child process, so that their 500 health checks a second do not load the process that times live, taking clients like the others) and in HAProxy's backend from the start.\n\n"+
		"Register→live: from the HTTP register call until the server is live in the running HAProxy (admin state READY, "+
		"operational state starting or running). In the agent's columns, HAProxy says so itself: the spec's `haproxy.log` sends its log "+
		"to a unix datagram socket of the benchmark, and the line \"Server ws_cluster/… is UP/READY (leaving forced maintenance)\" "+
		"(an add or a readmission from MAINT) or \"… is UP (leaving forced drain)\" (a readmission from DRAIN), written by the function "+
		"that applies the change just before it puts the server into the balancing algorithm, is timed by the kernel as it is queued "+
		"(SO_TIMESTAMPNS; the socket is read every 0.5 ms by a thread of its own rather than waited on, since a reader the datagram woke "+
		"could run in HAProxy's thread's place before it committed the change); a `show servers state` after each line checks that "+
		"HAProxy's state agrees, and where it does not yet, live is when a look first finds it agreeing. Nothing polls HAProxy while the "+
		"agent works. (Before, a poll every 0.5 ms of the server's row was the ruler: it saw a change half a pause and one round trip "+
		"late, 4.8 ms at p99 with 1,000 servers, and loaded the HAProxy it measured.) Render + reload: `show servers state` on a "+
		"connection per poll (only a new connection reaches the new worker, whose servers come up without a line), every 0.5 ms "+
		"(nanosleep: Go's own timers slept 1.1 ms for 0.5 ms here). "+
		"\"Consul saw it\", in the agent's columns: "+
		"the agent's own blocking query's answer, timed by the agent once read whole, before decoding "+
		"(`wsctl_agent_last_change_timestamp_seconds`, read once the server is live); no second watcher runs beside the agent, "+
		"since Consul encodes every watcher's answer in turn (over a megabyte with 1,000 more servers) and which of two answers comes first "+
		"is luck. In the other columns: a blocking query started with every registration, timed once its answer is read whole, "+
		"then searched for the new service ID's quoted form rather than decoded; uncompressed, as the agent asks a local Consul. Workers and RSS: the HAProxy master's process tree at the end "+
		"of the changes, clients still connected. Runtime applies: the agent's `wsctl_agent_syncs_total` over the changes; its own part: "+
		"`wsctl_agent_runtime_seconds` (from the agent's own blocking query's answer read whole, before it decodes it, to the first runtime batch "+
		"that applied the change) and `wsctl_agent_convergence_seconds` (to the proxy matching it: config file and state written) over the "+
		"changes, sum ÷ count. "+
		"%d registrations per run; quantiles per run, then the median over %d repeat(s). The machine is shared with other "+
		"work (noisy): compare columns of this run, not with other runs.\n\n",
		size(4, 6), conns, arrival, changes, agent.DefaultMinQuiet, agent.DefaultMaxQuiet, churnLargeServers(), (changes+1)/2, runs())
	body.WriteString("| |")
	for _, m := range churnModes {
		fmt.Fprintf(&body, " %s |", churnTitle(m))
	}
	body.WriteString("\n|---|" + strings.Repeat("---|", len(churnModes)) + "\n")
	applies := func(c churnRun) bool { return c.mode != churnConsul && c.mode != churnConsulLarge }
	// row writes one line; f returns ok=false where the figure does not
	// apply to a mode.
	row := func(name, format string, f func(churnRun) (float64, bool)) {
		fmt.Fprintf(&body, "| %s |", name)
		for _, m := range churnModes {
			if _, ok := f(churnRun{mode: m}); !ok {
				body.WriteString(" – |")
				continue
			}
			fmt.Fprintf(&body, " "+format+" |", medianOf(runsBy[m], func(c churnRun) float64 { v, _ := f(c); return v }))
		}
		body.WriteString("\n")
	}
	for _, q := range []float64{0.5, 0.9, 0.99} {
		row(fmt.Sprintf("**register→live p%.0f (ms)**", q*100), "**%.1f**", func(c churnRun) (float64, bool) { return quantileMs(c.live, q), true })
	}
	row("Consul saw it, p50 (ms), same registrations", "%.1f", func(c churnRun) (float64, bool) { return quantileMs(c.seen, 0.5), true })
	for _, q := range []float64{0.5, 0.99} {
		row(fmt.Sprintf("live − Consul saw it, per registration, p%.0f (ms)", q*100), "%.1f", func(c churnRun) (float64, bool) {
			return quantileMs(c.gaps(), q), applies(c)
		})
	}
	row("HAProxy's UP line ahead of its state at the first look after it (live: the look that agreed), count", "%.0f", func(c churnRun) (float64, bool) {
		return float64(c.late), isAgent(c.mode)
	})
	row("reloads", "%.0f", func(c churnRun) (float64, bool) { return float64(c.reloads), applies(c) })
	row("agent's own part: its answer read → runtime batch applied, mean (ms)", "%.1f", func(c churnRun) (float64, bool) {
		return float64(c.agent.runtime.mean().Microseconds()) / 1000, isAgent(c.mode)
	})
	row("agent's own part: its answer read → proxy matches (files written), mean (ms)", "%.1f", func(c churnRun) (float64, bool) {
		return float64(c.agent.convergence.mean().Microseconds()) / 1000, isAgent(c.mode)
	})
	row("runtime applies (agent syncs)", "%.0f", func(c churnRun) (float64, bool) { return float64(c.agent.syncs), isAgent(c.mode) })
	row("HAProxy processes at the end (master + workers)", "%.0f", func(c churnRun) (float64, bool) { return float64(c.workers), true })
	row("HAProxy RSS at the end (MB)", "%.1f", func(c churnRun) (float64, bool) { return float64(c.rssKB) / 1024, true })
	row("clients dropped", "%.0f", func(c churnRun) (float64, bool) { return float64(c.res.Dropped), true })
	row("echo p99 (ms)", "%.2f", func(c churnRun) (float64, bool) { return c.res.EchoP99Ms, true })

	quantile := func(m churnMode, q float64) float64 {
		return medianOf(runsBy[m], func(c churnRun) float64 { return quantileMs(c.live, q) })
	}
	p50 := func(m churnMode) float64 { return quantile(m, 0.5) }
	ratio := func(a, b float64) float64 {
		if b > 0 {
			return a / b
		}
		return 0
	}
	of := func(m churnMode, f func(churnRun) float64) float64 { return medianOf(runsBy[m], f) }
	workers := func(c churnRun) float64 { return float64(c.workers) }
	rss := func(c churnRun) float64 { return float64(c.rssKB) }
	gap := func(m churnMode, q float64) float64 {
		return medianOf(runsBy[m], func(c churnRun) float64 { return quantileMs(c.gaps(), q) })
	}
	fmt.Fprintf(&body, "\nMedians of this run: the agent with its defaults is live %.1f ms after Consul answered its blocking query "+
		"at p50 and %.1f ms at p99, registration by registration (register→live p50 %.1f ms against Consul alone's %.1f ms, ×%.2f), "+
		"%.1f ms and %.1f ms with %d more servers "+
		"(target, issue 19: within 2 ms at p50 and 5 ms at p99, at both sizes); render + reload / agent defaults: register→live "+
		"p50 ×%.2f, HAProxy processes ×%.1f, RSS ×%.1f; agent defaults / agent --min-quiet 5ms: p50 ×%.2f.\n",
		gap(churnAgent, 0.5), gap(churnAgent, 0.99),
		p50(churnAgent), p50(churnConsul), ratio(p50(churnAgent), p50(churnConsul)),
		gap(churnAgentLarge, 0.5), gap(churnAgentLarge, 0.99), churnLargeServers(),
		ratio(p50(churnReload), p50(churnAgent)),
		ratio(of(churnReload, workers), of(churnAgent, workers)), ratio(of(churnReload, rss), of(churnAgent, rss)),
		ratio(p50(churnAgent), p50(churnAgentFast)))
	fmt.Fprintf(&body, "\nEvery reload of a WebSocket proxy leaves a worker alive for as long as its connections live "+
		"(bounded by `hard-stop-after`, 30m here): the reload column's processes and RSS are that tax. "+
		"Plots (first repeat): churn_agent.svg, churn_reload.svg (connects per 100 ms, live connections; dashed lines are the changes).\n\n")
	for _, m := range churnModes {
		for i, r := range runsBy[m] {
			fmt.Fprintf(&body, "- %s run %d: register→live ms [%s], Consul saw it ms [%s]\n", m, i+1, durationsMs(r.live), durationsMs(r.seen))
		}
	}
	return body.String()
}

func churnPlots(runsBy map[churnMode][]churnRun, conns, changes int) map[string]func(f *os.File) error {
	plots := map[string]func(f *os.File) error{}
	for _, mode := range []churnMode{churnAgent, churnReload} {
		first := runsBy[mode][0]
		title := fmt.Sprintf("churn, %s: %d clients, %d membership changes", mode, conns, changes)
		plots["churn_"+string(mode)+".svg"] = func(f *os.File) error { return WriteSVG(f, title, first.rows, first.marks) }
	}
	return plots
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
	run := churnRun{mode: mode, changes: changes}
	if base, ok := churnLarge[mode]; ok {
		mode = base
	}
	st := newConsulStack(t, lbtest.StartConsulServer(t), isAgent(mode))
	var backends []*lbtest.Wsecho
	for i := range size(4, 6) {
		backends = append(backends, lbtest.StartWsecho(t, fmt.Sprintf("chat-ws-%d", i+1), "--close-spread", "0s"))
	}
	registered := backends[:3]
	for _, w := range registered {
		st.register(t, w.ID, w.Addr)
	}
	more := 0
	if mode != run.mode {
		more = churnLargeServers()
		for i, addr := range echoTargets(t, more) {
			st.register(t, fmt.Sprintf("chat-ws-more-%04d", i+1), addr)
		}
	}
	has := func(id string) func(discovery.Snapshot) bool {
		return func(s discovery.Snapshot) bool {
			return slices.ContainsFunc(s.Backends[chatBackend], func(in discovery.Instance) bool { return in.ID == id })
		}
	}
	st.startHAProxy(t, len(registered)+more)

	var ag *agentProc
	switch mode {
	case churnAgent:
		ag = st.startAgent(t)
	case churnAgentFast:
		ag = st.startAgent(t, "--min-quiet", "5ms")
	}
	var before agentCounters
	if ag != nil {
		ag.waitSynced(t)
		before = ag.counters(t)
	}
	reload := func(want func(discovery.Snapshot) bool) {
		if mode != churnReload {
			return
		}
		if _, err := proxy.WriteAtomic(st.haproxy.Config, st.renderWhen(t, want)); err != nil {
			t.Fatal(err)
		}
		// The master CLI refuses connections for a moment after each reload.
		for deadline := time.Now().Add(10 * time.Second); ; {
			conn, err := net.DialTimeout("unix", st.haproxy.MasterSocket, time.Second)
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
	cfg.URL = "ws://" + st.frontend + "/ws"
	cfg.Conns = conns
	cfg.Rate = float64(conns) / arrival.Seconds()
	cfg.Duration = arrival + 5*time.Second
	cfg.Interval = time.Second
	cfg.Cookies = true
	results := make(chan loadgen.Result, 1)
	start := time.Now()
	var wg sync.WaitGroup
	defer wg.Wait()
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
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			var seen <-chan time.Time
			if ag == nil {
				seen = st.watchHealth(ctx, st.healthIndex(t), func(body []byte) bool { return hasServiceID(body, w.ID) })
			}
			var begin time.Time
			if mode == churnConsul {
				begin = time.Now()
				st.register(t, w.ID, w.Addr)
			} else {
				var (
					took time.Duration
					late bool
				)
				begin, took, late = st.registerUntilLive(t, w, func() { reload(has(w.ID)) })
				run.live = append(run.live, took)
				if late {
					run.late++
				}
			}
			if ag != nil {
				// The agent's own answer, timed by the agent as it
				// arrived (before decoding): no second watcher, whose
				// answer Consul encodes too (over a megabyte with 1,000 more
				// servers) and whose order against the agent's is luck.
				// Between the registration and live, so it is this
				// registration's answer: a later change (none is made
				// before the next registration) would shrink the gap.
				at := ag.lastChange(t)
				if at.Before(begin) || at.After(begin.Add(run.live[len(run.live)-1])) {
					t.Fatalf("%s: the agent's last change arrived at %s, not between its registration (%s) and live", w.ID, at, begin)
				}
				run.seen = append(run.seen, at.Sub(begin))
			} else {
				select {
				case at := <-seen:
					run.seen = append(run.seen, at.Sub(begin))
				case <-ctx.Done():
					t.Fatalf("%s not in a blocking query's answer after 10s", w.ID)
				}
			}
			cancel()
			if mode == churnConsul {
				run.live = append(run.live, run.seen[len(run.seen)-1])
			}
			registered = append(registered, w)
		} else {
			w := registered[0]
			registered = registered[1:]
			pool = append(pool, w)
			if err := st.consul.Client.Agent().ServiceDeregister(w.ID); err != nil {
				t.Fatal(err)
			}
			reload(func(s discovery.Snapshot) bool { return !has(w.ID)(s) })
		}
	}
	time.Sleep(2 * time.Second) // let old workers without connections leave
	rss, procs, err := TreeRSS(st.haproxy.Proc.PID)
	if err != nil {
		t.Fatal(err)
	}
	run.rssKB, run.workers = rss/1024, procs
	if ag != nil {
		run.agent = ag.counters(t).minus(before)
		run.reloads = int(run.agent.reloads)
	}
	run.res = <-results
	run.rows = RowsFromBuckets(run.res.Timeline)
	gaps := run.gaps()
	t.Logf("%s: %d changes, reloads %d, agent syncs %d, processes %d, RSS %d KB, dropped %d, live p50 %.1f ms p90 %.1f ms p99 %.1f ms, Consul saw it p50 %.1f ms, "+
		"gap per registration p50 %.1f ms p90 %.1f ms p99 %.1f ms, agent's own part mean %.1f ms to the runtime batch, %.1f ms to the files, "+
		"UP lines ahead of HAProxy's state %d",
		run.mode, changes, run.reloads, run.agent.syncs, run.workers, run.rssKB, run.res.Dropped,
		quantileMs(run.live, 0.5), quantileMs(run.live, 0.9), quantileMs(run.live, 0.99), quantileMs(run.seen, 0.5),
		quantileMs(gaps, 0.5), quantileMs(gaps, 0.9), quantileMs(gaps, 0.99),
		float64(run.agent.runtime.mean().Microseconds())/1000, float64(run.agent.convergence.mean().Microseconds())/1000, run.late)
	return run
}

// registerUntilLive registers w, runs then (the reload mode's reload) and
// waits until w is live; it returns when the registration began, how long
// after it w was live, and whether HAProxy's state lagged its log line.
// The agent's columns take "live" from HAProxy's own log line (upLog), then
// look at HAProxy's state: if it does not agree yet, live is when a look
// first finds it agreeing (late), never earlier. The reload mode polls: a
// server in a new worker's config comes up without a line. It reads `show
// servers state` on a connection per poll, since a connection stays with
// the worker it reached and only a new one reaches the worker the reload
// starts.
func (st *consulStack) registerUntilLive(t *testing.T, w *lbtest.Wsecho, then func()) (begin time.Time, took time.Duration, late bool) {
	t.Helper()
	ctx := context.Background()
	begin = time.Now()
	st.register(t, w.ID, w.Addr)
	then()
	var logged time.Time
	if st.upLog != nil {
		var err error
		if logged, err = st.upLog.waitUp(chatBackend+"/"+w.ID, begin, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	for {
		servers, err := st.rt.States(ctx, chatBackend)
		if i := slices.IndexFunc(servers, func(s haproxy.ServerStatus) bool { return s.Server == w.ID }); err == nil && i >= 0 && live(servers[i]) {
			if !logged.IsZero() && !late {
				return begin, logged.Sub(begin), false
			}
			return begin, time.Since(begin), late
		}
		late = !logged.IsZero()
		if time.Since(begin) > 10*time.Second {
			t.Fatalf("%s not live after %s (last error: %v; HAProxy's log said live: %t)", w.ID, time.Since(begin).Round(time.Millisecond), err, late)
		}
		pollPause()
	}
}

// pollPause waits the 0.5 ms between two polls of registerUntilLive.
// time.Sleep cannot: the runtime's timers wake it after ~1.1 ms on this
// machine (Go parks on epoll, whose timeout counts in milliseconds), which
// added ~0.5 ms on average to every "live" figure. nanosleep(2) holds the
// goroutine's thread for 0.5–0.6 ms instead.
func pollPause() {
	ts := unix.NsecToTimespec(int64(500 * time.Microsecond))
	_ = unix.Nanosleep(&ts, nil) // an interrupted pause only polls sooner
}

// echoTargets are n loopback ports of one echo server (the wsecho backend
// as a library: servers that pass HAProxy's checks and take clients,
// without a process each) in a child process (this test binary again,
// echoTargetsChild): with 1,000 servers HAProxy checks them 500 times a
// second, and served in this process, which times "live" (the
// ruler) and runs the clients, those checks loaded the ruler, in the large
// columns alone. The child is killed by PID when the test ends, and dies
// with this process.
func echoTargets(t *testing.T, n int) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), echoTargetsEnv+"="+strconv.Itoa(n))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	addrs := make([]string, 0, n)
	sc := bufio.NewScanner(out)
	for len(addrs) < n && sc.Scan() {
		addrs = append(addrs, sc.Text())
	}
	if len(addrs) < n {
		t.Fatalf("echo targets: %d of %d addresses from the child (%v)", len(addrs), n, sc.Err())
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	return addrs
}

// echoTargetsEnv, set to n, makes this test binary echoTargets' child.
const echoTargetsEnv = "WSCTL_BENCH_ECHO_TARGETS"

// echoTargetsChild serves the echo targets of echoTargets, printing their
// addresses one a line, until it is killed; it reports false when this
// process is not such a child.
func echoTargetsChild() bool {
	v := os.Getenv(echoTargetsEnv)
	if v == "" {
		return false
	}
	n, err := strconv.Atoi(v)
	cfg := echoserver.DefaultConfig("chat-ws-more")
	cfg.CloseSpread = 0
	srv, serr := echoserver.New(cfg)
	if err = errors.Join(err, serr); err != nil {
		fmt.Fprintln(os.Stderr, "echo targets:", err)
		os.Exit(2)
	}
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, "echo targets:", err)
			os.Exit(2)
		}
		fmt.Println(l.Addr().String())
		go func() { _ = srv.Serve(l) }()
	}
	select {}
}

// TestMain runs the benchmarks, or echoTargets' child.
func TestMain(m *testing.M) {
	if echoTargetsChild() {
		return
	}
	os.Exit(m.Run())
}

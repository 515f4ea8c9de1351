package bench

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsctl/wsctl/agent"
	"github.com/wsctl/wsctl/internal/lbtest"
)

// convergeRun is one run of many changes reaching `wsctl agent` at once.
type convergeRun struct {
	n          int
	registered time.Duration // the registrations, first call to last answer (burst)
	query      time.Duration // one query of Consul answering with all n (pending)
	seen       time.Duration // until a blocking query returns all n (burst)
	live       time.Duration // until all n are live in HAProxy
	agent      agentCounters // what the changes cost the agent
}

// registerWorkers is how many HTTP clients register at once: as fast as
// the API takes them on two cores.
const registerWorkers = 8

// registerAll registers one instance per address, named burst-NNNN, from
// registerWorkers goroutines.
func (st *consulStack) registerAll(t *testing.T, addrs []string) {
	t.Helper()
	next := make(chan int)
	var wg sync.WaitGroup
	for range registerWorkers {
		wg.Go(func() {
			for i := range next {
				st.register(t, fmt.Sprintf("burst-%04d", i), addrs[i])
			}
		})
	}
	for i := range addrs {
		next <- i
	}
	close(next)
	wg.Wait()
}

// waitAllLive polls HAProxy every pollLive until n servers of the chat
// backend are live, and returns when it saw them.
func (st *consulStack) waitAllLive(t *testing.T, n int) time.Time {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		if st.liveCount(t) >= n {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d servers live after 5 minutes", st.liveCount(t), n)
		}
		time.Sleep(pollLive)
	}
}

// pollLive is how often the scenarios count live servers: each count lists
// every server (`show servers state`, `show stat`), work HAProxy does while
// the agent talks to it.
const pollLive = 20 * time.Millisecond

// settle is how long a run waits after the last server went live before it
// reads the agent's counters, so a debounced apply still due is counted:
// more than --max-quiet.
const settle = agent.DefaultMaxQuiet + 500*time.Millisecond

// TestScenarioBurst: registrations as fast as Consul's HTTP API takes them
// while `wsctl agent` (defaults) runs; the agent must coalesce them, never
// apply more often than there are changes. Smoke: 50; full: 500.
func TestScenarioBurst(t *testing.T) {
	n := size(50, 500)
	var rs []convergeRun
	for i := range runs() {
		r := inSubtest(t, fmt.Sprint(i+1), func(t *testing.T) convergeRun { return runBurst(t, n) })
		rs = append(rs, r)
		if r.agent.syncs > uint64(n) {
			t.Errorf("%d runtime applies for %d registrations", r.agent.syncs, n)
		}
		if r.agent.reloads != 0 {
			t.Errorf("the agent reloaded %d times for a burst of registrations", r.agent.reloads)
		}
	}
	var body strings.Builder
	fmt.Fprintf(&body, "## Burst: %d registrations at once\n\n", n)
	fmt.Fprintf(&body, "Method: examples/consul (leastconn, SERVERID sticky cookie, health checks every 2s) on free ports, "+
		"a dev Consul 1.22, HAProxy started with the backend empty, `wsctl agent` with its defaults (--min-quiet %s, "+
		"--max-quiet %s) synced. Then %d instances are registered through the HTTP API by %d concurrent clients, as fast "+
		"as it takes them; each instance is a loopback port answering HAProxy's health checks. Times from the first "+
		"register call: the registrations' answers; a blocking query on `/v1/health/service/chat-ws?passing` returning "+
		"all %d (Consul alone, watched at the same time); all %d servers live in HAProxy (admin READY, operational "+
		"starting or running; counted every %s). Runtime applies: `wsctl_agent_syncs_total`, runtime commands: "+
		"`wsctl_agent_runtime_ops_total`, both over the burst and %s after it. %d repeat(s), medians; the machine is "+
		"shared with other work (noisy).\n\n",
		agent.DefaultMinQuiet, agent.DefaultMaxQuiet, n, registerWorkers, n, n, pollLive, settle, runs())
	body.WriteString("| registrations | registered (s) | Consul shows all (s) | **all live in HAProxy (s)** | **runtime applies** | runtime commands | reloads |\n|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(&body, "| %d | %.2f | %.2f | **%.2f** | **%.0f** | %.0f | %.0f |\n", n,
		medianSec(rs, func(r convergeRun) time.Duration { return r.registered }),
		medianSec(rs, func(r convergeRun) time.Duration { return r.seen }),
		medianSec(rs, func(r convergeRun) time.Duration { return r.live }),
		medianConv(rs, func(r convergeRun) float64 { return float64(r.agent.syncs) }),
		medianConv(rs, func(r convergeRun) float64 { return float64(r.agent.runtimeOps) }),
		medianConv(rs, func(r convergeRun) float64 { return float64(r.agent.reloads) }))
	fmt.Fprintf(&body, "\nTarget (issue 10): no more runtime applies than changes; the agent applied %d registrations in %.0f batch(es) "+
		"(median), all live %.2f s after Consul showed them all.\n\n",
		n, medianConv(rs, func(r convergeRun) float64 { return float64(r.agent.syncs) }),
		medianSec(rs, func(r convergeRun) time.Duration { return r.live - r.seen }))
	for i, r := range rs {
		fmt.Fprintf(&body, "- run %d: registered %.2f s, Consul shows all %.2f s, all live %.2f s, applies %d, runtime commands %d\n",
			i+1, r.registered.Seconds(), r.seen.Seconds(), r.live.Seconds(), r.agent.syncs, r.agent.runtimeOps)
	}
	publish(t, "burst", body.String(), nil)
}

func runBurst(t *testing.T, n int) convergeRun {
	t.Helper()
	st := newConsulStack(t, lbtest.StartConsul(t), false)
	addrs := healthTargets(t, n)
	st.startHAProxy(t, 0)
	ag := st.startAgent(t)
	ag.waitSynced(t)
	before := ag.counters(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	seen := st.watchHealth(ctx, st.healthIndex(t), func(body []byte) bool { return len(healthIDs(body)) >= n })
	r := convergeRun{n: n}
	begin := time.Now()
	st.registerAll(t, addrs)
	r.registered = time.Since(begin)
	r.live = st.waitAllLive(t, n).Sub(begin)
	select {
	case at := <-seen:
		r.seen = at.Sub(begin)
	case <-ctx.Done():
		t.Fatalf("no blocking query returned all %d instances", n)
	}
	time.Sleep(settle)
	r.agent = ag.counters(t).minus(before)
	t.Logf("burst of %d: registered %v, Consul shows all %v, all live %v, applies %d, runtime commands %d, reloads %d",
		n, r.registered, r.seen, r.live, r.agent.syncs, r.agent.runtimeOps, r.agent.reloads)
	return r
}

// TestScenarioPending: many changes pending when `wsctl agent` starts
// (issue 9: 1,000 pending changes took about 6 minutes at 2–3 operations
// per second). Smoke: 50; full: 1,000.
func TestScenarioPending(t *testing.T) {
	n := size(50, 1000)
	var rs []convergeRun
	for i := range runs() {
		r := inSubtest(t, fmt.Sprint(i+1), func(t *testing.T) convergeRun { return runPending(t, n) })
		rs = append(rs, r)
		if r.agent.reloads != 0 {
			t.Errorf("the agent reloaded %d times to add servers", r.agent.reloads)
		}
	}
	var body strings.Builder
	fmt.Fprintf(&body, "## Pending: %d changes waiting when the agent starts\n\n", n)
	fmt.Fprintf(&body, "Method: examples/consul (leastconn, SERVERID sticky cookie, health checks every 2s) on free ports, "+
		"a dev Consul 1.22, HAProxy started with the backend empty. With the agent stopped, %d instances are registered "+
		"in Consul (each a loopback port answering HAProxy's health checks) and Consul is polled until it shows them all: "+
		"%d changes pending, as after an agent outage or a mass deploy. Then the `wsctl agent` binary starts with its "+
		"defaults; the time runs from starting the process until all %d servers are live in HAProxy (admin READY, "+
		"operational starting or running; counted every %s), so it includes the process start and the first Consul "+
		"query. Consul alone: one query of the passing instances answering with all %d (what the agent's first query "+
		"costs), timed before the agent starts. Runtime applies and commands: the agent's counters %s after the last "+
		"server went live. %d repeat(s), medians; the machine is shared with other work (noisy).\n\n",
		n, n, n, pollLive, n, settle, runs())
	body.WriteString("| pending changes | Consul query of all (ms) | **agent start → all live (s)** | runtime applies | runtime commands | reloads |\n|---|---|---|---|---|---|\n")
	fmt.Fprintf(&body, "| %d | %.0f | **%.2f** | %.0f | %.0f | %.0f |\n", n,
		medianSec(rs, func(r convergeRun) time.Duration { return r.query })*1000,
		medianSec(rs, func(r convergeRun) time.Duration { return r.live }),
		medianConv(rs, func(r convergeRun) float64 { return float64(r.agent.syncs) }),
		medianConv(rs, func(r convergeRun) float64 { return float64(r.agent.runtimeOps) }),
		medianConv(rs, func(r convergeRun) float64 { return float64(r.agent.reloads) }))
	fmt.Fprintf(&body, "\nTarget (issue 9): 1,000 changes applied in under 5 s on this machine (it took about 6 minutes at "+
		"2–3 operations per second before the agent applied one batch per sync).\n\n")
	for i, r := range rs {
		fmt.Fprintf(&body, "- run %d: Consul query %.0f ms, all live %.2f s, applies %d, runtime commands %d\n",
			i+1, r.query.Seconds()*1000, r.live.Seconds(), r.agent.syncs, r.agent.runtimeOps)
	}
	publish(t, "pending", body.String(), nil)
}

func runPending(t *testing.T, n int) convergeRun {
	t.Helper()
	st := newConsulStack(t, lbtest.StartConsul(t), false)
	addrs := healthTargets(t, n)
	st.startHAProxy(t, 0)
	agentBinary(t) // built before the clock starts
	st.registerAll(t, addrs)
	r := convergeRun{n: n}
	for deadline := time.Now().Add(time.Minute); ; {
		begin := time.Now()
		es, _, err := st.consul.Client.Health().Service(chatService, "", true, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) >= n {
			r.query = time.Since(begin)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Consul shows %d of %d instances after a minute", len(es), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	begin := time.Now()
	ag := st.startAgent(t)
	r.live = st.waitAllLive(t, n).Sub(begin)
	time.Sleep(settle)
	r.agent = ag.counters(t)
	t.Logf("%d pending: Consul query %v, all live %v, applies %d, runtime commands %d, reloads %d",
		n, r.query, r.live, r.agent.syncs, r.agent.runtimeOps, r.agent.reloads)
	return r
}

func medianConv(rs []convergeRun, f func(convergeRun) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	return Median(v)
}

func medianSec(rs []convergeRun, f func(convergeRun) time.Duration) float64 {
	return medianConv(rs, func(r convergeRun) float64 { return f(r).Seconds() })
}

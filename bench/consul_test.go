package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/wsctl/wsctl/discovery"
	"github.com/wsctl/wsctl/discovery/consul"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/internal/lbtest"
	"github.com/wsctl/wsctl/model"
	"github.com/wsctl/wsctl/render"
	"github.com/wsctl/wsctl/spec"
)

// The service and backend of examples/consul.
const (
	chatService = "chat-ws"
	chatBackend = "ws_cluster"
)

// consulStack is examples/consul on free ports: a dev Consul, the spec
// written to a file with every variable filled in, and (after StartHAProxy)
// HAProxy running the config rendered from what Consul held.
type consulStack struct {
	consul   *lbtest.Consul
	spec     *spec.Spec
	specFile string
	runDir   string
	frontend string
	haproxy  *lbtest.HAProxy
	rt       *haproxy.Client
	upLog    *upLog // HAProxy's log of servers going live, when asked for
}

// newConsulStack writes the spec for Consul c (lbtest.StartConsul's dev
// agent, or lbtest.StartConsulServer's server as production runs it); with
// upLog, HAProxy logs to a socket of st.upLog (the spec's haproxy.log).
func newConsulStack(t *testing.T, c *lbtest.Consul, upLog bool) *consulStack {
	t.Helper()
	lbtest.Binary(t, "haproxy")
	st := &consulStack{consul: c, runDir: t.TempDir(), frontend: lbtest.Addr(t)}
	src, err := os.ReadFile(filepath.Join(lbtest.ModuleRoot(t), "examples", "consul", "wsctl.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.NewReplacer(
		"127.0.0.1:8080", st.frontend,
		"127.0.0.1:8404", lbtest.Addr(t),
		"${CONSUL_HTTP_ADDR:-127.0.0.1:8500}", st.consul.Addr,
		"${WSCTL_RUN_DIR:-/run/wsctl}", st.runDir,
	).Replace(string(src))
	if upLog {
		path := filepath.Join(st.runDir, "haproxy-log.sock")
		st.upLog = listenUpLog(t, path)
		withLog := strings.Replace(text, "\nhaproxy:\n", "\nhaproxy:\n  log: "+path+"\n", 1)
		if withLog == text {
			t.Fatal("examples/consul/wsctl.yaml has no haproxy section to add the log to")
		}
		text = withLog
	}
	st.specFile = filepath.Join(st.runDir, "wsctl.yaml")
	if err := os.WriteFile(st.specFile, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if st.spec, err = spec.Parse(st.specFile, []byte(text), func(string) (string, bool) { return "", false }); err != nil {
		t.Fatal(err)
	}
	return st
}

// register registers id at addr ("host:port") as a passing instance of the
// chat service.
func (st *consulStack) register(t *testing.T, id, addr string) {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	if err := st.consul.Client.Agent().ServiceRegister(&api.AgentServiceRegistration{
		ID: id, Name: chatService, Address: host, Port: p,
		Check: &api.AgentServiceCheck{TTL: "1h", Status: api.HealthPassing},
	}); err != nil {
		t.Error(err)
	}
}

// renderWhen renders the HAProxy config from Consul once its snapshot
// satisfies want, polling every millisecond for up to 10 s.
func (st *consulStack) renderWhen(t *testing.T, want func(discovery.Snapshot) bool) []byte {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		snap, err := consul.Once(context.Background(), st.spec, nil)
		if err != nil {
			t.Fatal(err)
		}
		if want(snap) {
			r, err := render.Config(st.spec, model.TargetHAProxy, snap, "")
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

// startHAProxy starts HAProxy with the config rendered once Consul shows n
// instances, and dials its admin socket.
func (st *consulStack) startHAProxy(t *testing.T, n int) {
	t.Helper()
	config := st.renderWhen(t, func(s discovery.Snapshot) bool { return len(s.Backends[chatBackend]) == n })
	st.haproxy = lbtest.StartHAProxy(t, st.runDir, string(config), st.spec.HAProxy.AdminSocket)
	lbtest.WaitTCP(t, st.frontend, 10*time.Second)
	rt, err := haproxy.Dial(context.Background(), st.spec.HAProxy.AdminSocket, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	st.rt = rt
}

// live is issue 10's "live": admin state READY (0) and operational state
// starting or running — the server takes new clients.
func live(s haproxy.ServerStatus) bool {
	return s.Admin == haproxy.Ready && (s.State == haproxy.Starting || s.State == haproxy.Up)
}

// liveCount counts the live servers of the chat backend.
func (st *consulStack) liveCount(t *testing.T) int {
	t.Helper()
	servers, err := st.rt.Servers(context.Background(), chatBackend)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range servers {
		if live(s) {
			n++
		}
	}
	return n
}

// healthIndex is the index of the chat service's passing instances now: a
// blocking query with it returns at the next change.
func (st *consulStack) healthIndex(t *testing.T) uint64 {
	t.Helper()
	_, meta, err := st.consul.Client.Health().Service(chatService, "", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	return meta.LastIndex
}

// watchHealth follows the chat service's passing instances with blocking
// queries from index, as the agent and consul-template do, and sends when
// the first answer whose body satisfies done arrived (Consul alone: no
// proxy). The time is taken once the whole answer is read, before done
// looks at it (the API client's decode of a 1,000-instance answer took
// 20 ms, which a later stamp would count as Consul's), as the agent stamps
// its own answers (discovery.Snapshot.Arrived). Uncompressed, as the agent
// asks a local Consul.
func (st *consulStack) watchHealth(ctx context.Context, index uint64, done func(body []byte) bool) <-chan time.Time {
	out := make(chan time.Time, 1)
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	go func() {
		defer client.CloseIdleConnections()
		for ctx.Err() == nil {
			url := fmt.Sprintf("http://%s/v1/health/service/%s?passing&index=%d&wait=10s", st.consul.Addr, chatService, index)
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return
			}
			resp, err := client.Do(req)
			if err != nil {
				continue
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			at := time.Now()
			next, ierr := strconv.ParseUint(resp.Header.Get("X-Consul-Index"), 10, 64)
			if err != nil || ierr != nil {
				continue
			}
			if done(body) {
				out <- at
				return
			}
			index = next
		}
	}()
	return out
}

// healthIDs are the service IDs of a health answer's entries (none when it
// does not decode).
func healthIDs(body []byte) []string {
	var entries []struct{ Service struct{ ID string } }
	if json.Unmarshal(body, &entries) != nil {
		return nil
	}
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.Service.ID
	}
	return ids
}

// hasServiceID reports whether a health answer names the service id: its
// quoted form appears only as an entry's service ID (and its checks'
// ServiceID), and the search takes no decode of the whole answer, whose
// CPU (~20 ms with 1,000 instances, on a machine of 2 cores) would be
// taken from the agent it measures, in the middle of the measurement.
func hasServiceID(body []byte, id string) bool {
	return bytes.Contains(body, []byte(strconv.Quote(id)))
}

// agentProc is a `wsctl agent` process following a consulStack.
type agentProc struct {
	proc   *lbtest.Process
	listen string // its /metrics and /healthz
}

// agentBinary builds cmd/wsctl; call it before timing anything.
func agentBinary(t *testing.T) string {
	t.Helper()
	return lbtest.GoBinary(t, "cmd/wsctl")
}

// startAgent runs `wsctl agent` on st's spec and HAProxy config with flags
// added to the defaults.
func (st *consulStack) startAgent(t *testing.T, flags ...string) *agentProc {
	t.Helper()
	listen := lbtest.Addr(t)
	args := append([]string{"agent", "-c", st.specFile, "--haproxy-config", st.haproxy.Config, "--listen", listen}, flags...)
	return &agentProc{proc: lbtest.Start(t, agentBinary(t), args...), listen: listen}
}

// waitSynced waits until the agent has synced once (/healthz).
func (a *agentProc) waitSynced(t *testing.T) {
	t.Helper()
	lbtest.WaitFor(t, 20*time.Second, "the agent's first sync", func() bool {
		resp, err := http.Get("http://" + a.listen + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// agentCounters are the agent's counters the benchmarks report, and two
// of its histograms: convergence, from its answer from Consul arriving to
// the proxy matching it (files written); runtime, to the first runtime
// batch that applied the change.
type agentCounters struct {
	syncs, runtimeOps, reloads uint64
	convergence, runtime       histogram
}

func (c agentCounters) minus(o agentCounters) agentCounters {
	return agentCounters{c.syncs - o.syncs, c.runtimeOps - o.runtimeOps, c.reloads - o.reloads,
		c.convergence.minus(o.convergence), c.runtime.minus(o.runtime)}
}

// histogram is the count and sum (seconds) of an agent's histogram.
type histogram struct {
	count uint64
	sum   float64
}

func (h histogram) minus(o histogram) histogram { return histogram{h.count - o.count, h.sum - o.sum} }

// mean is the mean of what the histogram counted; 0 for nothing.
func (h histogram) mean() time.Duration {
	if h.count == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.count) * float64(time.Second))
}

// metrics reads the agent's /metrics: each metric's value by name, summed
// over its labels (wsctl_agent_runtime_ops_total is counted by backend and
// operation).
func (a *agentProc) metrics(t *testing.T) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + a.listen + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		// The value follows the last space: a label value may hold one.
		i := strings.LastIndexByte(sc.Text(), ' ')
		if i < 0 || strings.HasPrefix(sc.Text(), "#") {
			continue
		}
		series, value := sc.Text()[:i], sc.Text()[i+1:]
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("metric %s: %v", series, err)
		}
		name, _, _ := strings.Cut(series, "{")
		out[name] += v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// lastChange is when the agent says discovery's last change arrived
// (wsctl_agent_last_change_timestamp_seconds).
func (a *agentProc) lastChange(t *testing.T) time.Time {
	t.Helper()
	const name = "wsctl_agent_last_change_timestamp_seconds"
	s, ok := a.metrics(t)[name]
	if !ok {
		t.Fatalf("no metric %s", name)
	}
	return time.Unix(0, int64(s*1e9))
}

// counters reads the agent's counters.
func (a *agentProc) counters(t *testing.T) agentCounters {
	t.Helper()
	metrics := a.metrics(t)
	var c agentCounters
	want := map[string]*uint64{
		"wsctl_agent_syncs_total":               &c.syncs,
		"wsctl_agent_runtime_ops_total":         &c.runtimeOps,
		"wsctl_agent_reloads_total":             &c.reloads,
		"wsctl_agent_convergence_seconds_count": &c.convergence.count,
		"wsctl_agent_runtime_seconds_count":     &c.runtime.count,
	}
	sums := map[string]*float64{
		"wsctl_agent_convergence_seconds_sum": &c.convergence.sum,
		"wsctl_agent_runtime_seconds_sum":     &c.runtime.sum,
	}
	for name, p := range want {
		*p = uint64(metrics[name])
	}
	for name, p := range sums {
		*p = metrics[name]
	}
	return c
}

// healthTargets listens on n loopback ports that answer every HTTP request
// (HAProxy's health checks) with 200, until the test ends: instances that
// pass their checks without a process each.
func healthTargets(t *testing.T, n int) []string {
	t.Helper()
	srv := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), ReadHeaderTimeout: 5 * time.Second}
	addrs := make([]string, n)
	done := make(chan struct{}, n)
	for i := range addrs {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs[i] = l.Addr().String()
		go func() {
			_ = srv.Serve(l)
			done <- struct{}{}
		}()
	}
	t.Cleanup(func() {
		_ = srv.Close()
		for range n {
			<-done
		}
	})
	return addrs
}

// durationsMs formats durations in ms for a log line.
func durationsMs(d []time.Duration) string {
	s := make([]string, len(d))
	for i, v := range d {
		s[i] = fmt.Sprintf("%.0f", float64(v)/float64(time.Millisecond))
	}
	return strings.Join(s, " ")
}

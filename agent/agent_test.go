package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/wsctl/wsctl/discovery/static"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/internal/lbtest"
	"github.com/wsctl/wsctl/model"
	"github.com/wsctl/wsctl/render"
	"github.com/wsctl/wsctl/spec"
	"github.com/wsctl/wsctl/templates"
)

// specText is a one-backend spec following the Consul service "echo".
const specText = `
heartbeat: 30s
connections: 1000
listeners:
  - name: front
    bind: FRONTEND
    routes:
      - websocket: true
        backend: ws
    default_backend: ws
backends:
  - name: ws
    balance: leastconn
    health:
      interval: 300ms
      fall: 2
      rise: 1
    drain_timeout: 30s
    slowstart: 0s
    consul:
      service: echo
EXTRA
consul:
  address: CONSUL
haproxy:
  admin_socket: RUN/admin.sock
  master_socket: RUN/master.sock
  hard_stop_after: 5s
`

// rig is HAProxy, Consul and the spec an agent runs with.
type rig struct {
	runDir, frontend string
	consul           *lbtest.Consul
	haproxy          *lbtest.HAProxy
	spec             *spec.Spec
	// edit, when set, rewrites the spec text before it is parsed.
	edit func(string) string
}

// parseSpec builds the spec with extra inserted after the backends.
func (r *rig) parseSpec(t testing.TB, extra, template string) *spec.Spec {
	t.Helper()
	text := strings.NewReplacer("FRONTEND", r.frontend, "CONSUL", r.consul.Addr, "RUN", r.runDir, "EXTRA", extra).Replace(specText)
	if r.edit != nil {
		text = r.edit(text)
	}
	if template != "" {
		text += "templates:\n  haproxy: " + template + "\n"
	}
	s, err := spec.Parse("wsctl.yaml", []byte(text), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// specFile writes the rig's spec to a file for an agent to watch, and
// returns its path, a function that rewrites it with extra inserted after
// the backends, and the spec as first written.
func (r *rig) specFile(t testing.TB) (string, func(extra string), *spec.Spec) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "wsctl.yaml")
	write := func(extra string) {
		t.Helper()
		text := strings.NewReplacer("FRONTEND", r.frontend, "CONSUL", r.consul.Addr, "RUN", r.runDir, "EXTRA", extra).Replace(specText)
		if r.edit != nil {
			text = r.edit(text)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("")
	s, err := spec.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, write, s
}

// startRig starts Consul and an HAProxy whose config is rendered from the
// spec with no instance yet, as a fresh host would be.
func startRig(t testing.TB) *rig { return startRigEdited(t, nil) }

// startRigEdited is startRig with the spec text rewritten by edit.
func startRigEdited(t testing.TB, edit func(string) string) *rig {
	t.Helper()
	lbtest.Binary(t, "haproxy")
	return startRigOn(t, lbtest.StartConsul(t), edit)
}

// startRigOn is startRigEdited with a Consul already running: several
// load balancers of one fleet share it.
func startRigOn(t testing.TB, c *lbtest.Consul, edit func(string) string) *rig {
	t.Helper()
	r := &rig{runDir: t.TempDir(), frontend: lbtest.Addr(t), edit: edit, consul: c}
	r.spec = r.parseSpec(t, "", "")
	res, err := render.Config(r.spec, model.TargetHAProxy, static.Snapshot(r.spec), "")
	if err != nil {
		t.Fatal(err)
	}
	r.haproxy = lbtest.StartHAProxy(t, r.runDir, string(res.Config), r.spec.HAProxy.AdminSocket)
	return r
}

// startAgent runs an agent on s until the test ends.
func (r *rig) startAgent(t testing.TB, s *spec.Spec) *Agent {
	t.Helper()
	return r.startAgentWith(t, Config{Spec: s})
}

// startAgentWith runs an agent with cfg, completed for the rig, until the
// test ends.
func (r *rig) startAgentWith(t testing.TB, cfg Config) *Agent {
	t.Helper()
	return runAgent(t, r.agentConfig(cfg))
}

// agentConfig completes cfg for the rig.
func (r *rig) agentConfig(cfg Config) Config {
	cfg.ConfigFile = r.haproxy.Config
	cfg.DrainPoll = 100 * time.Millisecond
	if cfg.ReloadInterval == 0 {
		cfg.ReloadInterval = 100 * time.Millisecond
	}
	return cfg
}

// runAgent starts an agent with cfg (logging to the test) until the test
// ends.
func runAgent(t testing.TB, cfg Config) *Agent {
	t.Helper()
	return runAgentCtx(t, context.Background(), cfg).Agent
}

// runningAgent is an agent whose Run a test may end early, by cancelling the
// context it was started with, and wait for.
type runningAgent struct {
	*Agent
	done chan struct{}
}

func (r runningAgent) wait() { <-r.done }

// runAgentCtx starts an agent with cfg until ctx ends or the test ends.
func runAgentCtx(t testing.TB, ctx context.Context, cfg Config) runningAgent {
	t.Helper()
	cfg.Log = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := a.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return runningAgent{Agent: a, done: done}
}

// startAgentCtx runs an agent on the rig's spec until ctx or the test ends.
func (r *rig) startAgentCtx(t testing.TB, ctx context.Context) runningAgent {
	t.Helper()
	return runAgentCtx(t, ctx, r.agentConfig(Config{Spec: r.spec}))
}

// testWriter sends logs to t.Log, so they show only for failed tests.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func (r *rig) client(t testing.TB) *haproxy.Client {
	t.Helper()
	c, err := haproxy.Dial(context.Background(), r.spec.HAProxy.AdminSocket, 0)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// servers returns HAProxy's servers of backend by name (nil when it has no
// such backend).
func (r *rig) servers(t testing.TB, backend string) map[string]haproxy.ServerStatus {
	t.Helper()
	all, err := r.client(t).Servers(context.Background(), backend)
	if err != nil {
		return nil
	}
	out := map[string]haproxy.ServerStatus{}
	for _, s := range all {
		out[s.Server] = s
	}
	return out
}

// eventually polls cond for up to 15 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func register(t testing.TB, c *lbtest.Consul, id string, w *lbtest.Wsecho) {
	t.Helper()
	host, port, _ := net.SplitHostPort(w.Addr)
	p, _ := strconv.Atoi(port)
	c.Register(t, id, "echo", host, p, nil, nil)
}

func TestAgentFollowsConsulWithoutReload(t *testing.T) {
	r := startRig(t)
	w1 := lbtest.StartWsecho(t, "echo-1", "--close-spread", "0s")
	w2 := lbtest.StartWsecho(t, "echo-2", "--close-spread", "0s")
	a := r.startAgent(t, r.spec)
	pid := r.client(t).Info().Pid

	register(t, r.consul, "echo-1", w1)
	register(t, r.consul, "echo-2", w2)
	eventually(t, "both servers READY and UP", func() bool {
		s := r.servers(t, "ws")
		return s["echo-1"].Admin == haproxy.Ready && s["echo-2"].Admin == haproxy.Ready &&
			s["echo-1"].State == haproxy.OpState("UP") && s["echo-2"].State == haproxy.OpState("UP")
	})
	if got := r.client(t).Info().Pid; got != pid {
		t.Errorf("worker pid %d after registration, want %d (no reload)", got, pid)
	}
	if got := a.Metrics().Reloads.Load(); got != 0 {
		t.Errorf("reloads = %d, want 0", got)
	}
	c := lbtest.NewClient("ws://" + r.frontend + "/ws")
	if err := c.Connect(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Echo("hello"); err != nil {
		t.Fatal(err)
	}
	if c.Server != "echo-1" && c.Server != "echo-2" {
		t.Fatalf("client landed on %q", c.Server)
	}
	r.configHas(t, "server echo-1 ")

	// Deregistering the client's server drains it while the WebSocket
	// lives, and removes it once the client leaves.
	landed := c.Server
	r.consul.Deregister(t, landed)
	eventually(t, landed+" DRAIN", func() bool { return r.servers(t, "ws")[landed].Admin == haproxy.Drain })
	time.Sleep(300 * time.Millisecond)
	if got := r.servers(t, "ws")[landed]; got.Admin != haproxy.Drain || got.Scur != 1 {
		t.Errorf("%s while the client is open: %s with %d sessions, want DRAIN with 1", landed, got.Admin, got.Scur)
	}
	if err := c.Echo("still here"); err != nil {
		t.Errorf("echo on the draining server: %v", err)
	}
	c.Close()
	eventually(t, landed+" removed", func() bool {
		_, ok := r.servers(t, "ws")[landed]
		return !ok
	})

	// Metrics and health are served.
	srv := httptestServer(t, a)
	body := get(t, srv+"/metrics")
	if !strings.Contains(body, `wsctl_agent_runtime_ops_total{backend="ws",op="add"} `) || !strings.Contains(body, "wsctl_agent_reloads_total 0") ||
		!strings.Contains(body, "wsctl_agent_convergence_seconds_count ") || a.Metrics().Convergence.Count() == 0 {
		t.Errorf("/metrics:\n%s", body)
	}
	if got := get(t, srv+"/healthz"); got != "ok\n" {
		t.Errorf("/healthz = %q", got)
	}
}

func TestAgentDrainsUnhealthyAndReadmits(t *testing.T) {
	r := startRig(t)
	w1 := lbtest.StartWsecho(t, "echo-1", "--close-spread", "0s")
	w2 := lbtest.StartWsecho(t, "echo-2", "--close-spread", "0s")
	a := r.startAgentWith(t, Config{Spec: r.spec, Resync: 200 * time.Millisecond})
	register(t, r.consul, "echo-1", w1)
	register(t, r.consul, "echo-2", w2)
	eventually(t, "both servers READY", func() bool {
		s := r.servers(t, "ws")
		return s["echo-1"].Admin == haproxy.Ready && s["echo-2"].Admin == haproxy.Ready
	})

	r.consul.SetHealth(t, "echo-2", api.HealthCritical)
	// No sessions: the drain completes at once into MAINT.
	eventually(t, "echo-2 out of rotation", func() bool { return r.servers(t, "ws")["echo-2"].Admin != haproxy.Ready })
	eventually(t, "echo-2 MAINT", func() bool { return r.servers(t, "ws")["echo-2"].Admin == haproxy.Maint })

	r.consul.SetHealth(t, "echo-2", api.HealthPassing)
	eventually(t, "echo-2 READY again", func() bool { return r.servers(t, "ws")["echo-2"].Admin == haproxy.Ready })

	// A server deleted behind the agent's back is added again at the
	// next resync.
	c := r.client(t)
	ctx := context.Background()
	if err := c.SetState(ctx, "ws", "echo-2", haproxy.Maint); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteServer(ctx, "ws", "echo-2"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "echo-2 back", func() bool { return r.servers(t, "ws")["echo-2"].Admin == haproxy.Ready })

	// An operator's drain is an intent the agent keeps, resync after resync.
	if err := c.SetState(ctx, "ws", "echo-1", haproxy.Drain); err != nil {
		t.Fatal(err)
	}
	syncs := a.Metrics().Syncs.Load()
	eventually(t, "three more syncs", func() bool { return a.Metrics().Syncs.Load() >= syncs+3 })
	if got := r.servers(t, "ws")["echo-1"].Admin; got != haproxy.Drain {
		t.Errorf("echo-1 after the operator's drain and three syncs: %s, want DRAIN", got)
	}
}

func TestAgentDebouncesBursts(t *testing.T) {
	r := startRig(t)
	w := lbtest.StartWsecho(t, "echo", "--close-spread", "0s")
	host, port, _ := net.SplitHostPort(w.Addr)
	p, _ := strconv.Atoi(port)
	a := r.startAgent(t, r.spec)
	eventually(t, "first sync", func() bool { return !a.Metrics().LastSync().IsZero() })
	before := a.Metrics().Syncs.Load()

	const n = 50
	for i := range n {
		reg := &api.AgentServiceRegistration{ID: fmt.Sprintf("echo-%02d", i), Name: "echo", Address: host, Port: p}
		if err := r.consul.Client.Agent().ServiceRegister(reg); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "50 servers in HAProxy", func() bool {
		ready := 0
		for _, s := range r.servers(t, "ws") {
			if s.Admin == haproxy.Ready {
				ready++
			}
		}
		return ready == n
	})
	syncs := a.Metrics().Syncs.Load() - before
	t.Logf("%d registrations applied in %d syncs", n, syncs)
	if syncs > 10 {
		t.Errorf("%d syncs for %d registrations, want a few", syncs, n)
	}
}

func TestAgentReloadsOnStructureChange(t *testing.T) {
	r := startRig(t)
	w1 := lbtest.StartWsecho(t, "echo-1", "--close-spread", "0s")
	w2 := lbtest.StartWsecho(t, "static-1", "--close-spread", "0s")
	register(t, r.consul, "echo-1", w1)
	pid := r.client(t).Info().Pid

	// A bad template: the structure changes, HAProxy rejects it, nothing
	// is reloaded and the file stays.
	tmpl, err := templates.Embedded(model.TargetHAProxy)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad.tmpl")
	if err := os.WriteFile(bad, []byte(tmpl+"\nbogus-directive here\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(r.haproxy.Config)
	ctx, cancel := context.WithCancel(context.Background())
	a, err := New(Config{Spec: r.parseSpec(t, "", bad), ConfigFile: r.haproxy.Config, Log: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	eventually(t, "the failed validation", func() bool { return a.Metrics().ValidationFailures.Load() == 1 })
	eventually(t, "echo-1 added at runtime anyway", func() bool { return r.servers(t, "ws")["echo-1"].Admin == haproxy.Ready })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(r.haproxy.Config); string(after) != string(before) {
		t.Errorf("config file changed after a rejected config")
	}
	if got := a.Metrics().Reloads.Load(); got != 0 {
		t.Errorf("reloads = %d, want 0", got)
	}

	// A new backend in the watched spec file: validated, written,
	// reloaded, and the Consul servers survive the reload because they are
	// in the file. A spec that does not load changes nothing.
	specFile, writeSpec, s := r.specFile(t)
	a = r.startAgentWith(t, Config{Spec: s, SpecFile: specFile, SpecPoll: 50 * time.Millisecond, ReloadInterval: time.Second})
	eventually(t, "first sync", func() bool { return !a.Metrics().LastSync().IsZero() })
	if got := a.Metrics().Reloads.Load(); got != 0 {
		t.Errorf("reloads after the first sync = %d, want 0 (only the spec's file name differs)", got)
	}
	writeSpec("  - name: broken\n    balance: nope")
	eventually(t, "the spec error", func() bool { return a.Metrics().SpecErrors.Load() == 1 })
	// The operator's drain outlives the reload.
	if err := r.client(t).SetState(context.Background(), "ws", "echo-1", haproxy.Drain); err != nil {
		t.Fatal(err)
	}
	writeSpec("  - name: extra\n    servers:\n      - name: static-1\n        address: " + w2.Addr)
	eventually(t, "the reload", func() bool { return a.Metrics().Reloads.Load() == 1 })
	if got := r.client(t).Info().Pid; got == pid {
		t.Errorf("worker pid still %d after the reload", got)
	}
	eventually(t, "extra/static-1 READY and ws/echo-1 still DRAIN in the new worker", func() bool {
		return r.servers(t, "extra")["static-1"].Admin == haproxy.Ready && r.servers(t, "ws")["echo-1"].Admin == haproxy.Drain
	})
	if cfg, _ := os.ReadFile(r.haproxy.Config); !strings.Contains(string(cfg), "backend extra") {
		t.Errorf("config file has no backend extra:\n%s", cfg)
	}

	// A second structure change right away waits for the reload interval.
	first := time.Now()
	writeSpec("  - name: extra\n    servers:\n      - name: static-1\n        address: " + w2.Addr + "\n  - name: extra2\n    servers:\n      - name: static-1\n        address: " + w2.Addr)
	eventually(t, "the second reload", func() bool { return a.Metrics().Reloads.Load() == 2 })
	if since := time.Since(first); since < 500*time.Millisecond {
		t.Errorf("second reload %s after the first, want it held back to the 1s interval", since.Round(time.Millisecond))
	}
	if r.servers(t, "extra2")["static-1"].Admin != haproxy.Ready {
		t.Errorf("extra2/static-1 not READY after the second reload")
	}
}

// httptestServer serves a's handler on a loopback port until the test ends.
func httptestServer(t *testing.T, a *Agent) string {
	t.Helper()
	addr := lbtest.Addr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	go func() { done <- a.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	lbtest.WaitTCP(t, addr, 5*time.Second)
	return "http://" + addr
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestAgentRidesOutConsulOutage(t *testing.T) {
	r := startRig(t)
	w1 := lbtest.StartWsecho(t, "echo-1", "--close-spread", "0s")
	w2 := lbtest.StartWsecho(t, "echo-2", "--close-spread", "0s")
	a := r.startAgentWith(t, Config{Spec: r.spec, Resync: 200 * time.Millisecond, UnhealthyAfter: time.Millisecond})
	srv := httptestServer(t, a)
	register(t, r.consul, "echo-1", w1)
	eventually(t, "echo-1 READY and UP", func() bool {
		s := r.servers(t, "ws")["echo-1"]
		return s.Admin == haproxy.Ready && s.State == haproxy.OpState("UP")
	})
	// The sync that readied echo-1 ends (file written, sync recorded) a
	// moment after HAProxy shows it.
	eventually(t, "/healthz ok before the outage", func() bool { return get(t, srv+"/healthz") == "ok\n" })
	pid := r.client(t).Info().Pid
	before := r.servers(t, "ws")
	ops := a.Metrics().RuntimeOps.Load()
	config := r.configHas(t, "server echo-1 ")

	// A dead Consul is no news: HAProxy keeps what it has through several
	// resyncs and drain polls, and the failed queries are counted.
	r.consul.Stop(t)
	syncs := a.Metrics().Syncs.Load()
	eventually(t, "discovery errors counted", func() bool { return discoveryErrors(t, a) > 0 })
	eventually(t, "five resyncs during the outage", func() bool { return a.Metrics().Syncs.Load() >= syncs+5 })
	// Failing for longer than UnhealthyAfter: /healthz says so.
	eventually(t, "/healthz reporting the outage", func() bool {
		return strings.HasPrefix(get(t, srv+"/healthz"), "discovery: consul queries failing for ")
	})
	time.Sleep(300 * time.Millisecond) // a few more drain polls
	after := r.servers(t, "ws")
	if len(after) != len(before) {
		t.Errorf("servers during the outage: %v, want %v", after, before)
	}
	for name, b := range before {
		got := after[name]
		if got.Admin != b.Admin || got.Addr != b.Addr || got.UserWeight != b.UserWeight {
			t.Errorf("%s during the outage: %s %s weight %d, want %s %s weight %d", name, got.Admin, got.Addr, got.UserWeight, b.Admin, b.Addr, b.UserWeight)
		}
	}
	if got := a.Metrics().RuntimeOps.Load(); got != ops {
		t.Errorf("runtime ops during the outage: %d, want none", got-ops)
	}
	if got := a.Metrics().Reloads.Load(); got != 0 {
		t.Errorf("reloads = %d, want 0", got)
	}
	if got := r.client(t).Info().Pid; got != pid {
		t.Errorf("worker pid %d during the outage, want %d", got, pid)
	}
	if got, _ := os.ReadFile(r.haproxy.Config); string(got) != string(config) {
		t.Errorf("config file changed during the outage:\n%s", got)
	}

	// Back, with an empty catalog at first and the TTL checks critical
	// until registered again; the agent recovers on its own.
	r.consul.Restart(t)
	register(t, r.consul, "echo-1", w1)
	register(t, r.consul, "echo-2", w2)
	eventually(t, "echo-1 and echo-2 READY after the restart", func() bool {
		s := r.servers(t, "ws")
		return s["echo-1"].Admin == haproxy.Ready && s["echo-2"].Admin == haproxy.Ready
	})
	if got := r.client(t).Info().Pid; got != pid {
		t.Errorf("worker pid %d after the restart, want %d (no reload)", got, pid)
	}
	// The file follows once a sync completes (one that could not read the
	// intents while Consul settled is tried again).
	r.configHas(t, "server echo-2 ")
	eventually(t, "/healthz ok after the outage", func() bool { return get(t, srv+"/healthz") == "ok\n" })
}

// configHas waits until the config file holds text and returns the file:
// the agent writes it after the runtime changes, so HAProxy shows a change
// a moment before the file does.
func (r *rig) configHas(t testing.TB, text string) []byte {
	t.Helper()
	var cfg []byte
	eventually(t, fmt.Sprintf("%q in the config file", text), func() bool {
		cfg, _ = os.ReadFile(r.haproxy.Config)
		return strings.Contains(string(cfg), text)
	})
	return cfg
}

// scrape is a's /metrics.
func scrape(a *Agent) string {
	rec := httptest.NewRecorder()
	a.Metrics().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return rec.Body.String()
}

// discoveryErrors is wsctl_agent_discovery_errors_total as a's /metrics
// serves it.
func discoveryErrors(t *testing.T, a *Agent) uint64 {
	t.Helper()
	body := scrape(a)
	for line := range strings.Lines(body) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "wsctl_agent_discovery_errors_total "); ok {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				t.Fatalf("discovery errors %q: %v", v, err)
			}
			return n
		}
	}
	t.Fatalf("no wsctl_agent_discovery_errors_total in:\n%s", body)
	return 0
}

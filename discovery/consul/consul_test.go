package consul

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/wsctl/wsctl/discovery"
	"github.com/wsctl/wsctl/internal/lbtest"
	"github.com/wsctl/wsctl/spec"
)

// waitTime is far longer than any test: a change that arrives in seconds
// came through a blocking query, not a timeout.
const waitTime = 5 * time.Minute

func consulSpec(addr string, backends ...spec.Backend) *spec.Spec {
	return &spec.Spec{
		Consul:   spec.Consul{Address: addr, WaitTime: spec.Duration(waitTime)},
		Backends: backends,
	}
}

func backend(name, service string, tags ...string) spec.Backend {
	return spec.Backend{Name: name, Consul: &spec.ConsulService{Service: service, Tags: tags}}
}

// run is a Source running in the background for one test.
type run struct {
	src  *Source
	out  chan discovery.Snapshot
	logs *lbtest.SyncBuffer
}

// startRun creates a source for s and runs it until the test ends; the
// test waits for Run to return.
func startRun(t *testing.T, s *spec.Spec) *run {
	t.Helper()
	logs := &lbtest.SyncBuffer{}
	src, err := New(s, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	src.retryMax = time.Second // a short outage must not cost a 30s wait
	r := &run{src: src, out: make(chan discovery.Snapshot), logs: logs}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, r.out) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v after cancel, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run still running 5s after cancel")
		}
		if t.Failed() {
			t.Logf("source log:\n%s", logs.String())
		}
	})
	return r
}

// next returns the next snapshot, failing the test after timeout.
func (r *run) next(t *testing.T, timeout time.Duration) discovery.Snapshot {
	t.Helper()
	select {
	case snap := <-r.out:
		if snap.Source != SourceName {
			t.Errorf("snapshot source %q, want %q", snap.Source, SourceName)
		}
		return snap
	case <-time.After(timeout):
		t.Fatalf("no snapshot within %s", timeout)
		return discovery.Snapshot{}
	}
}

// until reads snapshots until ok accepts one, failing after timeout.
func (r *run) until(t *testing.T, timeout time.Duration, ok func(discovery.Snapshot) bool) discovery.Snapshot {
	t.Helper()
	deadline := time.After(timeout)
	var seen []string
	for {
		select {
		case snap := <-r.out:
			if ok(snap) {
				return snap
			}
			seen = append(seen, describe(snap))
		case <-deadline:
			t.Fatalf("no matching snapshot within %s; got %q", timeout, seen)
		}
	}
}

// stats waits until ok accepts the source's stats: a snapshot is counted
// just after the receiver took it.
func (r *run) stats(t *testing.T, ok func(Stats) bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok(r.src.Stats()) {
		if time.Now().After(deadline) {
			t.Fatalf("unexpected stats: %+v", r.src.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// quiet fails the test if a snapshot arrives within d.
func (r *run) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case snap := <-r.out:
		t.Fatalf("unexpected snapshot: %s", describe(snap))
	case <-time.After(d):
	}
}

// describe renders a snapshot compactly: backend: id=addr:port(+|-) ...
func describe(snap discovery.Snapshot) string {
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(snap.Backends)) {
		fmt.Fprintf(&b, "%s:", name)
		for _, in := range snap.Backends[name] {
			health := "+"
			if !in.Healthy {
				health = "-"
			}
			fmt.Fprintf(&b, " %s=%s%s", in.ID, in.Addr(), health)
		}
		b.WriteString("; ")
	}
	return strings.TrimSuffix(b.String(), "; ")
}

func has(want string) func(discovery.Snapshot) bool {
	return func(s discovery.Snapshot) bool { return describe(s) == want }
}

func TestRunFollowsRegistrations(t *testing.T) {
	c := lbtest.StartConsul(t)
	c.Register(t, "chat-1", "chat", "10.0.0.1", 8080, nil, map[string]string{WeightMeta: "20"})
	r := startRun(t, consulSpec(c.Addr, backend("chat", "chat"), backend("empty", "nobody")))

	first := r.next(t, 10*time.Second)
	if got, want := describe(first), "chat: chat-1=10.0.0.1:8080+; empty:"; got != want {
		t.Fatalf("first snapshot: got %q, want %q", got, want)
	}
	if w := first.Backends["chat"][0].Weight; w != 20 {
		t.Errorf("weight %d, want 20 from meta %s", w, WeightMeta)
	}

	start := time.Now()
	c.Register(t, "chat-2", "chat", "10.0.0.2", 8080, []string{"ws"}, nil)
	snap := r.next(t, 10*time.Second)
	if got, want := describe(snap), "chat: chat-1=10.0.0.1:8080+ chat-2=10.0.0.2:8080+; empty:"; got != want {
		t.Fatalf("after register: got %q, want %q", got, want)
	}
	// Behaviour, not performance: the change came through the blocking
	// query, not after the 5m wait time.
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("registration seen after %s, want well under the %s wait time", d, waitTime)
	}
	// It says when Consul's answer came: after the registration, before
	// the snapshot was received.
	if snap.Arrived.Before(start) || snap.Arrived.After(time.Now()) {
		t.Errorf("answer arrived at %s, want between the registration (%s) and now", snap.Arrived, start)
	}

	c.Deregister(t, "chat-1")
	snap = r.next(t, 10*time.Second)
	if got, want := describe(snap), "chat: chat-2=10.0.0.2:8080+; empty:"; got != want {
		t.Fatalf("after deregister: got %q, want %q", got, want)
	}
	r.stats(t, func(st Stats) bool { return st.Snapshots == 3 && st.Errors == 0 && !st.LastSuccess.IsZero() })
}

func TestRunHealth(t *testing.T) {
	c := lbtest.StartConsul(t)
	c.Register(t, "a", "chat", "10.0.0.1", 8080, nil, nil)
	c.Register(t, "b", "chat", "10.0.0.2", 8080, nil, nil)
	warnOK := backend("warn-ok", "chat")
	warnOK.Consul.AllowWarning = true
	r := startRun(t, consulSpec(c.Addr, backend("strict", "chat"), warnOK))
	r.until(t, 10*time.Second, has("strict: a=10.0.0.1:8080+ b=10.0.0.2:8080+; warn-ok: a=10.0.0.1:8080+ b=10.0.0.2:8080+"))

	// Critical instances stay, unhealthy, so they can be drained.
	c.SetHealth(t, "a", api.HealthCritical)
	r.until(t, 10*time.Second, has("strict: a=10.0.0.1:8080- b=10.0.0.2:8080+; warn-ok: a=10.0.0.1:8080- b=10.0.0.2:8080+"))

	c.SetHealth(t, "a", api.HealthWarning)
	r.until(t, 10*time.Second, has("strict: a=10.0.0.1:8080- b=10.0.0.2:8080+; warn-ok: a=10.0.0.1:8080+ b=10.0.0.2:8080+"))

	c.SetHealth(t, "a", api.HealthPassing)
	r.until(t, 10*time.Second, has("strict: a=10.0.0.1:8080+ b=10.0.0.2:8080+; warn-ok: a=10.0.0.1:8080+ b=10.0.0.2:8080+"))
}

func TestRunTagFilter(t *testing.T) {
	c := lbtest.StartConsul(t)
	c.Register(t, "both", "chat", "10.0.0.1", 8080, []string{"ws", "v2"}, nil)
	c.Register(t, "ws-only", "chat", "10.0.0.2", 8080, []string{"ws"}, nil)
	c.Register(t, "v2-only", "chat", "10.0.0.3", 8080, []string{"v2"}, nil)
	r := startRun(t, consulSpec(c.Addr, backend("ws-v2", "chat", "ws", "v2"), backend("ws", "chat", "ws"), backend("all", "chat")))
	snap := r.next(t, 10*time.Second)
	want := "all: both=10.0.0.1:8080+ v2-only=10.0.0.3:8080+ ws-only=10.0.0.2:8080+; " +
		"ws: both=10.0.0.1:8080+ ws-only=10.0.0.2:8080+; ws-v2: both=10.0.0.1:8080+"
	if got := describe(snap); got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

// A blocking query that wakes up without a change to what a backend sees
// (here: Consul's own weights, which wsctl ignores) sends no snapshot; the
// next real change does.
func TestRunSkipsUnchangedWakeups(t *testing.T) {
	c := lbtest.StartConsul(t)
	c.Register(t, "a", "chat", "10.0.0.1", 8080, nil, nil)
	r := startRun(t, consulSpec(c.Addr, backend("chat", "chat"), backend("ghost", "ghost")))
	r.until(t, 10*time.Second, has("chat: a=10.0.0.1:8080+; ghost:"))

	before := r.src.Stats()
	reg := &api.AgentServiceRegistration{
		ID: "a", Name: "chat", Address: "10.0.0.1", Port: 8080,
		Weights: &api.AgentWeights{Passing: 7, Warning: 1},
		Check:   &api.AgentServiceCheck{CheckID: lbtest.CheckID("a"), TTL: "1h", Status: api.HealthPassing},
	}
	if err := c.Client.Agent().ServiceRegister(reg); err != nil {
		t.Fatal(err)
	}
	r.stats(t, func(st Stats) bool { return st.Queries > before.Queries }) // woke up
	r.quiet(t, 300*time.Millisecond)

	c.Register(t, "b", "chat", "10.0.0.2", 8080, nil, nil)
	if got, want := describe(r.next(t, 10*time.Second)), "chat: a=10.0.0.1:8080+ b=10.0.0.2:8080+; ghost:"; got != want {
		t.Fatalf("after a real change: got %q, want %q", got, want)
	}
	r.stats(t, func(st Stats) bool { return st.Snapshots == before.Snapshots+1 })
}

// Consul killed: the source logs, keeps the last snapshot in force (sends
// nothing), and once Consul is back sends a fresh one.
func TestRunSurvivesConsulRestart(t *testing.T) {
	c := lbtest.StartConsul(t)
	c.Register(t, "a", "chat", "10.0.0.1", 8080, nil, nil)
	r := startRun(t, consulSpec(c.Addr, backend("chat", "chat")))
	r.until(t, 10*time.Second, has("chat: a=10.0.0.1:8080+"))
	if st := r.src.Stats(); !st.FailingSince.IsZero() || st.LastError != "" {
		t.Errorf("failing before the outage: %+v", st)
	}

	stopped := time.Now()
	c.Stop(t)
	r.stats(t, func(st Stats) bool { return st.Errors >= 2 })
	// The outage's start, kept across the retries: what /healthz measures.
	if st := r.src.Stats(); st.FailingSince.Before(stopped) || st.LastError == "" {
		t.Errorf("during the outage: FailingSince %v (stopped %v), LastError %q", st.FailingSince, stopped, st.LastError)
	}
	first := r.src.Stats().FailingSince
	r.stats(t, func(st Stats) bool { return st.Errors >= 3 })
	if got := r.src.Stats().FailingSince; !got.Equal(first) {
		t.Errorf("FailingSince moved from %v to %v with another failure", first, got)
	}
	if !strings.Contains(r.logs.String(), "query failed") {
		t.Errorf("query errors not logged:\n%s", r.logs.String())
	}
	r.quiet(t, 200*time.Millisecond)

	// The agent restores "a" from its data dir with its TTL check critical;
	// registering it again makes it pass.
	c.Restart(t)
	c.Register(t, "a", "chat", "10.0.0.1", 8080, nil, nil)
	c.Register(t, "b", "chat", "10.0.0.2", 8080, nil, nil)
	r.until(t, 15*time.Second, has("chat: a=10.0.0.1:8080+ b=10.0.0.2:8080+"))
	if st := r.src.Stats(); !st.FailingSince.IsZero() || st.LastError != "" {
		t.Errorf("failing after the recovery: %+v", st)
	}
	if !strings.Contains(r.logs.String(), "query recovered") {
		t.Errorf("recovery not logged:\n%s", r.logs.String())
	}
	if !strings.Contains(r.logs.String(), "component=consul") {
		t.Errorf("logs lack component=consul:\n%s", r.logs.String())
	}
}

func TestRunWithoutConsulBackends(t *testing.T) {
	r := startRun(t, consulSpec("127.0.0.1:1", spec.Backend{Name: "static"}))
	if snap := r.next(t, 5*time.Second); len(snap.Backends) != 0 {
		t.Errorf("got %q, want no backends", describe(snap))
	}
}

func TestOnce(t *testing.T) {
	c := lbtest.StartConsul(t)
	c.Register(t, "a", "chat", "10.0.0.1", 8080, []string{"ws"}, nil)
	c.Register(t, "b", "chat", "10.0.0.2", 8080, nil, nil)
	c.SetHealth(t, "b", api.HealthCritical)
	s := consulSpec(c.Addr, backend("chat", "chat"), backend("ws", "chat", "ws"), spec.Backend{Name: "static"})
	snap, err := Once(context.Background(), s, nil)
	if err != nil {
		t.Fatalf("Once: %v", err)
	}
	if got, want := describe(snap), "chat: a=10.0.0.1:8080+ b=10.0.0.2:8080-; ws: a=10.0.0.1:8080+"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}

	// The same first snapshot as Run.
	r := startRun(t, s)
	if got, want := describe(r.next(t, 10*time.Second)), describe(snap); got != want {
		t.Errorf("Run's first snapshot %q, Once's %q", got, want)
	}
}

// TestSnapshot: what the one-shot commands render is the spec's own
// servers with Consul's; a Consul that does not answer is an error.
func TestSnapshot(t *testing.T) {
	c := lbtest.StartConsul(t)
	c.Register(t, "a", "chat", "10.0.0.1", 8080, nil, nil)
	own := spec.Backend{Name: "static", Servers: []spec.Server{{Name: "s1", Address: "10.0.0.9:80"}}}
	snap, err := Snapshot(context.Background(), consulSpec(c.Addr, backend("chat", "chat"), own), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := describe(snap), "chat: a=10.0.0.1:8080+; static: s1=10.0.0.9:80+"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if _, err := Snapshot(context.Background(), consulSpec(lbtest.Addr(t), backend("chat", "chat"), own), nil); err == nil {
		t.Error("Snapshot without the Consul: no error")
	}
}

func TestOnceError(t *testing.T) {
	addr := lbtest.Addr(t) // nothing listens there
	_, err := Once(context.Background(), consulSpec(addr, backend("chat", "chat-ws")), nil)
	if err == nil {
		t.Fatal("Once against a closed port: no error")
	}
	for _, want := range []string{`consul: service "chat-ws"`, addr} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

// The takeover, against a real Consul: a registration through the catalog
// API on another node, copying the service ID of the instance that was
// there, on a node that sorts first. The instance that was there keeps
// "echo-1" (and so the drains and intents addressed to it); the copy gets a
// suffixed name. A look-alike ID and a sidecar registered under the
// service's name are left out and counted.
func TestRunSameIDOnAnotherNodeKeepsTheName(t *testing.T) {
	c := lbtest.StartConsul(t)
	c.Register(t, "echo-1", "echo", "10.0.0.1", 8080, nil, nil)
	self, err := c.Client.Agent().NodeName()
	if err != nil {
		t.Fatal(err)
	}
	const other = "0-other-node"
	if other >= self {
		t.Fatalf("test setup: node %q does not sort before the agent's %q", other, self)
	}
	s := consulSpec(c.Addr, backend("echo", "echo"))
	r := startRun(t, s)
	r.until(t, 10*time.Second, has("echo: echo-1=10.0.0.1:8080+"))

	register := func(svc *api.AgentService) {
		t.Helper()
		reg := &api.CatalogRegistration{Node: other, Address: "10.6.6.6", Service: svc}
		if _, err := c.Client.Catalog().Register(reg, nil); err != nil {
			t.Fatalf("catalog register %q: %v", svc.ID, err)
		}
	}
	register(&api.AgentService{ID: "echo-1", Service: "echo", Address: "10.6.6.6", Port: 8080})
	register(&api.AgentService{ID: "echo\u20101", Service: "echo", Address: "10.6.6.7", Port: 8080})
	register(&api.AgentService{
		ID: "echo-1-sidecar-proxy", Service: "echo", Kind: api.ServiceKindConnectProxy, Address: "10.6.6.8", Port: 21000,
		Proxy: &api.AgentServiceConnectProxyConfig{DestinationServiceName: "echo"},
	})
	want := "echo: echo-1=10.0.0.1:8080+ echo-1-" + hash8(other+"/echo-1") + "=10.6.6.6:8080+"
	r.until(t, 10*time.Second, has(want))
	r.stats(t, func(st Stats) bool { return len(st.Rejected) == 1 && st.Rejected[0].Instances == 2 })
	for _, msg := range []string{"held by an older instance", "not printable ASCII", "kind connect-proxy"} {
		if !strings.Contains(r.logs.String(), msg) {
			t.Errorf("log lacks %q:\n%s", msg, r.logs.String())
		}
	}

	// render, diff and check name them alike.
	snap, err := Once(context.Background(), s, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("Once: %v", err)
	}
	if got := describe(snap); got != want {
		t.Errorf("Once: got %q, want %q", got, want)
	}
}

package agent

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/intent"
	"github.com/wsctl/wsctl/internal/buildinfo"
	"github.com/wsctl/wsctl/proxy"
)

// unreachable is HAProxy with its admin socket gone: every read fails.
type unreachable struct{ *fakeHAProxy }

func (unreachable) Servers(context.Context, string) ([]haproxy.ServerStatus, error) {
	return nil, fmt.Errorf("runtime: fake.sock: %w: connection refused", haproxy.ErrNoSocket)
}

func (u unreachable) States(ctx context.Context, backend string) ([]haproxy.ServerStatus, error) {
	return u.Servers(ctx, backend)
}

func (u unreachable) Session(ctx context.Context, _ func(haproxy.Conn) error) error {
	_, err := u.Servers(ctx, "")
	return err
}

// serve answers one request to the agent's Handler.
func serve(a *Agent, path string) (int, string) {
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

// TestHealthzHAProxyUnreachable: /healthz is 503, with the reason, while
// the admin socket fails the syncs, and 200 again once it answers; the
// failure is logged once, then counted, and the errors are labelled.
func TestHealthzHAProxyUnreachable(t *testing.T) {
	var logs bytes.Buffer
	u := newUnit(t, "1h", Config{Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if code, body := serve(u.a, "/healthz"); code != http.StatusServiceUnavailable || body != "not synced yet\n" {
		t.Errorf("before a sync: %d %q", code, body)
	}
	ctx := u.attach(t, u.render(t))
	u.syncWith(ctx, inst("a", 1))
	if code, body := serve(u.a, "/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("synced: %d %q", code, body)
	}

	u.a.rt = unreachable{u.hap}
	for range 5 {
		u.a.retry = true // the resync or retry that follows a failure
		u.syncWith(ctx, inst("a", 1))
	}
	if body := scrape(u.a); !strings.Contains(body, "\nwsctl_agent_haproxy_up 0\n") {
		t.Errorf("unreachable: /metrics lacks wsctl_agent_haproxy_up 0:\n%s", body)
	}
	code, body := serve(u.a, "/healthz")
	if want := "haproxy: the admin socket did not answer the last sync: runtime: fake.sock: no HAProxy socket: connection refused\n"; code != http.StatusServiceUnavailable || body != want {
		t.Errorf("unreachable: %d %q, want 503 %q", code, body, want)
	}
	if got := u.a.metrics.RuntimeErrors.Value("ws", opList); got != 5 {
		t.Errorf("runtime errors {ws, list} = %d, want 5", got)
	}
	if n := strings.Count(logs.String(), `msg="list servers"`); n != 1 {
		t.Errorf("%d lines for 5 failed syncs, want 1:\n%s", n, logs.String())
	}
	u.a.repeats.Flush()
	if !strings.Contains(logs.String(), `msg="list servers" component=agent backend=ws err="runtime: fake.sock: no HAProxy socket: connection refused" repeated=4`) {
		t.Errorf("no count of the repeats:\n%s", logs.String())
	}

	u.a.rt = u.hap
	u.a.retry = true
	u.syncWith(ctx, inst("a", 1))
	if code, body := serve(u.a, "/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("answering again: %d %q", code, body)
	}
	if body := scrape(u.a); !strings.Contains(body, "\nwsctl_agent_haproxy_up 1\n") {
		t.Errorf("answering again: /metrics lacks wsctl_agent_haproxy_up 1:\n%s", body)
	}
}

// TestMetricsLabelsAndCollectors: runtime operations are counted by
// backend and kind, and /metrics carries the build, Go and process
// metrics in the Prometheus format.
func TestMetricsLabelsAndCollectors(t *testing.T) {
	u := newUnit(t, "1h", Config{Build: buildinfo.Info{Version: "1.2.3", Commit: "abc", GoVersion: "go1.26.8"}})
	ctx := u.attach(t, u.render(t))
	u.syncWith(ctx, inst("a", 1), inst("b", 2))
	u.syncWith(ctx, inst("a", 1))
	if got := u.a.metrics.RuntimeOps.Value("ws", string(OpAdd)); got != 2 {
		t.Errorf("ops {ws, add} = %d, want 2", got)
	}
	if got := u.a.metrics.RuntimeOps.Value("ws", string(OpDrain)); got != 1 {
		t.Errorf("ops {ws, drain} = %d, want 1", got)
	}
	code, body := serve(u.a, "/metrics")
	for _, want := range []string{
		`wsctl_agent_runtime_ops_total{backend="ws",op="add"} 2`,
		`wsctl_agent_runtime_ops_total{backend="ws",op="drain"} 1`,
		`wsctl_agent_syncs_total 2`,
		`wsctl_build_info{commit="abc",goversion="go1.26.8",version="1.2.3"} 1`,
		"# TYPE wsctl_agent_convergence_seconds histogram",
		"# TYPE wsctl_agent_runtime_seconds histogram",
		"go_goroutines ",
		"process_start_time_seconds ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics (%d) lacks %q:\n%s", code, want, body)
		}
	}
}

// TestHealthzOperatorStrandsBackend: an operator's MAINT on the last
// server that takes clients is kept (it is an intent), but /healthz and
// /metrics say the backend has nothing left for new clients.
func TestHealthzOperatorStrandsBackend(t *testing.T) {
	u := newUnit(t, "1h", Config{})
	ctx := u.attach(t, u.render(t, inst("a", 1)))
	u.syncWith(ctx, inst("a", 1))
	if code, body := serve(u.a, "/healthz"); code != http.StatusOK {
		t.Fatalf("synced: %d %q", code, body)
	}
	if err := u.intents.Put(ctx, intent.Intent{Backend: "ws", Server: "a", State: haproxy.Maint}); err != nil {
		t.Fatal(err)
	}
	u.a.retry = true
	u.syncWith(ctx, inst("a", 1))
	u.a.retry = true
	u.syncWith(ctx, inst("a", 1))
	if got := u.hap.admin("ws", "a"); got != haproxy.Maint {
		t.Fatalf("a is %s, want MAINT (held)", got)
	}
	code, body := serve(u.a, "/healthz")
	if want := "backend ws: no server takes new clients; held out by an operator: ws/a MAINT\n"; code != http.StatusServiceUnavailable || body != want {
		t.Errorf("/healthz: %d %q, want 503 %q", code, body, want)
	}
	_, metrics := serve(u.a, "/metrics")
	for _, want := range []string{`wsctl_agent_backend_servers_available{backend="ws"} 0`, `wsctl_agent_backend_servers_held{backend="ws"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestHealthzConfigWriteFails: a config file that cannot be written (a
// full disk) makes /healthz say so, not "not synced yet", until a write
// succeeds.
func TestHealthzConfigWriteFails(t *testing.T) {
	u := newUnit(t, "1h", Config{})
	ctx := u.attach(t, u.render(t, inst("a", 1)))
	u.syncWith(ctx, inst("a", 1))
	full := fmt.Errorf("write %s: write temp file: %w", u.a.cfg.ConfigFile, syscall.ENOSPC)
	u.a.edges.write = func(string, []byte) (bool, error) { return false, full }
	u.a.retry = true
	u.syncWith(ctx, inst("a", 1), inst("b", 2))
	code, body := serve(u.a, "/healthz")
	if want := "config: " + full.Error() + "\n"; code != http.StatusServiceUnavailable || body != want {
		t.Errorf("/healthz: %d %q, want 503 %q", code, body, want)
	}
	u.a.edges.write = proxy.WriteAtomic
	u.a.retry = true
	u.syncWith(ctx, inst("a", 1), inst("b", 2))
	if code, body := serve(u.a, "/healthz"); code != http.StatusOK {
		t.Errorf("written again: %d %q", code, body)
	}
}

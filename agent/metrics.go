package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/wsctl/wsctl/discovery/consul"
)

// Metrics are the agent's counters. The zero value is ready; every field is
// safe for concurrent use.
type Metrics struct {
	Syncs              atomic.Uint64 // snapshots applied (or attempted)
	SnapshotsDropped   atomic.Uint64 // debounced snapshots equal to the applied one
	RuntimeOps         atomic.Uint64 // runtime API commands that change state
	RuntimeErrors      atomic.Uint64 // runtime API calls that failed
	Reloads            atomic.Uint64 // reloads confirmed by a new worker
	ReloadErrors       atomic.Uint64 // reloads that failed or were not confirmed
	ValidationFailures atomic.Uint64 // rendered configs the proxy rejected
	RenderErrors       atomic.Uint64 // models or templates that failed
	ConfigWrites       atomic.Uint64 // config file writes
	EmptyKept          atomic.Uint64 // backends kept because discovery reported them empty

	SpecErrors   atomic.Uint64 // changed spec files that failed to load
	IntentErrors atomic.Uint64 // operator intents that could not be read
	StateErrors  atomic.Uint64 // reads and writes of the agent's state file that failed
	// Convergence is the time from the first discovery change not yet
	// applied to the proxy matching it.
	Convergence Histogram

	lastSync atomic.Int64 // unix nanoseconds of the last complete sync
	// consul is the running Consul source (nil: none); retired holds the
	// counts of the sources a spec change replaced.
	consul                        atomic.Pointer[consul.Source]
	retiredQueries, retiredErrors atomic.Uint64
}

// retire keeps the counts of a Consul source that is being replaced.
func (m *Metrics) retire(src *consul.Source) {
	if src == nil {
		return
	}
	st := src.Stats()
	m.retiredQueries.Add(st.Queries)
	m.retiredErrors.Add(st.Errors)
}

// LastSync is when the agent last brought the proxy to the desired state;
// zero before the first time.
func (m *Metrics) LastSync() time.Time {
	if ns := m.lastSync.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// ServeHTTP writes the counters in the Prometheus text format.
func (m *Metrics) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	counter := func(name, help string, v uint64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", name, help, name, name, v)
	}
	gauge := func(name, help string, v float64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %g\n", name, help, name, name, v)
	}
	counter("wsctl_agent_syncs_total", "Snapshots applied.", m.Syncs.Load())
	counter("wsctl_agent_snapshots_dropped_total", "Snapshots equal to the applied one.", m.SnapshotsDropped.Load())
	counter("wsctl_agent_runtime_ops_total", "Runtime API commands that change state.", m.RuntimeOps.Load())
	counter("wsctl_agent_runtime_errors_total", "Runtime API calls that failed.", m.RuntimeErrors.Load())
	counter("wsctl_agent_reloads_total", "Reloads confirmed by a new worker.", m.Reloads.Load())
	counter("wsctl_agent_reload_errors_total", "Reloads that failed.", m.ReloadErrors.Load())
	counter("wsctl_agent_validation_failures_total", "Rendered configs the proxy rejected.", m.ValidationFailures.Load())
	counter("wsctl_agent_render_errors_total", "Models or templates that failed to build.", m.RenderErrors.Load())
	counter("wsctl_agent_config_writes_total", "Config file writes.", m.ConfigWrites.Load())
	counter("wsctl_agent_empty_backends_kept_total", "Backends kept because discovery reported them empty.", m.EmptyKept.Load())
	var last float64
	if t := m.LastSync(); !t.IsZero() {
		last = float64(t.UnixNano()) / 1e9
	}
	gauge("wsctl_agent_last_sync_timestamp_seconds", "When the proxy last matched the desired state.", last)
	counter("wsctl_agent_spec_errors_total", "Changed spec files that failed to load.", m.SpecErrors.Load())
	counter("wsctl_agent_intent_errors_total", "Loads of operator intents that failed (no server was set ready meanwhile).", m.IntentErrors.Load())
	counter("wsctl_agent_state_errors_total", "Reads and writes of the agent's state file that failed.", m.StateErrors.Load())
	m.Convergence.write(w, "wsctl_agent_convergence_seconds", "Time from a discovery change to the proxy matching it.")
	var st consul.Stats
	if src := m.consul.Load(); src != nil {
		st = src.Stats()
	}
	counter("wsctl_agent_discovery_queries_total", "Consul queries sent.", m.retiredQueries.Load()+st.Queries)
	counter("wsctl_agent_discovery_errors_total", "Consul queries that failed.", m.retiredErrors.Load()+st.Errors)
	if len(st.Rejected) > 0 {
		const name = "wsctl_agent_discovery_rejected_instances"
		fmt.Fprintf(w, "# HELP %s Instances in the last Consul answer that could not become servers (see the log for why).\n# TYPE %s gauge\n", name, name)
		for _, r := range st.Rejected {
			// Backend and service names passed the spec's patterns:
			// nothing in them needs escaping.
			fmt.Fprintf(w, "%s{backend=%q,service=%q} %d\n", name, r.Backend, r.Service, r.Instances)
		}
	}
}

// Handler serves /metrics and /healthz (200 once the agent has synced, 503
// before).
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.metrics)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if a.metrics.LastSync().IsZero() {
			http.Error(w, "not synced yet", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}

// Serve serves Handler on l until ctx ends, and closes l. The caller
// listens, so a busy address is reported before anything starts.
func (a *Agent) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 5 * time.Second}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancelShutdown := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancelShutdown()
		_ = srv.Shutdown(sctx)
	}()
	err := srv.Serve(l)
	cancel()
	<-done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("agent: serve: %w", err)
}

package agent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wsctl/wsctl/discovery/consul"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/internal/buildinfo"
)

// The label values of RuntimeOps and RuntimeErrors beyond the OpKinds:
// the steps of a drain and of a reload, and reading HAProxy's servers.
const (
	opMaint         = "maint"          // a drained server set to MAINT
	opDelete        = "delete"         // a drained server that left, deleted
	opCloseSessions = "close-sessions" // sessions closed after drain_timeout
	opRestore       = "restore"        // a DRAIN or MAINT set again after a reload
	opList          = "list"           // servers and sessions read
)

// drainStep is the op of a change that ends a drain: MAINT, or the delete
// of a server that left.
func drainStep(ch haproxy.Change) string {
	if ch.Kind == haproxy.ChangeDelete {
		return opDelete
	}
	return opMaint
}

// Metrics are the agent's Prometheus metrics (wsctl_agent_*), in a
// registry of their own with the Go and process collectors and
// wsctl_build_info. The loop writes them and no decision reads them: Load,
// Value and Count are for tests and reports. Every method is safe for
// concurrent use.
type Metrics struct {
	Syncs            Counter // snapshots applied (or attempted)
	SnapshotsDropped Counter // debounced snapshots equal to the applied one
	// RuntimeOps are the runtime operations sent to HAProxy, by backend
	// and op: an OpKind, or maint, delete (a drain's end) or restore
	// (after a reload).
	RuntimeOps OpCounter
	// RuntimeErrors are the runtime operations and reads that failed, by
	// backend ("" for all) and op: those of RuntimeOps, list (reading the
	// servers) and close-sessions.
	RuntimeErrors      OpCounter
	Reloads            Counter        // reloads confirmed by a new worker
	ReloadErrors       Counter        // reloads that failed or were not confirmed
	ValidationFailures Counter        // rendered configs the proxy rejected
	RenderErrors       Counter        // models or templates that failed
	ConfigWrites       Counter        // config file writes
	EmptyKept          BackendCounter // by backend: kept because discovery reported it empty
	SpecErrors         Counter        // changed spec files that failed to load
	IntentErrors       Counter        // operator intents that could not be read
	StateErrors        Counter        // reads and writes of the agent's state file that failed
	HandoverClosed     Counter        // old workers' sessions closed by the hand-over after a reload
	// Rebalances are the rebalances after a server was added, by backend
	// and outcome (a rebalance.Outcome, or refused); RebalanceMoved the
	// sessions they closed, by backend.
	Rebalances     OpCounter
	RebalanceMoved BackendCounter
	// FleetIgnored is how many fleet intents name a server this load
	// balancer does not have: ignored, not reported on.
	FleetIgnored atomic.Int64
	// Convergence is the time from the first discovery change not yet
	// applied (its answer's arrival, Snapshot.Arrived, when the source
	// tells) to the proxy matching it.
	Convergence Histogram
	// Runtime is the time from the same change to the first runtime batch
	// that applied some of it (a server added, readmitted, drained),
	// before the config file and state are written: when its servers
	// are live.
	Runtime Histogram
	// progress are the old workers a hand-over watches and the drains
	// in progress.
	progress *progressGauges

	handler http.Handler
	// unhealthyAfter is Config.UnhealthyAfter.
	unhealthyAfter time.Duration
	lastSync       atomic.Int64 // unix nanoseconds of the last complete sync
	lastChange     atomic.Int64 // unix nanoseconds: when discovery's last change arrived
	// haproxyErr is why HAProxy's admin socket did not answer the last
	// sync (nil: it did).
	haproxyErr lastError
	// consul is the running Consul source (nil: none); retired holds the
	// counts of the sources a spec change replaced.
	consul                        atomic.Pointer[consul.Source]
	retiredQueries, retiredErrors atomic.Uint64
	// backends is what the last sync that read HAProxy found each
	// backend's servers can do.
	backends atomic.Pointer[map[string]Availability]
	// writeErr is why the last write of the config file failed (nil: it
	// did not).
	writeErr lastError
}

// newMetrics registers the agent's metrics, and build's, in a new registry.
func newMetrics(build buildinfo.Info, unhealthyAfter time.Duration) *Metrics {
	reg := prometheus.NewRegistry()
	counter := func(name, help string) Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
		reg.MustRegister(c)
		return Counter{c}
	}
	vec := func(name, help string, labels ...string) counterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		reg.MustRegister(v)
		return counterVec{v}
	}
	m := &Metrics{unhealthyAfter: unhealthyAfter, progress: &progressGauges{}}
	m.Syncs = counter("wsctl_agent_syncs_total", "Snapshots applied.")
	m.SnapshotsDropped = counter("wsctl_agent_snapshots_dropped_total", "Snapshots equal to the applied one.")
	m.RuntimeOps = OpCounter{vec("wsctl_agent_runtime_ops_total", "Runtime API operations sent, by backend and operation.", "backend", "op")}
	m.RuntimeErrors = OpCounter{vec("wsctl_agent_runtime_errors_total", "Runtime API operations and reads that failed, by backend and operation.", "backend", "op")}
	m.Reloads = counter("wsctl_agent_reloads_total", "Reloads confirmed by a new worker.")
	m.ReloadErrors = counter("wsctl_agent_reload_errors_total", "Reloads that failed.")
	m.ValidationFailures = counter("wsctl_agent_validation_failures_total", "Rendered configs the proxy rejected.")
	m.RenderErrors = counter("wsctl_agent_render_errors_total", "Models or templates that failed to build.")
	m.ConfigWrites = counter("wsctl_agent_config_writes_total", "Config file writes.")
	m.EmptyKept = BackendCounter{vec("wsctl_agent_empty_backends_kept_total", "Backends kept because discovery reported them empty.", "backend")}
	m.SpecErrors = counter("wsctl_agent_spec_errors_total", "Changed spec files that failed to load.")
	m.IntentErrors = counter("wsctl_agent_intent_errors_total", "Loads of operator intents that failed (no server was set ready meanwhile).")
	m.StateErrors = counter("wsctl_agent_state_errors_total", "Reads and writes of the agent's state file that failed.")
	m.HandoverClosed = counter("wsctl_agent_handover_sessions_closed_total", "Old workers' sessions closed, at a pace, by the hand-over after a reload.")
	m.Rebalances = OpCounter{vec("wsctl_agent_rebalances_total", "Rebalances after a server was added, by backend and outcome (balanced, unbalanced, timed_out, canceled, error, refused).", "backend", "outcome")}
	m.RebalanceMoved = BackendCounter{vec("wsctl_agent_rebalance_sessions_moved_total", "Sessions the rebalances closed so their clients reconnect to the servers below target.", "backend")}
	h := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "wsctl_agent_convergence_seconds",
		Help:    "Time from a discovery change (its answer's arrival, before decoding) to the proxy matching it.",
		Buckets: convergenceBuckets,
	})
	reg.MustRegister(h)
	m.Convergence = Histogram{h}
	h = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "wsctl_agent_runtime_seconds",
		Help:    "Time from a discovery change (its answer's arrival, before decoding) to the first runtime batch that applied some of it.",
		Buckets: runtimeBuckets,
	})
	reg.MustRegister(h)
	m.Runtime = Histogram{h}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "wsctl_agent_last_sync_timestamp_seconds",
			Help: "When the proxy last matched the desired state.",
		}, func() float64 {
			if t := m.LastSync(); !t.IsZero() {
				return unixSeconds(t)
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "wsctl_agent_last_change_timestamp_seconds",
			Help: "When discovery's last change arrived (Consul's answer, read whole, before decoding).",
		}, func() float64 {
			if ns := m.lastChange.Load(); ns != 0 {
				return unixSeconds(time.Unix(0, ns))
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "wsctl_agent_haproxy_up",
			Help: "1 when HAProxy's admin socket answered the last sync, else 0.",
		}, func() float64 {
			if m.haproxyErr.load() != nil {
				return 0
			}
			return 1
		}),
		discoveryCollector{m},
		backendCollector{m},
		m.progress,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "wsctl_agent_fleet_intents_ignored",
			Help: "Fleet intents naming a server this load balancer does not have (ignored, not reported on).",
		}, func() float64 { return float64(m.FleetIgnored.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "wsctl_build_info",
			Help: "The wsctl build: version, commit and Go version; always 1.",
			ConstLabels: prometheus.Labels{
				"version": build.Version, "commit": build.Commit, "goversion": build.GoVersion,
			},
		}, func() float64 { return 1 }),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	return m
}

// The discovery metrics are read from the Consul source at scrape time.
var (
	discoveryQueriesDesc  = prometheus.NewDesc("wsctl_agent_discovery_queries_total", "Consul queries sent.", nil, nil)
	discoveryErrorsDesc   = prometheus.NewDesc("wsctl_agent_discovery_errors_total", "Consul queries that failed.", nil, nil)
	discoveryRejectedDesc = prometheus.NewDesc("wsctl_agent_discovery_rejected_instances",
		"Instances in the last Consul answer that could not become servers (see the log for why).", []string{"backend", "service"}, nil)
	discoveryFailingDesc = prometheus.NewDesc("wsctl_agent_discovery_failing_seconds",
		"How long Consul queries have been failing in a row (0: the last one succeeded).", nil, nil)
)

// discoveryCollector reports the Consul source's counts, with those of the
// sources a spec change replaced.
type discoveryCollector struct{ m *Metrics }

func (c discoveryCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- discoveryQueriesDesc
	ch <- discoveryErrorsDesc
	ch <- discoveryRejectedDesc
	ch <- discoveryFailingDesc
}

func (c discoveryCollector) Collect(ch chan<- prometheus.Metric) {
	var st consul.Stats
	if src := c.m.consul.Load(); src != nil {
		st = src.Stats()
	}
	ch <- prometheus.MustNewConstMetric(discoveryQueriesDesc, prometheus.CounterValue, float64(c.m.retiredQueries.Load()+st.Queries))
	ch <- prometheus.MustNewConstMetric(discoveryErrorsDesc, prometheus.CounterValue, float64(c.m.retiredErrors.Load()+st.Errors))
	for _, r := range st.Rejected {
		ch <- prometheus.MustNewConstMetric(discoveryRejectedDesc, prometheus.GaugeValue, float64(r.Instances), r.Backend, r.Service)
	}
	failing := 0.0
	if !st.FailingSince.IsZero() {
		failing = time.Since(st.FailingSince).Seconds()
	}
	ch <- prometheus.MustNewConstMetric(discoveryFailingDesc, prometheus.GaugeValue, failing)
}

var (
	serversAvailableDesc = prometheus.NewDesc("wsctl_agent_backend_servers_available",
		"Servers of the backend that take new clients (READY, up, weight above 0), at the last sync.", []string{"backend"}, nil)
	serversHeldDesc = prometheus.NewDesc("wsctl_agent_backend_servers_held",
		"Servers of the backend an operator keeps out (an intent, or a DRAIN or MAINT the agent did not set), at the last sync.", []string{"backend"}, nil)
)

// backendCollector reports each backend's Availability.
type backendCollector struct{ m *Metrics }

func (c backendCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- serversAvailableDesc
	ch <- serversHeldDesc
}

func (c backendCollector) Collect(ch chan<- prometheus.Metric) {
	all := c.m.backends.Load()
	if all == nil {
		return
	}
	for b, av := range *all {
		ch <- prometheus.MustNewConstMetric(serversAvailableDesc, prometheus.GaugeValue, float64(av.Available), b)
		ch <- prometheus.MustNewConstMetric(serversHeldDesc, prometheus.GaugeValue, float64(len(av.Held)), b)
	}
}

// backendsSeen records what a sync found the backends' servers can do.
func (m *Metrics) backendsSeen(av map[string]Availability) { m.backends.Store(&av) }

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

// changeArrived records when a change of discovery's arrived.
func (m *Metrics) changeArrived(at time.Time) { m.lastChange.Store(at.UnixNano()) }

// haproxyAnswered records whether HAProxy's admin socket answered a sync
// (err nil) or not, for /healthz.
func (m *Metrics) haproxyAnswered(err error) { m.haproxyErr.set(err) }

// configWritten records whether the last write of the config file failed
// (err) or not, for /healthz.
func (m *Metrics) configWritten(err error) { m.writeErr.set(err) }

// lastError is the message of the last failure of something retried, nil
// once it succeeds again.
type lastError struct{ p atomic.Pointer[string] }

func (l *lastError) set(err error) {
	if err == nil {
		l.p.Store(nil)
		return
	}
	msg := err.Error()
	l.p.Store(&msg)
}

func (l *lastError) load() *string { return l.p.Load() }

// Unhealthy lists why /healthz answers 503 at now; none when healthy:
//   - HAProxy's admin socket failed to answer the last sync's reading of
//     the servers;
//   - Consul queries have been failing for longer than
//     Config.UnhealthyAfter (a blocking query that is waiting is not
//     failing);
//   - the last write of the config file failed (a full disk);
//   - an operator's DRAIN or MAINT leaves a backend no server that takes
//     new clients (the frontend answers 503);
//   - the agent has not completed a sync yet.
func (m *Metrics) Unhealthy(now time.Time) []string {
	var why []string
	if err := m.haproxyErr.load(); err != nil {
		why = append(why, "haproxy: the admin socket did not answer the last sync: "+*err)
	}
	if err := m.writeErr.load(); err != nil {
		why = append(why, "config: "+*err)
	}
	if all := m.backends.Load(); all != nil {
		for _, b := range slices.Sorted(maps.Keys(*all)) {
			if av := (*all)[b]; av.Stranded() {
				why = append(why, fmt.Sprintf("backend %s: no server takes new clients; held out by an operator: %s", b, strings.Join(av.Held, ", ")))
			}
		}
	}
	if src := m.consul.Load(); src != nil {
		if st := src.Stats(); !st.FailingSince.IsZero() && now.Sub(st.FailingSince) > m.unhealthyAfter {
			why = append(why, fmt.Sprintf("discovery: consul queries failing for %s (more than %s): %s",
				now.Sub(st.FailingSince).Round(time.Second), m.unhealthyAfter, st.LastError))
		}
	}
	if m.LastSync().IsZero() {
		why = append(why, "not synced yet")
	}
	return why
}

// ServeHTTP serves the metrics in the Prometheus exposition format.
func (m *Metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) { m.handler.ServeHTTP(w, r) }

// Handler serves /metrics and /healthz: 200 "ok" when Metrics.Unhealthy
// finds nothing, else 503 with its reasons, one a line.
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.metrics)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if why := a.metrics.Unhealthy(time.Now()); len(why) > 0 {
			http.Error(w, strings.Join(why, "\n"), http.StatusServiceUnavailable)
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

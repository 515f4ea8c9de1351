// Package consul is the Consul discovery source: it follows the health
// endpoint of every service a spec's backends name, with blocking queries,
// and pushes a complete snapshot of all of them whenever one changes.
//
// Every instance is reported, healthy or not, so an instance whose checks
// fail can be drained rather than cut. Healthy comes from the aggregated
// status of the instance's node and service checks: passing → true;
// warning → true only with the backend's allow_warning; critical or
// maintenance → false. The address is the service's, else its node's; the
// weight comes from the WeightMeta service meta key; the ID is a server
// name derived from the service ID (see ServerName).
//
// While Consul is unreachable the source keeps retrying with backoff and
// sends nothing, so the last snapshot stays in force: an outage never looks
// like every instance leaving.
package consul

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/wsctl/wsctl/discovery"
	"github.com/wsctl/wsctl/spec"
)

// SourceName tags snapshots from this source.
const SourceName = "consul"

// Source follows the Consul services behind a spec's backends. It
// implements discovery.Source. Create it with New.
type Source struct {
	health   *healthClient
	addr     string // for log messages
	watches  []watch
	waitTime time.Duration
	stale    bool
	log      *slog.Logger
	stats    counters

	retryBase, retryMax, minInterval time.Duration
}

var _ discovery.Source = (*Source)(nil)

// New returns a source for the backends of s that have Consul set; the
// snapshots it sends hold those backends only. log receives query errors
// and warnings (nil: slog.Default()), tagged component=consul. The error is
// a configuration error: the client cannot be built (a bad CONSUL_CACERT,
// say).
func New(s *spec.Spec, log *slog.Logger) (*Source, error) {
	_, health, addr, err := newClient(s.Consul)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	src := &Source{
		health:      health,
		addr:        addr,
		watches:     watches(s),
		waitTime:    s.Consul.WaitTime.D(),
		stale:       s.Consul.Stale,
		log:         log.With("component", "consul"),
		retryBase:   DefaultRetryBase,
		retryMax:    DefaultRetryMax,
		minInterval: DefaultMinInterval,
	}
	src.stats.rejected = map[string]*atomic.Int64{}
	src.stats.failing = map[string]*failing{}
	for _, w := range src.watches {
		src.stats.rejected[w.backend] = &atomic.Int64{}
		src.stats.failing[w.backend] = &failing{}
	}
	return src, nil
}

// NewClient returns a Consul API client configured from the standard
// CONSUL_* environment (CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN, CONSUL_CACERT,
// CONSUL_CLIENT_CERT/KEY, CONSUL_HTTP_SSL, …) with c.Address, when set,
// taking precedence, as do its token_file and TLS files, and the address it
// talks to.
//
// A Consul on this host (a loopback address or a unix socket, the usual
// local agent) is asked for uncompressed answers: the health answer of a
// 1,000-instance service is over a megabyte, and gzip made Consul and the
// agent spend more time compressing and inflating it on every change than
// loopback takes to carry it (issue 19's 1,000-server churn). A remote
// Consul still compresses.
func NewClient(c spec.Consul) (*api.Client, string, error) {
	client, _, addr, err := newClient(c)
	return client, addr, err
}

// newClient is NewClient with the health endpoint's reader, which shares
// the client's configuration.
func newClient(c spec.Consul) (*api.Client, *healthClient, string, error) {
	cfg := api.DefaultConfig()
	if c.Address != "" {
		cfg.Address = c.Address
	}
	if c.TokenFile != "" {
		cfg.TokenFile, cfg.Token = c.TokenFile, ""
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&cfg.TLSConfig.CAFile, c.CAFile)
	set(&cfg.TLSConfig.CertFile, c.CertFile)
	set(&cfg.TLSConfig.KeyFile, c.KeyFile)
	addr, local := cfg.Address, onThisHost(cfg.Address)
	cfg.Transport.DisableCompression = local
	client, err := api.NewClient(cfg)
	if err != nil {
		return nil, nil, "", fmt.Errorf("consul: client for %s: %w", addr, err)
	}
	// For a unix socket api.NewClient made a transport of its own.
	if t, ok := cfg.HttpClient.Transport.(*http.Transport); ok {
		t.DisableCompression = local
	}
	return client, &healthClient{cfg: *cfg}, addr, nil
}

// onThisHost reports whether addr (as api.Config.Address takes it: with or
// without a scheme, or unix://PATH) names a Consul on this host.
func onThisHost(addr string) bool {
	if strings.HasPrefix(addr, "unix://") {
		return true
	}
	if i := strings.Index(addr, "://"); i >= 0 {
		addr = addr[i+3:]
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = strings.Trim(addr, "[]")
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// watches lists the Consul-backed backends of s in spec order.
func watches(s *spec.Spec) []watch {
	var ws []watch
	for _, b := range s.Backends {
		if b.Consul != nil {
			ws = append(ws, watch{backend: b.Name, svc: *b.Consul})
		}
	}
	return ws
}

// Run follows every service, one goroutine each, until ctx ends, and then
// returns nil once they have all stopped. The first snapshot is sent when
// every service has answered once; after that one is sent whenever the
// instances of any backend change, never for a wakeup that changed
// nothing. A snapshot is never sent while its predecessor is still waiting
// to be received: the newer state replaces it. Instances are sorted by ID.
// Receivers must treat snapshots as read-only (consecutive snapshots share
// unchanged backends' slices). Query errors are logged and retried, never
// returned.
func (s *Source) Run(ctx context.Context, out chan<- discovery.Snapshot) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	updates := make(chan update)
	for _, w := range s.watches {
		wg.Go(func() { s.follow(ctx, w, updates) })
	}
	s.loop(ctx, updates, out)
	return nil
}

// loop merges the watchers' updates into snapshots and sends them on out
// until ctx ends.
func (s *Source) loop(ctx context.Context, updates <-chan update, out chan<- discovery.Snapshot) {
	current := make(map[string][]discovery.Instance, len(s.watches))
	var (
		sent    *discovery.Snapshot // last snapshot received from us
		pending *discovery.Snapshot // newer than sent, waiting for the receiver
	)
	if len(s.watches) == 0 {
		pending = &discovery.Snapshot{Source: SourceName, Backends: current}
	}
	for {
		var send chan<- discovery.Snapshot
		var next discovery.Snapshot
		if pending != nil {
			send, next = out, *pending
		}
		select {
		case <-ctx.Done():
			return
		case u := <-updates:
			current[u.backend] = u.instances
			if len(current) < len(s.watches) {
				continue
			}
			snap := discovery.Snapshot{Source: SourceName, Backends: maps.Clone(current), Arrived: u.arrived}
			if sent != nil && equalBackends(sent.Backends, snap.Backends) {
				pending = nil
				continue
			}
			if pending != nil && pending.Arrived.Before(snap.Arrived) {
				// The change still waiting came first.
				snap.Arrived = pending.Arrived
			}
			pending = &snap
		case send <- next:
			sent, pending = &next, nil
			s.stats.snapshots.Add(1)
		}
	}
}

func equalBackends(a, b map[string][]discovery.Instance) bool {
	return maps.EqualFunc(a, b, equalInstances)
}

// Stats are the source's counters, for metrics.
type Stats struct {
	Queries   uint64 // queries sent to Consul, blocking or not
	Errors    uint64 // queries that failed
	Snapshots uint64 // snapshots received from Run
	// LastSuccess is when a query last succeeded; zero before the first.
	LastSuccess time.Time
	// FailingSince is when the oldest run of failed queries still going
	// on began (a service whose last query failed); zero while every
	// service's last query succeeded. A blocking query that is waiting is
	// not failing, however long ago it was sent.
	FailingSince time.Time
	// LastError is the error of that run's latest query ("" with a zero
	// FailingSince).
	LastError string
	// Rejected are the Consul-backed backends with the number of instances
	// their last answer held that could not become servers (see
	// toInstances), and the service each follows.
	Rejected []Rejected
}

// Rejected counts the instances of one backend's service left out.
type Rejected struct {
	Backend, Service string
	Instances        int64
}

// Stats returns the counters so far. It is safe to call while Run runs.
func (s *Source) Stats() Stats {
	st := Stats{
		Queries:   s.stats.queries.Load(),
		Errors:    s.stats.errors.Load(),
		Snapshots: s.stats.snapshots.Load(),
	}
	if ns := s.stats.lastSuccess.Load(); ns != 0 {
		st.LastSuccess = time.Unix(0, ns)
	}
	for _, w := range s.watches {
		f := s.stats.failing[w.backend]
		if since := f.since.Load(); since != 0 && (st.FailingSince.IsZero() || since < st.FailingSince.UnixNano()) {
			st.FailingSince = time.Unix(0, since)
			if err := f.err.Load(); err != nil {
				st.LastError = *err
			}
		}
		st.Rejected = append(st.Rejected, Rejected{Backend: w.backend, Service: w.svc.Service, Instances: s.stats.rejected[w.backend].Load()})
	}
	return st
}

type counters struct {
	queries, errors, snapshots atomic.Uint64
	lastSuccess                atomic.Int64 // unix nanoseconds
	// rejected and failing are set once by New, one entry per watched
	// backend.
	rejected map[string]*atomic.Int64
	failing  map[string]*failing
}

// failing is one service's run of failed queries.
type failing struct {
	since atomic.Int64 // unix nanoseconds of the first failure; 0: none
	err   atomic.Pointer[string]
}

// failed records a failed query.
func (f *failing) failed(err error) {
	msg := err.Error()
	f.err.Store(&msg)
	f.since.CompareAndSwap(0, time.Now().UnixNano())
}

// succeeded ends the run of failures.
func (f *failing) succeeded() {
	f.since.Store(0)
	f.err.Store(nil)
}

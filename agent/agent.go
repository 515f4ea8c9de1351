// Package agent is the reconcile loop behind `wsctl agent`: it follows the
// discovery sources, debounces their snapshots, builds the desired model and
// brings a running HAProxy to it through the runtime API (add, drain, delete
// servers, change addresses and weights) without a reload. Only a change of
// the config's structure (anything but the server lines of existing
// backends) is validated, written and reloaded, at most once per
// Config.ReloadInterval. The rendered config is written after every change,
// so a later restart starts from the current membership.
//
// Discovery is a set of discovery.Source values run alike: the spec's own
// servers (discovery/static) and, when a backend names a service, Consul;
// each reports its own backends, and nothing is synced until every source
// has reported once. A changed spec (Config.SpecFile, Config.Reread)
// replaces them. The first snapshot after a quiet spell is applied at once
// (leading edge); a burst behind it is coalesced (Config.MinQuiet, at most
// Config.MaxQuiet).
//
// nginx has no runtime API: with the nginx target every change of the
// rendered config is validated (nginx -t), written and reloaded (SIGHUP to
// the master), at most once per Config.ReloadInterval; changes that arrive
// inside the interval are applied together when it ends.
//
// The loop meets the world only through its edges (see Runtime and the
// unexported edges: dial, reload, write, validate, sources), which the
// package's unit tests replace with fakes; the integration tests run it
// against real Consul and HAProxy. Metrics are written, never read, by the
// loop: no decision depends on them.
package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/wsctl/wsctl/discovery"
	"github.com/wsctl/wsctl/discovery/consul"
	"github.com/wsctl/wsctl/fleet"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/intent"
	"github.com/wsctl/wsctl/internal/buildinfo"
	"github.com/wsctl/wsctl/internal/inputfile"
	"github.com/wsctl/wsctl/internal/logging"
	"github.com/wsctl/wsctl/internal/sdnotify"
	"github.com/wsctl/wsctl/model"
	"github.com/wsctl/wsctl/proxy"
	"github.com/wsctl/wsctl/render"
	"github.com/wsctl/wsctl/serverstate"
	"github.com/wsctl/wsctl/spec"
)

// Defaults for the zero fields of Config.
const (
	DefaultMinQuiet       = 100 * time.Millisecond
	DefaultMaxQuiet       = time.Second
	DefaultReloadInterval = 5 * time.Second
	DefaultDrainPoll      = time.Second
	DefaultReloadTimeout  = 15 * time.Second
	DefaultSpecPoll       = 2 * time.Second
	DefaultResync         = 30 * time.Second
	DefaultUnhealthyAfter = time.Minute
	DefaultLogRepeats     = time.Minute
	retryDelay            = time.Second
)

// Config is what an Agent needs. Zero durations take the defaults above.
type Config struct {
	// Spec is the loaded wsctl.yaml; its HAProxy sockets (or, for nginx,
	// its pid file) are the ones driven.
	Spec *spec.Spec
	// Target is the proxy driven: "haproxy" or "nginx" ("": the spec's
	// proxy). It is fixed for the agent's life; a spec change of proxy is
	// ignored.
	Target string
	// SpecFile, when set, is read every SpecPoll; a changed file that loads
	// replaces Spec (its HAProxy sockets excepted), one that does not is
	// logged and counted and the old spec stays.
	SpecFile string
	SpecPoll time.Duration
	// Reread, when set, takes the process's SIGHUP (systemctl reload,
	// signal.Notify): each one makes the agent read SpecFile at once and
	// compare the proxy with the desired state even when the spec is
	// unchanged. signal.Notify drops a signal while one is pending, so a
	// burst coalesces into one re-read.
	Reread <-chan os.Signal
	// NotifySocket is systemd's $NOTIFY_SOCKET ("": not run by systemd as
	// Type=notify). The agent sends READY=1 there once, after the first
	// complete sync (the proxy then carries the desired state), and
	// STOPPING=1 once Run's loop has ended, before RunServing stops
	// serving; a failure to send is logged and changes nothing else.
	NotifySocket string
	// ConfigFile is the config the running proxy loads; the agent keeps it
	// equal to the rendered desired state.
	ConfigFile string
	// MinQuiet and MaxQuiet debounce snapshots: the agent syncs once no
	// snapshot arrived for MinQuiet, and at the latest MaxQuiet after the
	// first unsynced one.
	MinQuiet, MaxQuiet time.Duration
	// ReloadInterval is the least time between two reloads.
	ReloadInterval time.Duration
	// DrainPoll is how often draining servers' sessions are counted
	// (HAProxy only).
	DrainPoll time.Duration
	// StateFile is where the agent keeps what it must finish after a
	// restart (its drains, a batch it was in the middle of); "" means
	// StateFileName beside the spec's haproxy.state_file. HAProxy only.
	StateFile string
	// ReloadTimeout bounds waiting for the new worker after a reload.
	ReloadTimeout time.Duration
	// Resync is how often the proxy is compared with the desired state
	// even when discovery is quiet, to repair changes made behind the
	// agent's back (a restarted HAProxy, a deleted server, an edited nginx
	// config).
	Resync time.Duration
	// Validator checks a new config before a reload. For nginx a zero Dir
	// becomes ConfigFile's directory, where nginx resolves relative paths.
	Validator proxy.Validator
	// Log receives the agent's logs, tagged component=agent (nil:
	// slog.Default()), and those of its discovery sources.
	Log *slog.Logger
	// AgentID names the agent in the fleet (package fleet), which it
	// joins when its intents live in Consul; "" is the node name of the
	// Consul agent it talks to.
	AgentID string
	// LogRepeats is the interval within which a warning or error that
	// repeats (a failure met at every sync or retry) is logged once, then
	// once per interval with its count (logging.Repeats); negative logs
	// every one.
	LogRepeats time.Duration
	// UnhealthyAfter is how long discovery may fail before /healthz
	// reports it (see Metrics.Unhealthy).
	UnhealthyAfter time.Duration
	// Build is the wsctl build, for wsctl_build_info (zero:
	// buildinfo.Read("")).
	Build buildinfo.Info
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.MinQuiet, DefaultMinQuiet)
	def(&c.MaxQuiet, DefaultMaxQuiet)
	def(&c.ReloadInterval, DefaultReloadInterval)
	def(&c.DrainPoll, DefaultDrainPoll)
	def(&c.ReloadTimeout, DefaultReloadTimeout)
	def(&c.SpecPoll, DefaultSpecPoll)
	def(&c.Resync, DefaultResync)
	def(&c.UnhealthyAfter, DefaultUnhealthyAfter)
	if c.LogRepeats == 0 {
		c.LogRepeats = DefaultLogRepeats
	}
	if c.Build == (buildinfo.Info{}) {
		c.Build = buildinfo.Read("")
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	return c
}

// Agent reconciles one proxy (HAProxy or nginx) with discovery. Create it
// with New; Run it once.
type Agent struct {
	cfg    Config
	target string // model.TargetHAProxy or model.TargetNginx
	log    *slog.Logger
	// repeats counts the repeated warnings and errors of log and
	// cfg.Log; Run reports the last counts when it ends.
	repeats *logging.RepeatsHandler
	metrics *Metrics
	spec    *spec.Spec
	// specText is the spec file as last read (SpecFile only).
	specText []byte
	rt       Runtime
	// edges are where the agent meets the world.
	edges edges

	// sources holds the latest snapshot of each source, by its name;
	// nSources is how many run.
	sources  map[string]discovery.Snapshot
	nSources int
	// applied is the merged snapshot last applied without error.
	applied map[string][]discovery.Instance
	// drains are the servers the agent drained, by reference.
	drains     map[haproxy.Ref]*drainState
	lastReload time.Time
	// retry forces the next sync even when the snapshot is unchanged.
	retry bool
	// nginx is the nginx target's state (nil for HAProxy).
	nginx *nginxState
	// intents are the operators' DRAIN/MAINT wishes (nil: none kept).
	intents intent.Store
	// changedAt is when the first snapshot not yet applied arrived: its
	// source's answer, when the source says (Snapshot.Arrived).
	changedAt time.Time
	// changeLive is set once a runtime batch applied some of the change
	// changedAt dates (Metrics.Runtime counts it once).
	changeLive bool
	// synced is set by the first complete sync; readySent once systemd
	// was told.
	synced, readySent bool
	// changing are the servers of a runtime batch not yet completed (see
	// ownWork); they are the agent's to bring to the desired state.
	changing map[haproxy.Ref]bool
	// ownSaved is what saveOwn last wrote, and where (empty: unknown).
	ownSaved struct {
		path string
		data []byte
	}
	// listed are the servers HAProxy had at the last sync's listing, by
	// backend, and those added since (see ahead); a backend whose
	// listing failed is absent.
	listed map[string]map[string]haproxy.ServerStatus
	// rejected is the last config `haproxy -c` refused: the same bytes are
	// not validated (nor logged) again.
	rejected []byte
	// loaded is the config HAProxy last loaded, as far as the agent knows:
	// the file at start, then what it reloaded or wrote. nil: unknown.
	loaded []byte
	// loadedModel is the model loaded was rendered from (nil: unknown,
	// or loaded is not such a rendering): a model of the same structure
	// changes servers only (see syncSnapshot).
	loadedModel *model.Model
	// loadedSpec is the spec loadedModel was built from.
	loadedSpec *spec.Spec
	// runCtx is Run's context; wg tracks the drains closing sessions in
	// the background, which report on drainResults.
	runCtx context.Context
	// handoverCancel stops the running hand-over (nil: none); its result
	// comes back on handoverResults, tagged with handoverGen.
	handoverCancel  context.CancelFunc
	handoverGen     int
	handoverResults chan handoverResult
	wg              sync.WaitGroup
	drainResults    chan drainResult
	// fleet is the agent's part in a fleet of load balancers (nil:
	// none; see fleet.go).
	fleet *fleetState
	// rebalances are the backends to rebalance after an add, or being
	// rebalanced, by name (see rebalance.go); each running one reports
	// on rebalanceResults.
	rebalances       map[string]*rebalanceState
	rebalanceResults chan rebalanceResult
}

// currentIntents returns the operators' intents (nil: none kept). A fleet
// member already follows them in its blocking query on the fleet's keys:
// once a view has been applied (fleetView) and no read of the keys failed
// since, the intents are that view's, and a sync in the path of every
// change costs no Consul read. Otherwise (the local file store, before
// the first view, or the member's reads failing) the store is read: an
// error then keeps the agent from setting servers ready.
func (a *Agent) currentIntents(ctx context.Context) (map[haproxy.Ref]intent.Intent, error) {
	if f := a.fleet; f != nil && f.last != nil && f.current() {
		return f.last.Intents, nil
	}
	if a.intents == nil {
		return nil, nil
	}
	return a.intents.Load(ctx)
}

// loadIntents returns the operators' intents by server (currentIntents).
func (a *Agent) loadIntents(ctx context.Context) (map[haproxy.Ref]haproxy.AdminState, error) {
	all, err := a.currentIntents(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[haproxy.Ref]haproxy.AdminState, len(all))
	for ref, i := range all {
		out[ref] = i.State
	}
	return out, nil
}

// New checks cfg and builds an agent. It does not contact HAProxy or Consul.
func New(cfg Config) (*Agent, error) {
	cfg = cfg.withDefaults()
	if cfg.Spec == nil {
		return nil, errors.New("agent: no spec")
	}
	if cfg.ConfigFile == "" {
		return nil, errors.New("agent: no proxy config file")
	}
	target := cmp.Or(cfg.Target, cfg.Spec.Proxy, model.TargetHAProxy)
	switch target {
	case model.TargetHAProxy:
		if cfg.Spec.HAProxy.AdminSocket == "" {
			return nil, errors.New("agent: the spec has no haproxy.admin_socket")
		}
	case model.TargetNginx:
		if cfg.Spec.Nginx.PidFile == "" {
			return nil, errors.New("agent: the spec has no nginx.pid_file")
		}
		if cfg.Validator.Dir == "" {
			cfg.Validator.Dir = filepath.Dir(cfg.ConfigFile)
		}
	default:
		return nil, fmt.Errorf("agent: target %q: want %q or %q", target, model.TargetHAProxy, model.TargetNginx)
	}
	repeats := logging.Repeats(cfg.Log.Handler(), cfg.LogRepeats)
	cfg.Log = slog.New(repeats)
	a := &Agent{
		cfg:     cfg,
		edges:   realEdges(cfg.Validator),
		target:  target,
		log:     cfg.Log.With("component", "agent"),
		repeats: repeats,
		metrics: newMetrics(cfg.Build, cfg.UnhealthyAfter),
		spec:    cfg.Spec,
		sources: map[string]discovery.Snapshot{},
		drains:  map[haproxy.Ref]*drainState{},

		changing:     map[haproxy.Ref]bool{},
		listed:       map[string]map[string]haproxy.ServerStatus{},
		drainResults: make(chan drainResult),

		handoverResults: make(chan handoverResult),

		rebalances:       map[string]*rebalanceState{},
		rebalanceResults: make(chan rebalanceResult),
	}
	if target == model.TargetNginx {
		a.nginx = &nginxState{}
	} else {
		store, err := intent.Open(a.spec)
		if err != nil {
			return nil, err
		}
		a.intents = store
		if a.fleet, err = a.newFleet(); err != nil {
			return nil, fmt.Errorf("agent: %w", err)
		}
	}
	a.cfg.Spec = nil // a.spec is the one in force
	if cfg.SpecFile != "" {
		text, err := spec.ReadFile(cfg.SpecFile)
		if err != nil {
			return nil, fmt.Errorf("agent: %w", err)
		}
		a.specText = text
	}
	// Fail early on unusable Consul settings; Run builds its own sources.
	if _, err := a.edges.sources(a.spec, cfg.Log); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	return a, nil
}

// Metrics returns the agent's counters; they are safe to read while Run runs.
func (a *Agent) Metrics() *Metrics { return a.metrics }

// RunServing runs the agent (Run) and, when l is not nil, serves Handler
// on it (Serve) until ctx ends: `wsctl agent`. A listener that fails stops
// the agent; the loop's error comes first, then the listener's.
func (a *Agent) RunServing(ctx context.Context, l net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var serveErr error
	if l != nil {
		wg.Go(func() {
			if serveErr = a.Serve(ctx, l); serveErr != nil {
				cancel()
			}
		})
	}
	err := a.Run(ctx)
	cancel()
	wg.Wait()
	if err != nil {
		return err
	}
	if serveErr != nil {
		return fmt.Errorf("metrics listener: %w", serveErr)
	}
	return nil
}

// Run follows discovery and reconciles the proxy until ctx ends, then
// returns nil once every goroutine it started has stopped. It fails at once
// only when HAProxy's admin socket cannot be reached at start.
func (a *Agent) Run(ctx context.Context) error {
	defer a.repeats.Flush()
	defer a.notify(sdnotify.Stopping)
	var drainC <-chan time.Time
	if a.nginx == nil {
		rt, err := a.edges.dial(ctx, a.spec.HAProxy.AdminSocket, 0)
		if err != nil {
			return fmt.Errorf("agent: %w", err)
		}
		a.rt = rt
		drainTick := time.NewTicker(a.cfg.DrainPoll)
		defer drainTick.Stop()
		drainC = drainTick.C
		a.loadOwn()
		// The rendered config loads the state file: create it now, so no
		// reload (nor a restart of HAProxy) ever warns it is missing.
		if _, err := serverstate.Ensure(a.spec.HAProxy.StateFile); err != nil {
			a.metrics.StateErrors.Add(1)
			a.log.Error("create the server state file", "err", err)
		}
		// What HAProxy runs now, as far as a file can tell; a missing
		// file makes the first sync reload with the rendered config.
		a.loaded, _ = inputfile.Read(a.cfg.ConfigFile, inputfile.MaxConfig)
	}
	ctx, cancel := context.WithCancel(ctx)
	a.runCtx = ctx
	var wg sync.WaitGroup
	defer wg.Wait()
	defer a.wg.Wait()
	defer cancel()
	var fleetViews <-chan *fleet.View
	var fleetResults <-chan fleetResult
	if a.fleet != nil {
		fleetViews, fleetResults = a.fleet.views, a.fleet.results
		wg.Go(func() {
			if err := a.fleet.member.Run(ctx, a.fleet.views); err != nil {
				a.log.Error("fleet", "err", err)
			}
		})
	}

	snaps := make(chan discovery.Snapshot)
	// The sources run under their own context so a spec change can
	// replace them.
	var stopSources func()
	startSources := func(srcs []discovery.Source) {
		sctx, scancel := context.WithCancel(ctx)
		var running sync.WaitGroup
		for _, src := range srcs {
			if c, ok := src.(*consul.Source); ok {
				a.metrics.consul.Store(c)
			}
			running.Go(func() { _ = src.Run(sctx, snaps) })
		}
		wg.Go(func() { <-sctx.Done(); running.Wait() })
		a.nSources = len(srcs)
		stopSources = func() {
			scancel()
			done := make(chan struct{})
			go func() { running.Wait(); close(done) }()
			for {
				select {
				case <-done:
					for _, src := range srcs {
						if c, ok := src.(*consul.Source); ok {
							a.metrics.consul.CompareAndSwap(c, nil)
							a.metrics.retire(c)
						}
					}
					return
				case <-snaps: // the old sources' last words
				}
			}
		}
	}
	srcs, err := a.edges.sources(a.spec, a.cfg.Log)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	startSources(srcs)

	resyncTick := time.NewTicker(a.cfg.Resync)
	defer resyncTick.Stop()
	var specTick <-chan time.Time
	if a.cfg.SpecFile != "" {
		t := time.NewTicker(a.cfg.SpecPoll)
		defer t.Stop()
		specTick = t.C
	}
	deb := &debounce{minQuiet: a.cfg.MinQuiet, maxQuiet: a.cfg.MaxQuiet}
	defer deb.stop()
	// reread reads the spec file and, when it changed and loads, switches
	// to it and its sources.
	reread := func() {
		s := a.rereadSpec()
		if s == nil {
			return
		}
		srcs, err := a.edges.sources(s, a.cfg.Log)
		if err != nil {
			a.metrics.SpecErrors.Add(1)
			a.log.Error("spec changed but its discovery settings are unusable; keeping the old spec", "err", err)
			return
		}
		stopSources()
		a.spec = s
		clear(a.sources)
		startSources(srcs)
		a.retry = true
		deb.schedule(0)
	}
	syncNow := func() {
		deb.stop()
		if a.syncAndRetry(ctx, deb.schedule) {
			deb.lastSync = time.Now()
		}
	}
	deb.schedule(0) // anything already running
	for {
		quiet, deadline := deb.channels()
		select {
		case <-ctx.Done():
			a.fleetRebalanceStop()
			return nil
		case s := <-snaps:
			a.sources[s.Source] = s
			arrived := time.Now()
			if !s.Arrived.IsZero() && s.Arrived.Before(arrived) {
				arrived = s.Arrived
			}
			a.metrics.changeArrived(arrived)
			if a.changedAt.IsZero() {
				a.changedAt = arrived
			}
			deb.changed(time.Now())
		case <-quiet:
			syncNow()
		case <-deadline:
			syncNow()
		case <-drainC:
			servers := a.serversOnce(ctx)
			a.progressDrains(ctx, servers)
			a.fleetTick(ctx, servers)
			a.rebalanceTick(ctx, servers)
		case v := <-fleetViews:
			if a.fleetView(ctx, v) {
				a.retry = true
				deb.schedule(0)
			}
		case r := <-fleetResults:
			a.fleetDone(r)
		case r := <-a.drainResults:
			a.drainClosed(ctx, r)
		case r := <-a.handoverResults:
			a.handoverEnded(r)
		case r := <-a.rebalanceResults:
			a.rebalanceEnded(r)
			// The donors are READY again: holds and drains that came
			// meanwhile are planned anew.
			a.retry = true
			deb.schedule(0)
		case <-resyncTick.C:
			a.retry = true
			deb.schedule(0)
		case <-specTick:
			reread()
		case <-a.cfg.Reread:
			a.log.Info("SIGHUP: reading the spec again")
			reread()
			a.retry = true
			deb.schedule(0)
		}
	}
}

// syncAndRetry syncs and, when something failed or was postponed,
// schedules another try. It reports whether the sync ran (every source had
// reported).
func (a *Agent) syncAndRetry(ctx context.Context, schedule func(time.Duration)) bool {
	wait, ran := a.sync(ctx)
	a.notifyReady()
	if wait > 0 && ctx.Err() == nil {
		a.retry = true
		schedule(wait)
	}
	return ran
}

// merged joins the sources' snapshots (each reports its own backends). ok
// is false until every source reported.
func (a *Agent) merged() (map[string][]discovery.Instance, bool) {
	if len(a.sources) < a.nSources {
		return nil, false
	}
	out := map[string][]discovery.Instance{}
	for _, name := range slices.Sorted(maps.Keys(a.sources)) {
		maps.Copy(out, a.sources[name].Backends)
	}
	return out, true
}

// sync applies the current snapshot. It returns how long to wait before
// trying again when something failed or was postponed, else 0; ran is false
// when not every source has reported yet, and nothing was done.
func (a *Agent) sync(ctx context.Context) (wait time.Duration, ran bool) {
	snap, ok := a.merged()
	if !ok {
		return 0, false
	}
	return a.syncSnapshot(ctx, snap), true
}

// syncSnapshot brings the proxy to snap; it returns sync's wait.
func (a *Agent) syncSnapshot(ctx context.Context, snap map[string][]discovery.Instance) time.Duration {
	a.keepNonEmpty(snap)
	// Compared typed, not with reflect.DeepEqual: with 1,000 servers
	// that was a few hundred microseconds of every change's path.
	if !a.retry && a.applied != nil && maps.EqualFunc(snap, a.applied, slices.Equal) {
		a.metrics.SnapshotsDropped.Add(1)
		return 0
	}
	a.retry = false
	a.metrics.Syncs.Add(1)
	if a.nginx != nil {
		return a.syncNginx(ctx, snap)
	}
	a.rt.Predial()
	m, early, ok, needReload := a.syncEarly(ctx, snap)
	if m == nil {
		return 0
	}
	text := a.text(m)
	var wait time.Duration
	write, reloaded := text != nil, false
	// HAProxy runs what it last loaded, whatever the file holds now: a
	// deleted or edited file is rewritten, never a reason to reload.
	if text != nil && StructureChanged(a.loaded, text) {
		write, reloaded = false, true
		wait = a.reload(ctx, text)
	}
	if !early || reloaded {
		ok, needReload = a.applyRuntime(ctx, m)
	}
	if needReload && text != nil && !reloaded {
		write = false
		if wait = a.reload(ctx, text); wait == 0 {
			ok, _ = a.applyRuntime(ctx, m)
		}
	}
	failed := !ok
	if write && !failed {
		changed, err := a.edges.write(a.cfg.ConfigFile, text)
		a.metrics.configWritten(err)
		if err != nil {
			a.log.Error("write config", "err", err)
			failed = true
		} else {
			a.loaded = text
			if changed {
				a.metrics.ConfigWrites.Add(1)
			}
		}
	}
	if failed {
		return max(wait, a.edges.retry)
	}
	if wait == 0 {
		a.applied = snap
		// HAProxy loaded text (written, reloaded, or already there).
		a.loadedModel, a.loadedSpec = nil, nil
		if text != nil {
			a.loadedModel, a.loadedSpec = m, a.spec
		}
	}
	a.markSynced()
	if wait == 0 && !a.changedAt.IsZero() {
		a.metrics.Convergence.Observe(time.Since(a.changedAt))
		a.changedAt, a.changeLive = time.Time{}, false
	}
	return wait
}

// keepNonEmpty replaces, in snap, every backend discovery reports empty but
// that had instances when last applied: an empty backend is far more often
// a discovery fault than the truth, and it would cut every client.
func (a *Agent) keepNonEmpty(snap map[string][]discovery.Instance) {
	for name, in := range snap {
		if len(in) == 0 && len(a.applied[name]) > 0 {
			a.metrics.EmptyKept.Add(1, name)
			a.log.Error("discovery reports no instance for a backend that has some; keeping the last ones", "backend", name, "kept", len(a.applied[name]))
			snap[name] = a.applied[name]
		}
	}
}

// syncEarly builds the model of snap (nil, logged, when it cannot be
// built) and, when HAProxy loaded the rendering of a model of the same
// structure, applies it at runtime (early; ok and reload are
// applyRuntime's) before the config is rendered, checked and written
// (milliseconds with 1,000 servers, in the path of every registration).
// The runtime path never depended on the text (it follows the model even
// when rendering fails), and the rendered text is still compared with
// what HAProxy loaded after this: a template whose structure does depend
// on the servers gets its reload, and the runtime batch after it, as
// before.
//
// What a registration needs (Agent.ahead) is made first on the sync's
// connection, before even the model is built, from the instances that
// changed since the last applied snapshot (aheadModel), when the spec is
// the one HAProxy's model was built from: an add into 1,000 servers
// reached HAProxy 0.18 ms into the sync instead of 0.62 ms, idle
// (BenchmarkSyncOneRegistration). A model that then fails to build (a
// stats auth file gone) leaves what the ahead made, which discovery asked
// for; the failure is logged as before.
func (a *Agent) syncEarly(ctx context.Context, snap map[string][]discovery.Instance) (m *model.Model, early, ok, reload bool) {
	if a.loadedModel == nil || a.loadedSpec != a.spec {
		m = a.model(model.TargetHAProxy, snap)
		if m == nil || a.loadedModel == nil || !sameStructure(a.loadedModel, m) {
			return m, false, false, false
		}
		ok, reload = a.applyRuntime(ctx, m)
		return m, true, ok, reload
	}
	built := false
	err := a.rt.Session(ctx, func(c haproxy.Conn) error {
		if changed := a.aheadModel(snap); changed != nil {
			a.ahead(ctx, c, changed)
		}
		m, built = a.model(model.TargetHAProxy, snap), true
		if early = m != nil && sameStructure(a.loadedModel, m); early {
			ok, reload = a.applyOn(ctx, c, m)
		}
		return nil
	})
	if !built {
		m = a.model(model.TargetHAProxy, snap)
		early = m != nil && sameStructure(a.loadedModel, m)
	}
	if err != nil && early {
		a.listFailed(m, err)
		return m, true, false, false
	}
	return m, early, ok, reload
}

// applyRuntime plans against what HAProxy runs and applies the plan in one
// batch, all on one connection to the admin socket (listing, batch and its
// read-back: haproxy.Client.Session), which this pays once per sync
// instead of once per step. ok reports whether everything succeeded;
// reload that the plan holds changes the runtime API cannot make (a host
// name where HAProxy takes IP addresses, a cookie on a server added to
// HAProxy 2.6), which only a reload applies.
func (a *Agent) applyRuntime(ctx context.Context, m *model.Model) (ok, reload bool) {
	err := a.rt.Session(ctx, func(c haproxy.Conn) error {
		ok, reload = a.applyOn(ctx, c, m)
		return nil
	})
	if err != nil {
		a.listFailed(m, err)
		return false, false
	}
	return ok, reload
}

// listFailed logs and counts err, why no session could list m's backends.
// Nothing was listed, so nothing is planned: a batch a previous run left
// unfinished stays the agent's to finish.
func (a *Agent) listFailed(m *model.Model, err error) {
	for _, b := range m.Backends {
		a.log.Error("list servers", "backend", b.Name, "err", err)
		a.metrics.RuntimeErrors.Add(1, b.Name, opList)
	}
	a.metrics.haproxyAnswered(err)
}

// applyOn is applyRuntime on the connection c.
//
// The servers are listed with States, not Servers: this runs for every
// membership change, and `show stat` (sessions) would cost ten times as
// much as `show servers state` with 1,000 servers. Only a readmission
// depends on sessions: it reads its server's own row in the write that
// readmits it (haproxy.ChangeReadmit).
func (a *Agent) applyOn(ctx context.Context, c haproxy.Conn, m *model.Model) (ok, reload bool) {
	running := map[string][]haproxy.ServerStatus{}
	ok = true
	var unanswered error
	for _, b := range m.Backends {
		servers, err := c.States(b.Name)
		if err != nil {
			delete(a.listed, b.Name)
		}
		if errors.Is(err, haproxy.ErrUnknownBackend) {
			continue
		}
		if err != nil {
			a.log.Error("list servers", "backend", b.Name, "err", err)
			a.metrics.RuntimeErrors.Add(1, b.Name, opList)
			unanswered = cmp.Or(unanswered, err)
			ok = false
			continue
		}
		running[b.Name] = servers
		a.list(b.Name, servers)
	}
	a.metrics.haproxyAnswered(unanswered)
	a.forgetOvertaken()
	owned := make(map[haproxy.Ref]bool, len(a.drains)+len(a.changing))
	for ref := range a.drains {
		owned[ref] = true
	}
	maps.Copy(owned, a.changing)
	ops := Plan(running, m, owned)
	intents, err := a.loadIntents(ctx)
	if err != nil {
		// Without the intents, setting a server ready could undo an
		// operator's drain: skip that until they can be read.
		a.metrics.IntentErrors.Add(1)
		a.log.Error("operator intents unreadable; no server is set ready meanwhile", "err", err)
		ok = false
		ops = slices.DeleteFunc(ops, func(op Op) bool { return op.Kind == OpReady })
	}
	ops = WithIntents(ops, running, intents)
	a.metrics.backendsSeen(Availabilities(running, owned, intents))
	// A server a fleet operation drives is set by that operation alone: a
	// hold planned from a state read before its drain began would set
	// DRAIN again over the MAINT the drain set.
	ops = slices.DeleteFunc(ops, func(op Op) bool { return op.Kind == OpHold && a.fleetDrives(op.Backend, op.Server.Name) })
	n := len(ops)
	ops = slices.DeleteFunc(ops, func(op Op) bool { return !a.runtimeCan(op) })
	reload = len(ops) < n
	if !a.applyOps(c, m, running, ops, true) {
		ok = false
	}
	return ok, reload
}

// desired renders snap for target through the same path as `wsctl render`
// (the spec's template, resolved against the spec's directory); failures
// are logged and counted. The model is nil when it could not be built; the
// text is nil when only the template or the parse-back check failed
// (runtime changes can still follow the model).
func (a *Agent) desired(target string, snap map[string][]discovery.Instance) (*model.Model, []byte) {
	m := a.model(target, snap)
	if m == nil {
		return nil, nil
	}
	return m, a.text(m)
}

// model is desired's first half: the model of snap (nil, logged and
// counted, when it cannot be built).
func (a *Agent) model(target string, snap map[string][]discovery.Instance) *model.Model {
	m, err := model.Build(a.spec, target, discovery.Snapshot{Backends: snap})
	if err != nil {
		a.metrics.RenderErrors.Add(1)
		a.log.Error("render config", "err", err)
	}
	return m
}

// text is desired's second half: m rendered and checked (nil, logged and
// counted, when that fails).
func (a *Agent) text(m *model.Model) []byte {
	text, err := render.Text(a.spec, m, "")
	if err != nil {
		a.metrics.RenderErrors.Add(1)
		a.log.Error("render config", "err", err)
	}
	return text
}

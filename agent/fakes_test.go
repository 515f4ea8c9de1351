package agent

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/wsctl/wsctl/discovery"
	"github.com/wsctl/wsctl/fleet"
	"github.com/wsctl/wsctl/handover"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/haproxy/haproxytest"
	"github.com/wsctl/wsctl/intent"
	"github.com/wsctl/wsctl/proxy"
	"github.com/wsctl/wsctl/spec"
)

// The unit tests' fakes: an HAProxy (fakeHAProxy), a discovery source
// (fakeSource) and an intents store (fakeIntents), and newUnit, which
// builds an agent on them. The agent's loop runs as in production; only
// its edges (see edges) are replaced. Files (the config, the state file)
// are real, in a temp dir.

// fakeHAProxy is HAProxy as the agent sees it through Runtime: servers by
// backend, each with its sessions. Every change is recorded in calls, in
// order; load replaces the servers with a config's, as a reload does.
type fakeHAProxy struct {
	// applyErr, when set, fails a change of Apply instead of making it.
	applyErr func(haproxy.Change) error
	// reconnect, when set, makes the client of every session shut down
	// reconnect at once, leastconn: to the server of its backend that
	// takes clients with the fewest sessions (none: it stays away).
	reconnect bool
	// reconnected counts the sessions reconnected, by server.
	reconnected map[string]int

	mu       sync.Mutex
	pid      int64
	backends map[string][]*fakeServer
	calls    []string
	// batches counts the Apply calls that carried changes.
	batches int
	// predials counts the calls of Predial.
	predials int
	// statReads counts the listings with sessions (Servers: `show stat`,
	// and WithStats); statRows counts the servers they read, and the rows
	// ChangeReadmit reads.
	statReads, statRows int
	// conns counts the admin-socket connections the agent's syncs open:
	// one per call of States, Servers and Apply, one per Session.
	conns int
	// listings counts the listings without sessions (States).
	listings int
	// lastID is the ID the last server put in place got.
	lastID int64
}

type fakeServer struct {
	st       haproxy.ServerStatus
	sessions []haproxy.SessionID
}

var _ Runtime = (*fakeHAProxy)(nil)

func newFakeHAProxy() *fakeHAProxy {
	return &fakeHAProxy{pid: 100, backends: map[string][]*fakeServer{}}
}

func (f *fakeHAProxy) Path() string { return "fake.sock" }

func (f *fakeHAProxy) Info() haproxy.Info {
	f.mu.Lock()
	defer f.mu.Unlock()
	return haproxy.Info{Version: "2.6.12", Pid: f.pid}
}

func (f *fakeHAProxy) Pid(context.Context) (int64, error) { return f.Info().Pid, nil }

// ServersStateText is a state file with no server: what the agent saves
// before a reload matters to HAProxy, not to the loop under test.
func (f *fakeHAProxy) ServersStateText(context.Context) (string, error) { return "1\n", nil }

func (f *fakeHAProxy) Servers(_ context.Context, backend string) ([]haproxy.ServerStatus, error) {
	f.dialled()
	return f.withStats(backend)
}

// States is Servers without what `show stat` adds.
func (f *fakeHAProxy) States(_ context.Context, backend string) ([]haproxy.ServerStatus, error) {
	f.dialled()
	return f.states(backend)
}

// Predial counts the predials.
func (f *fakeHAProxy) Predial() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.predials++
}

// Session runs fn on one connection: fakeConn, the same HAProxy.
func (f *fakeHAProxy) Session(_ context.Context, fn func(haproxy.Conn) error) error {
	f.dialled()
	return fn(fakeConn{f})
}

// fakeConn is a connection Session lends.
type fakeConn struct{ f *fakeHAProxy }

func (c fakeConn) States(backend string) ([]haproxy.ServerStatus, error) {
	return c.f.states(backend)
}

func (c fakeConn) Servers(backend string) ([]haproxy.ServerStatus, error) {
	return c.f.withStats(backend)
}

// WithStats reads the servers' sessions by name.
func (c fakeConn) WithStats(servers []haproxy.ServerStatus) ([]haproxy.ServerStatus, error) {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	c.f.statReads++
	c.f.statRows += len(servers)
	out := make([]haproxy.ServerStatus, len(servers))
	for i, s := range servers {
		fs, err := c.f.find(s.Backend, s.Server)
		if err != nil {
			return nil, err
		}
		out[i] = fs.status()
	}
	return out, nil
}

func (c fakeConn) Apply(changes []haproxy.Change) []error { return c.f.apply(changes) }

// dialled counts a connection.
func (f *fakeHAProxy) dialled() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.conns++
}

func (f *fakeHAProxy) withStats(backend string) ([]haproxy.ServerStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.statReads++
	all, err := f.servers(backend)
	f.statRows += len(all)
	return all, err
}

func (f *fakeHAProxy) states(backend string) ([]haproxy.ServerStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listings++
	all, err := f.servers(backend)
	for i := range all {
		all[i].Scur, all[i].Smax, all[i].Stot, all[i].Check, all[i].Weight = 0, 0, 0, "", 0
	}
	return all, err
}

// servers lists backend's servers (all with ""); f.mu is held.
func (f *fakeHAProxy) servers(backend string) ([]haproxy.ServerStatus, error) {
	var names []string
	if backend == "" {
		names = slices.Sorted(func(yield func(string) bool) {
			for b := range f.backends {
				if !yield(b) {
					return
				}
			}
		})
	} else if _, ok := f.backends[backend]; ok {
		names = []string{backend}
	} else {
		return nil, &haproxy.UnknownBackendError{Name: backend}
	}
	var out []haproxy.ServerStatus
	for _, b := range names {
		for _, s := range f.backends[b] {
			out = append(out, s.status())
		}
	}
	return out, nil
}

func (f *fakeHAProxy) Server(_ context.Context, backend, server string) (haproxy.ServerStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.find(backend, server)
	if err != nil {
		return haproxy.ServerStatus{}, err
	}
	return s.status(), nil
}

func (f *fakeHAProxy) SetState(_ context.Context, backend, server string, state haproxy.AdminState) error {
	return f.change(haproxy.Change{Kind: haproxy.ChangeState, Backend: backend, Server: server, State: state})
}

func (f *fakeHAProxy) Sessions(_ context.Context, backend, server string) ([]haproxy.SessionID, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.find(backend, server)
	if err != nil {
		return nil, err
	}
	return slices.Clone(s.sessions), nil
}

func (f *fakeHAProxy) ShutdownSessionsEach(ctx context.Context, backend, server string, next func() ([]haproxy.SessionID, bool)) (int, error) {
	return haproxytest.ShutdownEach(next, func(id haproxy.SessionID) error { return f.ShutdownSession(ctx, backend, server, id) })
}

func (f *fakeHAProxy) ShutdownSession(_ context.Context, backend, server string, id haproxy.SessionID) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.find(backend, server)
	if err != nil {
		return err
	}
	f.calls = append(f.calls, "shutdown session "+backend+"/"+server)
	n := len(s.sessions)
	s.sessions = slices.DeleteFunc(s.sessions, func(x haproxy.SessionID) bool { return x == id })
	if !f.reconnect || len(s.sessions) == n {
		return nil
	}
	var to *fakeServer
	for _, c := range f.backends[backend] {
		if c.status().TakesClients() && (to == nil || len(c.sessions) < len(to.sessions)) {
			to = c
		}
	}
	if to != nil {
		to.sessions = append(to.sessions, id+"r")
		if f.reconnected == nil {
			f.reconnected = map[string]int{}
		}
		f.reconnected[to.st.Server]++
	}
	return nil
}

// SessionsByAge lists a server's sessions, the first connected first.
func (f *fakeHAProxy) SessionsByAge(_ context.Context, backend, server string) ([]haproxy.WorkerSession, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.find(backend, server)
	if err != nil {
		return nil, err
	}
	out := make([]haproxy.WorkerSession, len(s.sessions))
	for i, id := range s.sessions {
		out[i] = haproxy.WorkerSession{ID: id, Backend: backend, Server: server, Age: time.Duration(len(s.sessions)-i) * time.Second}
	}
	return out, nil
}

// Readmit makes the changes haproxy.Client.Readmit makes.
func (f *fakeHAProxy) Readmit(ctx context.Context, backend, server string) error {
	st, err := f.Server(ctx, backend, server)
	if err != nil {
		return err
	}
	return f.Apply(ctx, []haproxy.Change{{Kind: haproxy.ChangeReadmit, Backend: backend, Server: server, ID: st.ID, Checked: st.Checked, State: st.Admin}})[0]
}

// connect adds n clients to a server.
func (f *fakeHAProxy) connect(backend, server string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.find(backend, server)
	if err != nil {
		panic(err)
	}
	for i := range n {
		s.sessions = append(s.sessions, haproxy.SessionID(fmt.Sprintf("0x%s%d", server, i)))
	}
}

func (f *fakeHAProxy) ShutdownSessions(_ context.Context, backend, server string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.find(backend, server)
	if err != nil {
		return err
	}
	f.calls = append(f.calls, "shutdown sessions "+backend+"/"+server)
	s.sessions = nil
	return nil
}

func (f *fakeHAProxy) Apply(_ context.Context, changes []haproxy.Change) []error {
	f.dialled()
	return f.apply(changes)
}

func (f *fakeHAProxy) apply(changes []haproxy.Change) []error {
	errs := make([]error, len(changes))
	if len(changes) == 0 {
		return errs
	}
	f.mu.Lock()
	f.batches++
	f.mu.Unlock()
	for i, ch := range changes {
		errs[i] = f.change(ch)
	}
	return errs
}

// change makes one change and records it, as "state ws/a DRAIN".
func (f *fakeHAProxy) change(ch haproxy.Change) error {
	if f.applyErr != nil {
		if err := f.applyErr(ch); err != nil {
			return err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ref := ch.Backend + "/" + ch.Server
	if ch.Kind == haproxy.ChangeAdd {
		if _, err := f.find(ch.Backend, ch.Server); err == nil {
			return fmt.Errorf("%w: add %s: already exists", haproxy.ErrNotAdded, ref)
		}
		f.calls = append(f.calls, fmt.Sprintf("add %s %s:%d", ref, ch.Addr, ch.Port))
		f.backends[ch.Backend] = append(f.backends[ch.Backend], f.server(haproxy.ServerStatus{
			Backend: ch.Backend, Server: ch.Server, Addr: netip.AddrPortFrom(ch.Addr, uint16(ch.Port)).String(),
			UserWeight: int64(ch.Options.Weight),
		}))
		return nil
	}
	s, err := f.find(ch.Backend, ch.Server)
	if err != nil {
		return err
	}
	switch ch.Kind {
	case haproxy.ChangeState:
		f.calls = append(f.calls, fmt.Sprintf("state %s %s", ref, ch.State))
		// As HAProxy: the config's maint bit stays, a marker only.
		s.st.Flags &^= haproxy.FlagForcedDrain | haproxy.FlagForcedMaint
		switch ch.State {
		case haproxy.Drain:
			s.st.Flags |= haproxy.FlagForcedDrain
		case haproxy.Maint:
			s.st.Flags |= haproxy.FlagForcedMaint
		}
	case haproxy.ChangeHealth:
		f.calls = append(f.calls, fmt.Sprintf("health %s %s", ref, ch.Health))
	case haproxy.ChangeAddr:
		s.st.Addr = netip.AddrPortFrom(ch.Addr, uint16(ch.Port)).String()
		f.calls = append(f.calls, fmt.Sprintf("addr %s %s", ref, s.st.Addr))
	case haproxy.ChangeWeight:
		f.calls = append(f.calls, fmt.Sprintf("weight %s %d", ref, ch.Weight))
		s.st.UserWeight = int64(ch.Weight)
	case haproxy.ChangeReadmit:
		// As HAProxy runs it: the row at ch.ID read, READY set in the
		// same write unless the server was last seen in MAINT with
		// checks, and from MAINT (checked, no session) the way back
		// through a forced health down.
		f.statRows++
		was := s.status()
		first := ch.State != haproxy.Maint || !ch.Checked
		if s.st.ID != ch.ID && !first {
			return &haproxy.UnknownServerError{Name: ref}
		}
		if first {
			f.calls = append(f.calls, fmt.Sprintf("state %s %s", ref, haproxy.Ready))
		}
		s.st.Flags &^= haproxy.FlagForcedDrain | haproxy.FlagForcedMaint
		if s.st.ID == ch.ID && was.Admin == haproxy.Maint && ch.Checked && len(s.sessions) == 0 {
			f.calls = append(f.calls, fmt.Sprintf("state %s %s", ref, haproxy.Drain), fmt.Sprintf("health %s %s", ref, haproxy.HealthDown),
				fmt.Sprintf("state %s %s", ref, haproxy.Ready))
		} else if !first {
			f.calls = append(f.calls, fmt.Sprintf("state %s %s", ref, haproxy.Ready))
		}
	case haproxy.ChangeDelete:
		if s.status().Admin != haproxy.Maint || len(s.sessions) > 0 {
			return fmt.Errorf("del server %s: not in MAINT with no session", ref)
		}
		f.calls = append(f.calls, "delete "+ref)
		f.backends[ch.Backend] = slices.DeleteFunc(f.backends[ch.Backend], func(x *fakeServer) bool { return x == s })
	default:
		return fmt.Errorf("change %q of %s", ch.Kind, ref)
	}
	return nil
}

// find returns a server; f.mu is held.
func (f *fakeHAProxy) find(backend, server string) (*fakeServer, error) {
	for _, s := range f.backends[backend] {
		if s.st.Server == server {
			return s, nil
		}
	}
	return nil, &haproxy.UnknownServerError{Name: backend + "/" + server}
}

// status is the server as Servers reports it.
func (s *fakeServer) status() haproxy.ServerStatus {
	st := s.st
	st.Scur = int64(len(s.sessions))
	st.Admin = st.Flags.State()
	// Checks always pass here: MAINT alone takes a server down.
	st.State, st.Status = haproxy.Up, "UP"
	switch st.Admin {
	case haproxy.Maint:
		st.State, st.Status = haproxy.Down, "MAINT"
	case haproxy.Drain:
		st.Status = "DRAIN"
	}
	return st
}

// server is a new server with the next ID, as HAProxy numbers them; f.mu
// is held.
func (f *fakeHAProxy) server(st haproxy.ServerStatus) *fakeServer {
	f.lastID++
	st.ID = f.lastID
	return &fakeServer{st: st}
}

// set puts a server in place with state flags and n sessions.
func (f *fakeHAProxy) set(backend, server, addr string, flags haproxy.AdminFlags, sessions int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.find(backend, server)
	if err != nil {
		s = f.server(haproxy.ServerStatus{Backend: backend, Server: server})
		f.backends[backend] = append(f.backends[backend], s)
	}
	s.st.Addr, s.st.Flags, s.st.UserWeight = addr, flags, 100
	s.sessions = nil
	for i := range sessions {
		s.sessions = append(s.sessions, haproxy.SessionID(fmt.Sprintf("0x%x", i+1)))
	}
}

// load replaces every server with those of an HAProxy config (the agent's
// template's `server NAME ADDR [weight N] [disabled]` lines) under a new
// pid, as a reload does.
func (f *fakeHAProxy) load(config []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pid++
	f.backends = map[string][]*fakeServer{}
	var backend string
	sc := bufio.NewScanner(bytes.NewReader(config))
	for sc.Scan() {
		w := strings.Fields(sc.Text())
		switch {
		case len(w) == 2 && w[0] == "backend":
			backend = w[1]
			f.backends[backend] = nil
		case len(w) >= 3 && w[0] == "server" && backend != "":
			s := f.server(haproxy.ServerStatus{Backend: backend, Server: w[1], Addr: w[2], UserWeight: 100})
			for i := 3; i < len(w); i++ {
				switch w[i] {
				case "weight":
					if i+1 < len(w) {
						s.st.UserWeight, _ = strconv.ParseInt(w[i+1], 10, 64)
					}
				case "disabled":
					s.st.Flags |= haproxy.FlagForcedMaint | haproxy.FlagConfigMaint
				}
			}
			f.backends[backend] = append(f.backends[backend], s)
		}
	}
}

// took returns the changes recorded since the last call.
func (f *fakeHAProxy) took() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.calls
	f.calls = nil
	return out
}

// admin is a server's administrative state ("" when HAProxy has none).
func (f *fakeHAProxy) admin(backend, server string) haproxy.AdminState {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.find(backend, server)
	if err != nil {
		return ""
	}
	return s.status().Admin
}

func (f *fakeHAProxy) applies() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.batches
}

// fakeSource is a discovery.Source a test drives: each map sent on feed
// goes out as a snapshot.
type fakeSource struct {
	feed chan discovery.Snapshot
	// done, when set, is closed when Run returns.
	done chan struct{}
}

var _ discovery.Source = (*fakeSource)(nil)

func (f *fakeSource) Run(ctx context.Context, out chan<- discovery.Snapshot) error {
	if f.done != nil {
		defer close(f.done)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case snap := <-f.feed:
			select {
			case out <- snap:
			case <-ctx.Done():
				return nil
			}
		}
	}
}

// send hands the agent one snapshot of backend ws.
func (f *fakeSource) send(instances ...discovery.Instance) {
	f.sendArrived(time.Time{}, instances...)
}

// sendArrived is send of a snapshot whose answer arrived at arrived.
func (f *fakeSource) sendArrived(arrived time.Time, instances ...discovery.Instance) {
	f.feed <- discovery.Snapshot{Source: "fake", Backends: map[string][]discovery.Instance{"ws": instances}, Arrived: arrived}
}

// fakeIntents is an intent.Store in memory.
type fakeIntents struct {
	mu  sync.Mutex
	all map[haproxy.Ref]intent.Intent
	// loads counts the reads.
	loads int
}

var _ intent.Store = (*fakeIntents)(nil)

func (f *fakeIntents) Load(context.Context) (map[haproxy.Ref]intent.Intent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.loads++
	out := make(map[haproxy.Ref]intent.Intent, len(f.all))
	for k, v := range f.all {
		out[k] = v
	}
	return out, nil
}

func (f *fakeIntents) Put(_ context.Context, i intent.Intent) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.all == nil {
		f.all = map[haproxy.Ref]intent.Intent{}
	}
	f.all[i.Ref()] = i
	return nil
}

func (f *fakeIntents) Delete(_ context.Context, ref haproxy.Ref) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.all, ref)
	return nil
}

func (f *fakeIntents) Where() string { return "memory" }

// unitSpec is a one-backend spec; its sockets are never dialled.
const unitSpec = `
heartbeat: 30s
connections: 1000
listeners:
  - name: front
    bind: 127.0.0.1:1
    default_backend: ws
backends:
  - name: ws
    drain_timeout: DRAIN_TIMEOUT
    close_rate: 100
haproxy:
  admin_socket: DIR/admin.sock
  master_socket: DIR/master.sock
`

// unit is an agent on fakes.
type unit struct {
	a       *Agent
	hap     *fakeHAProxy
	src     *fakeSource
	intents *fakeIntents
	dir     string

	mu sync.Mutex
	// writes are the config writes; reloads the times of the reloads
	// asked for.
	writes int
	// handovers counts the hand-overs started after reloads.
	handovers, handoversEnded int
	reloads                   []time.Time
	// reloadErr, when set, fails the next reload.
	reloadErr error
	// validateErr, when set, rejects every config.
	validateErr error
}

// newUnit builds an agent on fakes with cfg (its Spec and ConfigFile are
// filled in, its Log when nil, and with a Reread its SpecFile, the spec's file in u.dir;
// drainTimeout is the backend's drain_timeout). The config file does not
// exist yet.
func newUnit(t testing.TB, drainTimeout string, cfg Config) *unit {
	t.Helper()
	u := &unit{
		hap:     newFakeHAProxy(),
		src:     &fakeSource{feed: make(chan discovery.Snapshot)},
		intents: &fakeIntents{},
		dir:     t.TempDir(),
	}
	specFile := u.writeSpec(t, drainTimeout)
	s, err := spec.Load(specFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Spec = s
	if cfg.Reread != nil {
		cfg.SpecFile = specFile
	}
	cfg.ConfigFile = filepath.Join(u.dir, "haproxy.cfg")
	if cfg.DrainPoll == 0 {
		cfg.DrainPoll = 10 * time.Millisecond
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	}
	u.a, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	u.a.intents = u.intents
	u.a.edges = edges{
		dial: func(context.Context, string, time.Duration) (Runtime, error) { return u.hap, nil },
		reload: func(context.Context, string, time.Duration) error {
			u.mu.Lock()
			defer u.mu.Unlock()
			u.reloads = append(u.reloads, time.Now())
			if err := u.reloadErr; err != nil {
				u.reloadErr = nil
				return err
			}
			config, err := os.ReadFile(u.a.cfg.ConfigFile)
			if err != nil {
				return err
			}
			u.hap.load(config)
			return nil
		},
		handover: func(ctx context.Context, _ string, _ handover.Options) (handover.Result, error) {
			u.mu.Lock()
			u.handovers++
			u.mu.Unlock()
			<-ctx.Done() // a hand-over lasts until a later reload replaces it
			u.mu.Lock()
			u.handoversEnded++
			u.mu.Unlock()
			return handover.Result{}, nil
		},
		write: func(path string, data []byte) (bool, error) {
			u.mu.Lock()
			u.writes++
			u.mu.Unlock()
			return proxy.WriteAtomic(path, data)
		},
		validate: func(context.Context, string, []byte) error {
			u.mu.Lock()
			defer u.mu.Unlock()
			return u.validateErr
		},
		sources: func(*spec.Spec, *slog.Logger) ([]discovery.Source, error) {
			return []discovery.Source{u.src}, nil
		},
		retry: 10 * time.Millisecond,
	}
	return u
}

// writeSpec writes unitSpec with drainTimeout to u.dir/wsctl.yaml and
// returns its path.
func (u *unit) writeSpec(t testing.TB, drainTimeout string) string {
	t.Helper()
	path := filepath.Join(u.dir, "wsctl.yaml")
	text := strings.NewReplacer("DIR", u.dir, "DRAIN_TIMEOUT", drainTimeout).Replace(unitSpec)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// run runs the agent's loop until the test ends, or stop is called: it
// returns once Run has.
func (u *unit) run(t *testing.T) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := u.a.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	stop = sync.OnceFunc(func() { cancel(); <-done })
	t.Cleanup(stop)
	return stop
}

// attach readies the agent for calls to its steps without its loop: it
// talks to the fake HAProxy, which runs config, as the file holds.
func (u *unit) attach(t testing.TB, config []byte) context.Context {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); u.a.wg.Wait() })
	u.a.rt, u.a.runCtx = u.hap, ctx
	u.a.nSources = 1
	u.prime(t, config)
	u.a.loaded = config
	return ctx
}

// joinFakeFleet makes the agent lb1 of a fleet whose member never runs, so
// Consul is never dialled: the test hands the agent's fleet steps their
// views itself, as a member whose reads succeed (fleetState.current).
func (u *unit) joinFakeFleet(t testing.TB) {
	t.Helper()
	client, err := api.NewClient(&api.Config{Address: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	u.a.fleet = &fleetState{member: fleet.NewMember(client, "nowhere", "wsctl/", "lb1", 0, nil),
		results: make(chan fleetResult, 1), ops: map[haproxy.Ref]*fleetOp{}, ignored: map[haproxy.Ref]bool{},
		current: func() bool { return true }}
}

// prime makes config the file and what the fake HAProxy runs.
func (u *unit) prime(t testing.TB, config []byte) {
	t.Helper()
	if err := os.WriteFile(u.a.cfg.ConfigFile, config, 0o644); err != nil {
		t.Fatal(err)
	}
	u.hap.load(config)
}

// render is the config the agent renders for instances of ws.
func (u *unit) render(t testing.TB, instances ...discovery.Instance) []byte {
	t.Helper()
	_, text := u.a.desired("haproxy", map[string][]discovery.Instance{"ws": instances})
	if text == nil {
		t.Fatal("render failed")
	}
	return text
}

// syncWith makes one sync of ws's instances, as the loop does once the
// source reported them.
func (u *unit) syncWith(ctx context.Context, instances ...discovery.Instance) time.Duration {
	u.a.sources["fake"] = discovery.Snapshot{Source: "fake", Backends: map[string][]discovery.Instance{"ws": instances}}
	wait, _ := u.a.sync(ctx)
	return wait
}

func (u *unit) counts() (writes, reloads int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.writes, len(u.reloads)
}

// inst is a healthy instance of ws at 10.0.0.n:80.
func inst(id string, n int) discovery.Instance {
	return discovery.Instance{ID: id, Host: discovery.MustParseIP("10.0.0." + strconv.Itoa(n)), Port: 80, Healthy: true}
}

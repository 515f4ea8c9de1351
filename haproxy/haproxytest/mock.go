package haproxytest

import (
	"context"
	"fmt"
	"sync"

	"github.com/wsctl/wsctl/haproxy"
)

// Runtime is an in-memory admin socket for unit tests, in the style of
// Litestream's mocks: one func field per method of what drain, target and
// rollout ask of a socket (the packages check it satisfies their
// interfaces). NewRuntime fills every field with a small HAProxy kept in
// memory; a test replaces the fields it wants to script.
type Runtime struct {
	PidFunc              func(ctx context.Context) (int64, error)
	ServersFunc          func(ctx context.Context, backend string) ([]haproxy.ServerStatus, error)
	ServerFunc           func(ctx context.Context, backend, server string) (haproxy.ServerStatus, error)
	FindFunc             func(ctx context.Context, ref haproxy.Ref) (haproxy.ServerStatus, error)
	SetStateFunc         func(ctx context.Context, backend, server string, state haproxy.AdminState) error
	ReadmitFunc          func(ctx context.Context, backend, server string) error
	SessionsFunc         func(ctx context.Context, backend, server string) ([]haproxy.SessionID, error)
	SessionsByAgeFunc    func(ctx context.Context, backend, server string) ([]haproxy.WorkerSession, error)
	ShutdownSessionFunc  func(ctx context.Context, backend, server string, id haproxy.SessionID) error
	ShutdownSessionsFunc func(ctx context.Context, backend, server string) error
	// ShutdownSessionsEachFunc defaults to ShutdownEach over
	// ShutdownSessionFunc.
	ShutdownSessionsEachFunc func(ctx context.Context, backend, server string, next func() ([]haproxy.SessionID, bool)) (int, error)

	mu      sync.Mutex
	servers []haproxy.ServerStatus
	calls   []string
}

// NewRuntime returns a Runtime holding servers: SetState and Readmit
// change their admin state (Readmit leaves them UP), the shutdowns end
// sessions (Scur). Every call that changes something is in Calls.
func NewRuntime(servers ...haproxy.ServerStatus) *Runtime {
	m := &Runtime{servers: servers}
	m.PidFunc = func(context.Context) (int64, error) { return 1, nil }
	m.ServersFunc = func(_ context.Context, backend string) ([]haproxy.ServerStatus, error) {
		m.mu.Lock()
		defer m.mu.Unlock()
		var out []haproxy.ServerStatus
		for _, s := range m.servers {
			if backend == "" || s.Backend == backend {
				out = append(out, s)
			}
		}
		if out == nil && backend != "" {
			return nil, fmt.Errorf("backend %s: %w", backend, haproxy.ErrUnknownBackend)
		}
		return out, nil
	}
	m.FindFunc = func(ctx context.Context, ref haproxy.Ref) (haproxy.ServerStatus, error) {
		all, err := m.ServersFunc(ctx, ref.Backend)
		if err != nil {
			return haproxy.ServerStatus{}, err
		}
		return haproxy.Match(all, ref)
	}
	m.ServerFunc = func(ctx context.Context, backend, server string) (haproxy.ServerStatus, error) {
		return m.FindFunc(ctx, haproxy.Ref{Backend: backend, Server: server})
	}
	m.SetStateFunc = func(_ context.Context, backend, server string, state haproxy.AdminState) error {
		return m.change(fmt.Sprintf("set %s/%s %s", backend, server, state), backend, server, func(s *haproxy.ServerStatus) { s.Admin = state })
	}
	m.ReadmitFunc = func(_ context.Context, backend, server string) error {
		return m.change(fmt.Sprintf("readmit %s/%s", backend, server), backend, server, func(s *haproxy.ServerStatus) { s.Admin, s.State = haproxy.Ready, haproxy.Up })
	}
	m.SessionsFunc = func(ctx context.Context, backend, server string) ([]haproxy.SessionID, error) {
		s, err := m.ServerFunc(ctx, backend, server)
		ids := make([]haproxy.SessionID, s.Scur)
		for i := range ids {
			ids[i] = haproxy.SessionID(fmt.Sprintf("0x%x", i+1))
		}
		return ids, err
	}
	m.SessionsByAgeFunc = func(ctx context.Context, backend, server string) ([]haproxy.WorkerSession, error) {
		ids, err := m.SessionsFunc(ctx, backend, server)
		out := make([]haproxy.WorkerSession, len(ids))
		for i, id := range ids {
			out[i] = haproxy.WorkerSession{ID: id, Backend: backend, Server: server}
		}
		return out, err
	}
	m.ShutdownSessionFunc = func(_ context.Context, backend, server string, _ haproxy.SessionID) error {
		return m.change(fmt.Sprintf("shutdown session %s/%s", backend, server), backend, server, func(s *haproxy.ServerStatus) { s.Scur = max(s.Scur-1, 0) })
	}
	m.ShutdownSessionsEachFunc = func(ctx context.Context, backend, server string, next func() ([]haproxy.SessionID, bool)) (int, error) {
		return ShutdownEach(next, func(id haproxy.SessionID) error { return m.ShutdownSessionFunc(ctx, backend, server, id) })
	}
	m.ShutdownSessionsFunc = func(_ context.Context, backend, server string) error {
		return m.change(fmt.Sprintf("shutdown sessions %s/%s", backend, server), backend, server, func(s *haproxy.ServerStatus) { s.Scur = 0 })
	}
	return m
}

// ShutdownEach is haproxy.Client.ShutdownSessionsEach for a fake: it
// closes every id next hands out with one (haproxy.ErrNoSuchSession: gone,
// not counted) until next returns false or one fails.
func ShutdownEach(next func() ([]haproxy.SessionID, bool), one func(haproxy.SessionID) error) (int, error) {
	closed := 0
	for ids, ok := next(); ok; ids, ok = next() {
		n, err := haproxy.CloseEach(ids, one)
		closed += n
		if err != nil {
			return closed, err
		}
	}
	return closed, nil
}

// change applies f to backend/server and records call.
func (m *Runtime) change(call, backend, server string, f func(*haproxy.ServerStatus)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.servers {
		if m.servers[i].Backend == backend && m.servers[i].Server == server {
			f(&m.servers[i])
			m.calls = append(m.calls, call)
			return nil
		}
	}
	return &haproxy.UnknownServerError{Name: backend + "/" + server}
}

// Calls lists the changes made, in order.
func (m *Runtime) Calls() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.calls...)
}

func (m *Runtime) Pid(ctx context.Context) (int64, error) { return m.PidFunc(ctx) }
func (m *Runtime) Servers(ctx context.Context, backend string) ([]haproxy.ServerStatus, error) {
	return m.ServersFunc(ctx, backend)
}
func (m *Runtime) Server(ctx context.Context, backend, server string) (haproxy.ServerStatus, error) {
	return m.ServerFunc(ctx, backend, server)
}
func (m *Runtime) Find(ctx context.Context, ref haproxy.Ref) (haproxy.ServerStatus, error) {
	return m.FindFunc(ctx, ref)
}
func (m *Runtime) SetState(ctx context.Context, backend, server string, state haproxy.AdminState) error {
	return m.SetStateFunc(ctx, backend, server, state)
}
func (m *Runtime) Readmit(ctx context.Context, backend, server string) error {
	return m.ReadmitFunc(ctx, backend, server)
}
func (m *Runtime) Sessions(ctx context.Context, backend, server string) ([]haproxy.SessionID, error) {
	return m.SessionsFunc(ctx, backend, server)
}
func (m *Runtime) SessionsByAge(ctx context.Context, backend, server string) ([]haproxy.WorkerSession, error) {
	return m.SessionsByAgeFunc(ctx, backend, server)
}
func (m *Runtime) ShutdownSession(ctx context.Context, backend, server string, id haproxy.SessionID) error {
	return m.ShutdownSessionFunc(ctx, backend, server, id)
}
func (m *Runtime) ShutdownSessionsEach(ctx context.Context, backend, server string, next func() ([]haproxy.SessionID, bool)) (int, error) {
	return m.ShutdownSessionsEachFunc(ctx, backend, server, next)
}
func (m *Runtime) ShutdownSessions(ctx context.Context, backend, server string) error {
	return m.ShutdownSessionsFunc(ctx, backend, server)
}

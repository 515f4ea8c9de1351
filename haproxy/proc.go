package haproxy

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrNoSuchWorker is returned when the master no longer knows a worker:
// an old worker that has exited (its sessions all ended, or
// hard-stop-after cut them).
var ErrNoSuchWorker = errors.New("no such worker")

// Master talks to HAProxy's master CLI (haproxy -W -S PATH), which reaches
// every worker, the old ones that a reload left finishing their sessions
// included. Each call opens a connection of its own.
type Master struct {
	path    string
	timeout time.Duration
}

// NewMaster returns a client for the master CLI at path; timeout bounds
// each exchange (zero means DefaultTimeout). Nothing is dialled yet.
func NewMaster(path string, timeout time.Duration) *Master {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Master{path: path, timeout: timeout}
}

// Path is the master CLI's socket path.
func (m *Master) Path() string { return m.path }

// Proc is one process of `show proc`.
type Proc struct {
	Pid int64
	// Reloads is how many reloads the process has seen (for an old worker,
	// how many reloads ago it was the current one).
	Reloads int
	Version string
}

// Procs is the master's view of its processes.
type Procs struct {
	// Master is the master itself; Failed is how many reloads failed
	// since the last one that succeeded.
	Master Proc
	Failed int
	// Current are the workers of the loaded configuration (one).
	Current []Proc
	// Old are the workers left by earlier reloads, finishing their
	// sessions until they have none or hard-stop-after.
	Old []Proc
}

// Procs lists the master's processes (`show proc`, same format on 2.6 and
// 3.0).
func (m *Master) Procs(ctx context.Context) (Procs, error) {
	reply, err := masterCommand(ctx, m.path, m.timeout, "show proc")
	if err != nil {
		return Procs{}, fmt.Errorf("runtime: %s: show proc: %w", m.path, err)
	}
	p, err := parseProcs(reply)
	if err != nil {
		return Procs{}, fmt.Errorf("runtime: %s: show proc: %w", m.path, err)
	}
	return p, nil
}

// parseProcs reads `show proc`: a header, the master, then sections
// "# workers", "# old workers" and "# programs".
func parseProcs(reply string) (Procs, error) {
	if !strings.HasPrefix(strings.TrimSpace(reply), "#<PID>") {
		return Procs{}, fmt.Errorf("%w: `show proc` answered %q (is it the master CLI, haproxy -S?)", ErrNotHAProxy, firstLine(reply))
	}
	var p Procs
	section, master := "", false
	for _, line := range strings.Split(reply, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#<"):
			continue
		case strings.HasPrefix(line, "#"):
			section = strings.TrimSpace(strings.TrimPrefix(line, "#"))
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 {
			return Procs{}, fmt.Errorf("%w: line %q", ErrBadReply, line)
		}
		pid, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || pid <= 0 {
			return Procs{}, fmt.Errorf("%w: pid in %q", ErrBadReply, line)
		}
		reloads, err := strconv.Atoi(f[2])
		if err != nil {
			return Procs{}, fmt.Errorf("%w: reloads in %q", ErrBadReply, line)
		}
		proc := Proc{Pid: pid, Reloads: reloads, Version: f[len(f)-1]}
		switch {
		case f[1] == "master" && section == "":
			p.Master, master = proc, true
			if i := strings.Index(line, "[failed: "); i >= 0 {
				n, _, _ := strings.Cut(line[i+len("[failed: "):], "]")
				p.Failed, _ = strconv.Atoi(n)
			}
		case f[1] != "worker":
			// programs (`program` sections) are not workers.
		case section == "workers":
			p.Current = append(p.Current, proc)
		case section == "old workers":
			p.Old = append(p.Old, proc)
		}
	}
	if !master {
		return Procs{}, fmt.Errorf("%w: no master line in %q (is it the master CLI, haproxy -S?)", ErrNotHAProxy, firstLine(reply))
	}
	return p, nil
}

// WorkerSession is a session (stream) of `show sess` in some worker.
type WorkerSession struct {
	ID                        SessionID
	Frontend, Backend, Server string
	// Age is how long the session has lived, to the second (age=); zero
	// when the line has none.
	Age time.Duration
}

// WorkerSessions lists the sessions of worker pid that go to a backend
// (`@!PID show sess`): the CLI's own session, and requests not yet routed,
// have none and are left out. A worker the master no longer knows wraps
// ErrNoSuchWorker.
func (m *Master) WorkerSessions(ctx context.Context, pid int64) ([]WorkerSession, error) {
	reply, err := m.worker(ctx, pid, "show sess")
	if err != nil {
		return nil, fmt.Errorf("runtime: %s: sessions of worker %d: %w", m.path, pid, err)
	}
	var out []WorkerSession
	for _, s := range sessionLines(reply) {
		if s.Backend != "" && s.Backend != "<NONE>" {
			out = append(out, s)
		}
	}
	return out, nil
}

// ShutdownWorkerSession closes session id of worker pid if it still goes
// to backend: ids are addresses HAProxy reuses, so the session is looked
// up again right before it is closed. A session that is gone or now
// elsewhere wraps ErrNoSuchSession and is left alone; a worker that has
// exited wraps ErrNoSuchWorker. HAProxy 2.6 refuses `shutdown sessions
// server` in an old worker ("Proxy is disabled."), but closes a session by
// its id.
func (m *Master) ShutdownWorkerSession(ctx context.Context, pid int64, backend string, id SessionID) error {
	wrap := func(err error) error {
		return fmt.Errorf("runtime: %s: shutdown session %s of worker %d: %w", m.path, id, pid, err)
	}
	if !sessionIDPattern.MatchString(string(id)) {
		return wrap(fmt.Errorf("%w: session id %q", ErrInvalidName, id))
	}
	if err := ValidName(backend); err != nil {
		return wrap(err)
	}
	detail, err := m.worker(ctx, pid, "show sess "+string(id))
	if err != nil {
		return wrap(err)
	}
	if submatch(detailBackend, detail) != backend {
		return wrap(ErrNoSuchSession)
	}
	reply, err := m.worker(ctx, pid, "shutdown session "+string(id))
	if err != nil {
		return wrap(err)
	}
	switch reply = strings.TrimSpace(reply); {
	case reply == "":
		return nil
	case strings.Contains(reply, "No such session"):
		return wrap(ErrNoSuchSession)
	}
	return wrap(fmt.Errorf("%w: %s", ErrCommand, firstLine(reply)))
}

// worker sends cmd to worker pid through the master (`@!PID cmd`).
func (m *Master) worker(ctx context.Context, pid int64, cmd string) (string, error) {
	if pid <= 0 {
		return "", fmt.Errorf("%w: pid %d", ErrInvalidName, pid)
	}
	reply, err := masterCommand(ctx, m.path, m.timeout, fmt.Sprintf("@!%d %s", pid, cmd))
	if errors.Is(err, ErrTimeout) && !m.alive(ctx, pid) {
		// The worker exited while the master relayed the command (its
		// last session gone): the master then never answers for it.
		return "", fmt.Errorf("%w: %d (it exited during the command)", ErrNoSuchWorker, pid)
	}
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(reply, "Can't find the target PID") {
		return "", fmt.Errorf("%w: %d", ErrNoSuchWorker, pid)
	}
	return reply, nil
}

// alive reports whether the master still lists worker pid; when it cannot
// tell, it says yes, so the caller keeps the error it had.
func (m *Master) alive(ctx context.Context, pid int64) bool {
	p, err := m.Procs(ctx)
	if err != nil {
		return true
	}
	for _, w := range append(p.Current, p.Old...) {
		if int64(w.Pid) == pid {
			return true
		}
	}
	return false
}

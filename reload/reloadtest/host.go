// Package reloadtest is an HAProxy reloaded in memory (Host), for the unit
// tests of what runs a reload and its hand-over: package reload and
// `wsctl reload`.
package reloadtest

import (
	"context"
	"fmt"
	"sync"

	"github.com/wsctl/wsctl/handover"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/reload"
)

// Host is an HAProxy reloaded in memory: Preview and Apply return what the
// test set, Master is an old worker 41 holding Sessions beside the new
// worker 57. Its zero value has nothing to hand over.
type Host struct {
	Plan    reload.Plan
	Applied reload.Applied
	// Err is Preview's and Apply's error; Apply returns it with Applied,
	// so an Applied with New set makes it the restore's error.
	Err error
	// Applies counts the calls to Apply.
	Applies int

	mu sync.Mutex
	// Sessions are the old worker's; it exits once they are closed,
	// unless Stuck (then a shutdown closes nothing).
	Sessions int
	Stuck    bool
	// Shutdown counts the sessions the hand-over closed.
	Shutdown int
}

var (
	_ reload.Host     = (*Host)(nil)
	_ handover.Master = (*Host)(nil)
)

func (h *Host) Preview(context.Context, []byte, reload.Options) (reload.Plan, error) {
	return h.Plan, h.Err
}

func (h *Host) Apply(context.Context, []byte, reload.Options) (reload.Applied, error) {
	h.Applies++
	return h.Applied, h.Err
}

func (h *Host) Master() handover.Master { return h }

func (h *Host) Procs(context.Context) (haproxy.Procs, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := haproxy.Procs{Current: []haproxy.Proc{{Pid: 57}}}
	if h.Sessions > 0 || h.Stuck {
		p.Old = []haproxy.Proc{{Pid: 41, Reloads: 1}}
	}
	return p, nil
}

func (h *Host) WorkerSessions(_ context.Context, pid int64) ([]haproxy.WorkerSession, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case pid == 57:
		return nil, nil
	case pid != 41 || h.Sessions == 0 && !h.Stuck:
		return nil, fmt.Errorf("worker %d: %w", pid, haproxy.ErrNoSuchWorker)
	}
	out := make([]haproxy.WorkerSession, h.Sessions)
	for i := range out {
		out[i] = haproxy.WorkerSession{ID: haproxy.SessionID(fmt.Sprintf("0x%x", i+1)), Backend: "ws_cluster", Server: "backend1"}
	}
	return out, nil
}

func (h *Host) ShutdownWorkerSession(context.Context, int64, string, haproxy.SessionID) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.Shutdown++
	if !h.Stuck {
		h.Sessions--
	}
	return nil
}

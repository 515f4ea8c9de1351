package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsctl/wsctl/handover"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/reload"
	"github.com/wsctl/wsctl/spec"
)

// fakeHost is an HAProxy reloaded in memory: Preview and Apply return what
// the test set, Master is an old worker 41 holding sessions beside the new
// worker 57.
type fakeHost struct {
	plan    reload.Plan
	applied reload.Applied
	// err is Preview's and Apply's error.
	err     error
	applies int

	mu sync.Mutex
	// sessions are the old worker's; it exits once they are closed,
	// unless stuck (then a shutdown closes nothing).
	sessions int
	stuck    bool
	shutdown int
}

var (
	_ reload.Host     = (*fakeHost)(nil)
	_ handover.Master = (*fakeHost)(nil)
)

func (h *fakeHost) Preview(context.Context, []byte, reload.Options) (reload.Plan, error) {
	return h.plan, h.err
}

func (h *fakeHost) Apply(context.Context, []byte, reload.Options) (reload.Applied, error) {
	h.applies++
	if h.err != nil {
		return reload.Applied{}, h.err
	}
	return h.applied, nil
}

func (h *fakeHost) Master() handover.Master { return h }

func (h *fakeHost) Procs(context.Context) (haproxy.Procs, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := haproxy.Procs{Current: []haproxy.Proc{{Pid: 57}}}
	if h.sessions > 0 || h.stuck {
		p.Old = []haproxy.Proc{{Pid: 41, Reloads: 1}}
	}
	return p, nil
}

func (h *fakeHost) WorkerSessions(_ context.Context, pid int64) ([]haproxy.WorkerSession, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case pid == 57:
		return nil, nil
	case pid != 41 || h.sessions == 0 && !h.stuck:
		return nil, fmt.Errorf("worker %d: %w", pid, haproxy.ErrNoSuchWorker)
	}
	out := make([]haproxy.WorkerSession, h.sessions)
	for i := range out {
		out[i] = haproxy.WorkerSession{ID: haproxy.SessionID(fmt.Sprintf("0x%x", i+1)), Backend: "ws_cluster", Server: "backend1"}
	}
	return out, nil
}

func (h *fakeHost) ShutdownWorkerSession(context.Context, int64, string, haproxy.SessionID) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.shutdown++
	if !h.stuck {
		h.sessions--
	}
	return nil
}

// runReload parses args as `wsctl reload -c SPEC` does (the basic
// example), runs reloadRun on h with a fast poll, and returns its exit
// code and output.
func runReload(t *testing.T, h *fakeHost, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ios, out, errOut := testIO()
	var opts *ReloadOptions
	f := &Factory{IO: ios, Reload: func(*spec.Spec, string) reload.Host { return h }}
	cmd := NewCmdReload(f, func(o *ReloadOptions) error { opts = o; return nil })
	cmd.SetArgs(append([]string{"-c", basicSpec(t), "--haproxy-config", "/etc/haproxy/haproxy.cfg", "--quiet"}, args...))
	cmd.SetOut(io.Discard)
	if err := cmd.Execute(); err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	opts.Poll = time.Millisecond
	err := reloadRun(opts)
	if err != nil && !errors.As(err, new(errSilent)) {
		errOut.WriteString(err.Error()) // as Main would
	}
	return exitCode(err), out.String(), errOut.String()
}

// TestReloadRunHandsOver: a confirmed reload puts the added servers back,
// closes the old worker's sessions, prints the documented JSON and exits 0.
func TestReloadRunHandsOver(t *testing.T) {
	h := &fakeHost{sessions: 3, applied: reload.Applied{Changed: true, Old: 41, New: 57, Added: []haproxy.Ref{{Backend: "ws_cluster", Server: "extra"}}}}
	code, out, errOut := runReload(t, h, "--handover-after", "0", "-o", "json")
	if code != exitOK {
		t.Fatalf("exit %d, stdout %s, stderr %s", code, out, errOut)
	}
	var got reloadJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got.Result != "exited" || got.OldPid != 41 || got.NewPid != 57 || len(got.Workers) != 1 || got.Workers[0].Closed != 3 || got.Workers[0].Before != 3 {
		t.Errorf("got %+v, want worker 41 exited after 3 sessions closed", got)
	}
	if !strings.Contains(errOut, "added ws_cluster/extra back from ") {
		t.Errorf("stderr does not name the server put back: %s", errOut)
	}
}

// TestReloadRunRejected: a config HAProxy rejects stops before the
// hand-over with exit 2, saying nothing changed.
func TestReloadRunRejected(t *testing.T) {
	h := &fakeHost{sessions: 3, err: &reload.Error{Step: reload.StepValidate, Err: errors.New("wsctl-bogus-keyword: unknown keyword")}}
	code, out, errOut := runReload(t, h)
	if code != exitError || !strings.Contains(errOut, "wsctl-bogus-keyword") || !strings.Contains(errOut, "nothing changed: /etc/haproxy/haproxy.cfg kept, no reload") {
		t.Fatalf("exit %d, stdout %s, stderr %s", code, out, errOut)
	}
	if h.shutdown != 0 {
		t.Errorf("%d sessions closed after a rejected config", h.shutdown)
	}
}

// TestReloadRunTimedOut: an old worker that keeps its sessions past
// --timeout ends the command with exit 3 and a line on stderr.
func TestReloadRunTimedOut(t *testing.T) {
	h := &fakeHost{sessions: 2, stuck: true, applied: reload.Applied{Old: 41, New: 57}}
	code, out, errOut := runReload(t, h, "--handover-after", "10ms", "--timeout", "50ms")
	if code != exitTimeout || !strings.Contains(errOut, "hand-over timed out with 2 sessions left in old workers") {
		t.Fatalf("exit %d, stdout %s, stderr %s", code, out, errOut)
	}
}

// TestReloadRunDryRun: --dry-run previews the reload and counts the
// hand-over; it applies nothing and closes nothing.
func TestReloadRunDryRun(t *testing.T) {
	h := &fakeHost{sessions: 3, plan: reload.Plan{Current: []byte("old\n"), Changed: true, Old: 57}}
	code, out, errOut := runReload(t, h, "--dry-run", "-o", "json")
	var got reloadPlanJSON
	if code != exitOK || json.Unmarshal([]byte(out), &got) != nil {
		t.Fatalf("exit %d, stdout %s, stderr %s", code, out, errOut)
	}
	if !got.DryRun || !got.Changed || got.OldPid != 57 || !strings.HasPrefix(got.Diff, "--- /etc/haproxy/haproxy.cfg\n+++ generated\n") ||
		len(got.Handover.Workers) != 2 || got.Handover.Workers[1] != (reloadPlanWorkerJSON{Pid: 41, Sessions: 3}) ||
		len(got.Handover.Backends) != 1 || got.Handover.Backends[0].Sessions != 3 {
		t.Errorf("got %+v", got)
	}
	if h.applies != 0 || h.shutdown != 0 {
		t.Errorf("the dry run applied %d reloads and closed %d sessions", h.applies, h.shutdown)
	}
}

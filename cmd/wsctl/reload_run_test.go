package main

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/reload"
	"github.com/wsctl/wsctl/reload/reloadtest"
	"github.com/wsctl/wsctl/spec"
)

// runReload parses args as `wsctl reload -c SPEC` does (the basic
// example), runs reloadRun on h with a fast poll, and returns its exit
// code and output.
func runReload(t *testing.T, h *reloadtest.Host, args ...string) (code int, stdout, stderr string) {
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
	h := &reloadtest.Host{Sessions: 3, Applied: reload.Applied{Changed: true, Old: 41, New: 57, Added: []haproxy.Ref{{Backend: "ws_cluster", Server: "extra"}}}}
	code, out, errOut := runReload(t, h, "--handover-after", "0", "-o", "json")
	if code != exitOK {
		t.Fatalf("exit %d, stdout %s, stderr %s", code, out, errOut)
	}
	var got reload.Summary
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
	h := &reloadtest.Host{Sessions: 3, Err: &reload.Error{Step: reload.StepValidate, Err: errors.New("wsctl-bogus-keyword: unknown keyword")}}
	code, out, errOut := runReload(t, h)
	if code != exitError || !strings.Contains(errOut, "wsctl-bogus-keyword") || !strings.Contains(errOut, "nothing changed: /etc/haproxy/haproxy.cfg kept, no reload") {
		t.Fatalf("exit %d, stdout %s, stderr %s", code, out, errOut)
	}
	if h.Shutdown != 0 {
		t.Errorf("%d sessions closed after a rejected config", h.Shutdown)
	}
}

// TestReloadRunTimedOut: an old worker that keeps its sessions past
// --timeout ends the command with exit 3 and a line on stderr.
func TestReloadRunTimedOut(t *testing.T) {
	h := &reloadtest.Host{Sessions: 2, Stuck: true, Applied: reload.Applied{Old: 41, New: 57}}
	code, out, errOut := runReload(t, h, "--handover-after", "10ms", "--timeout", "50ms")
	if code != exitTimeout || !strings.Contains(errOut, "hand-over timed out with 2 sessions left in old workers") {
		t.Fatalf("exit %d, stdout %s, stderr %s", code, out, errOut)
	}
}

// TestReloadRunDryRun: --dry-run previews the reload and counts the
// hand-over; it applies nothing and closes nothing.
func TestReloadRunDryRun(t *testing.T) {
	h := &reloadtest.Host{Sessions: 3, Plan: reload.Plan{Current: []byte("old\n"), Changed: true, Old: 57}}
	code, out, errOut := runReload(t, h, "--dry-run", "-o", "json")
	var got reload.PlanSummary
	if code != exitOK || json.Unmarshal([]byte(out), &got) != nil {
		t.Fatalf("exit %d, stdout %s, stderr %s", code, out, errOut)
	}
	if !got.DryRun || !got.Changed || got.OldPid != 57 || !strings.HasPrefix(got.Diff, "--- /etc/haproxy/haproxy.cfg\n+++ generated\n") ||
		len(got.Handover.Workers) != 2 || got.Handover.Workers[1] != (reload.PlanWorker{Pid: 41, Sessions: 3}) ||
		len(got.Handover.Backends) != 1 || got.Handover.Backends[0].Sessions != 3 {
		t.Errorf("got %+v", got)
	}
	if h.Applies != 0 || h.Shutdown != 0 {
		t.Errorf("the dry run applied %d reloads and closed %d sessions", h.Applies, h.Shutdown)
	}
}

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/haproxy/haproxytest"
	"github.com/wsctl/wsctl/internal/cli"
	"github.com/wsctl/wsctl/internal/lbtest"
	"github.com/wsctl/wsctl/paced"
	"github.com/wsctl/wsctl/reload"
	"github.com/wsctl/wsctl/spec"
	"github.com/wsctl/wsctl/templates"
)

func reloadCmd(io *cli.IOStreams) *cobra.Command { return NewCmdReload(&Factory{IO: io}, nil) }

// reloadSetup is examples/basic on HAProxy with clients held, its spec
// written with extra (a structural change) appended to the haproxy section.
func reloadSetup(t *testing.T, clients int, extra string) (*lbtest.Basic, *haproxytest.Clients, string) {
	t.Helper()
	b := lbtest.StartBasic(t, "haproxy")
	fleet := haproxytest.StartClients(t, b.URL("/ws"), clients, true)
	specFile := filepath.Join(t.TempDir(), "wsctl.yaml")
	text := strings.ReplaceAll(b.Spec, "${WSCTL_RUN_DIR:-/run/wsctl}", b.RunDir)
	text = strings.Replace(text, "  hard_stop_after: 30m\n", "  hard_stop_after: 30m\n"+extra, 1)
	if err := os.WriteFile(specFile, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return b, fleet, specFile
}

// TestReloadHandsOver: wsctl reload writes the new config, reloads, and
// hands the old worker's WebSockets over to the new one; the JSON says so.
func TestReloadHandsOver(t *testing.T) {
	const clients = 30
	b, fleet, specFile := reloadSetup(t, clients, "  handover_after: 200ms\n")
	cfg := filepath.Join(b.RunDir, "haproxy.cfg")
	start := time.Now()
	r := execute(t, reloadCmd, false, nil, "-c", specFile, "--haproxy-config", cfg, "--timeout", "20s", "-o", "json")
	if r.code != 0 {
		t.Fatalf("exit %d, stdout %s, stderr %s", r.code, r.out, r.errOut)
	}
	var got reload.Summary
	if err := json.Unmarshal([]byte(r.out), &got); err != nil {
		t.Fatalf("%v\n%s", err, r.out)
	}
	if got.Result != "exited" || got.OldPid == got.NewPid || len(got.Workers) != 1 || got.Workers[0].Closed != clients {
		t.Fatalf("summary = %+v, want the old worker exited after %d sessions closed", got, clients)
	}
	if text, _ := os.ReadFile(cfg); !strings.Contains(string(text), "server-state-file "+filepath.Join(b.RunDir, "server-state")) {
		t.Errorf("%s lacks the state file:\n%s", cfg, text)
	}
	if state, err := os.ReadFile(filepath.Join(b.RunDir, "server-state")); err != nil || !strings.Contains(string(state), "backend1") {
		t.Errorf("state file = %q, %v; want the saved servers", state, err)
	}
	if !fleet.WaitEvents(start, true, clients, 10*time.Second) {
		t.Fatalf("%d of %d clients reconnected", len(fleet.Since(start, true)), clients)
	}
}

// TestReloadRejectedConfig: a config HAProxy rejects changes nothing: no
// reload, nothing closed, the old file kept, HAProxy's message shown.
func TestReloadRejectedConfig(t *testing.T) {
	b, fleet, specFile := reloadSetup(t, 6, "")
	cfg := filepath.Join(b.RunDir, "haproxy.cfg")
	before, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	embedded, err := templates.Embedded("haproxy")
	if err != nil {
		t.Fatal(err)
	}
	tmpl := filepath.Join(t.TempDir(), "broken.tmpl")
	if err := os.WriteFile(tmpl, []byte(embedded+"    wsctl-bogus-keyword on\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := execute(t, reloadCmd, false, nil, "-c", specFile, "--haproxy-config", cfg, "--template", tmpl)
	if r.code != exitError {
		t.Fatalf("exit %d, want 2; stdout %s, stderr %s", r.code, r.out, r.errOut)
	}
	if !strings.Contains(r.errOut, "wsctl-bogus-keyword") || !strings.Contains(r.errOut, "no reload") {
		t.Errorf("stderr does not show HAProxy's message and that nothing changed:\n%s", r.errOut)
	}
	if after, _ := os.ReadFile(cfg); string(after) != string(before) {
		t.Errorf("%s changed", cfg)
	}
	procs, err := haproxy.NewMaster(filepath.Join(b.RunDir, "master.sock"), 0).Procs(t.Context())
	if err != nil || procs.Master.Reloads != 0 || len(procs.Old) != 0 {
		t.Errorf("show proc = %+v, %v; want no reload", procs, err)
	}
	if cut := fleet.Since(start, false); len(cut) != 0 {
		t.Errorf("%d clients cut, want none", len(cut))
	}
}

func stateCmd(io *cli.IOStreams) *cobra.Command { return NewCmdState(io) }

// TestStateSaveWithoutHAProxy: before HAProxy starts (ExecStartPre), save
// creates the state file empty, and keeps a saved one.
func TestStateSaveWithoutHAProxy(t *testing.T) {
	b := lbtest.StartBasic(t, "haproxy")
	dir := t.TempDir()
	specFile := filepath.Join(dir, "wsctl.yaml")
	text := strings.ReplaceAll(b.Spec, "${WSCTL_RUN_DIR:-/run/wsctl}", dir)
	if err := os.WriteFile(specFile, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "server-state")
	r := execute(t, stateCmd, false, nil, "save", "-c", specFile)
	if got, _ := os.ReadFile(file); r.code != 0 || string(got) != "1\n" {
		t.Fatalf("exit %d (%s), file %q; want 0 and an empty state file", r.code, r.errOut, got)
	}
	if err := os.WriteFile(file, []byte("1\nsaved\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = execute(t, stateCmd, false, nil, "save", "-c", specFile)
	if got, _ := os.ReadFile(file); r.code != 0 || string(got) != "1\nsaved\n" || !strings.Contains(r.errOut, "kept") {
		t.Fatalf("exit %d (%s), file %q; want the saved file kept", r.code, r.errOut, got)
	}
}

// TestReloadDryRun: --dry-run validates, diffs and counts the hand-over
// with the real HAProxy, and changes nothing: the config file's bytes and
// mtime, the state file, the worker, the clients stay; a rejected config
// is exit 2 as in the real run.
func TestReloadDryRun(t *testing.T) {
	const clients = 5
	b, fleet, specFile := reloadSetup(t, clients, "")
	cfg := filepath.Join(b.RunDir, "haproxy.cfg")
	stateFile := filepath.Join(b.RunDir, "server-state")
	master := haproxy.NewMaster(filepath.Join(b.RunDir, "master.sock"), 0)
	procs, err := master.Procs(t.Context())
	if err != nil || len(procs.Current) != 1 {
		t.Fatalf("show proc = %+v, %v", procs, err)
	}
	worker := procs.Current[0].Pid
	type file struct {
		text  string
		mtime time.Time
	}
	read := func(path string) file {
		t.Helper()
		fi, err := os.Stat(path)
		if err != nil {
			return file{}
		}
		text, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return file{string(text), fi.ModTime()}
	}
	before, stateBefore := read(cfg), read(stateFile)
	embedded, err := templates.Embedded("haproxy")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	changed := writeFile(t, filepath.Join(dir, "changed.tmpl"), embedded+"    # wsctl dry run\n")
	broken := writeFile(t, filepath.Join(dir, "broken.tmpl"), embedded+"    wsctl-bogus-keyword on\n")
	start := time.Now()

	r := execute(t, reloadCmd, false, nil, "-c", specFile, "--haproxy-config", cfg, "--template", changed, "--dry-run", "-o", "json")
	if r.code != 0 {
		t.Fatalf("exit %d, stdout %s, stderr %s", r.code, r.out, r.errOut)
	}
	var got reload.PlanSummary
	decodeJSON(t, r.out, &got)
	if !got.DryRun || !got.Reload || !got.Changed || got.Config != cfg || got.OldPid != worker || got.StateFile != stateFile ||
		!strings.Contains(got.Diff, "\n+# wsctl dry run\n") || !got.CreateStateFile {
		t.Errorf("plan = %+v, want a changed config replacing worker %d", got, worker)
	}
	wantWorkers := []reload.PlanWorker{{Pid: worker, Current: true, Sessions: clients}}
	wantBackends := []reload.PlanBackend{{Backend: "ws_cluster", Sessions: clients, Rate: spec.DefaultCloseRate, Closing: paced.Seconds(time.Duration(clients / spec.DefaultCloseRate * float64(time.Second)))}}
	if !slices.Equal(got.Handover.Workers, wantWorkers) || !slices.Equal(got.Handover.Backends, wantBackends) {
		t.Errorf("hand-over = %+v, want workers %+v, backends %+v", got.Handover, wantWorkers, wantBackends)
	}

	r = execute(t, reloadCmd, false, nil, "-c", specFile, "--haproxy-config", cfg, "--dry-run")
	if r.code != 0 || !strings.Contains(r.out, "dry run: nothing written, saved or reloaded") || !strings.Contains(r.out, "  current worker "+strconv.FormatInt(worker, 10)+": 5 sessions\n") {
		t.Errorf("text: exit %d, stdout %s, stderr %s", r.code, r.out, r.errOut)
	}

	r = execute(t, reloadCmd, false, nil, "-c", specFile, "--haproxy-config", cfg, "--template", broken, "--dry-run")
	if r.code != exitError || !strings.Contains(r.errOut, "wsctl-bogus-keyword") || r.out != "" {
		t.Errorf("rejected: exit %d, want 2 with HAProxy's message; stdout %s, stderr %s", r.code, r.out, r.errOut)
	}

	if after := read(cfg); after != before {
		t.Errorf("%s changed: mtime %s → %s", cfg, before.mtime, after.mtime)
	}
	if after := read(stateFile); after != stateBefore {
		t.Errorf("%s changed: %+v → %+v", stateFile, stateBefore, after)
	}
	if procs, err := master.Procs(t.Context()); err != nil || procs.Master.Reloads != 0 || len(procs.Current) != 1 || procs.Current[0].Pid != worker || len(procs.Old) != 0 {
		t.Errorf("show proc = %+v, %v; want worker %d, no reload", procs, err, worker)
	}
	if cut := fleet.Since(start, false); len(cut) != 0 {
		t.Errorf("%d clients cut, want none", len(cut))
	}
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/haproxy/haproxytest"
	"github.com/wsctl/wsctl/internal/lbtest"
	"github.com/wsctl/wsctl/rollout"
	"github.com/wsctl/wsctl/target"
)

// rolloutUnit is a rollout of backend ws on one in-memory admin socket:
// s1 with no session, s2 with 2, s3 with 1 (so the order is s1, s3, s2),
// a spec naming them, and a deployer that records what it deployed.
type rolloutUnit struct {
	rt   *haproxytest.Runtime
	spec string
	// state is the rollout's state file (the default one, beside the
	// spec's haproxy.state_file).
	state    string
	deployed []string
	// fail, when set, is the server whose deploy fails.
	fail string
}

func newRolloutUnit(t *testing.T) *rolloutUnit {
	dir := t.TempDir()
	servers := []*lbtest.Wsecho{{ID: "s1", Addr: "127.0.0.1:1001"}, {ID: "s2", Addr: "127.0.0.1:1002"}, {ID: "s3", Addr: "127.0.0.1:1003"}}
	return &rolloutUnit{
		rt:    haproxytest.NewRuntime(ws("s1", haproxy.Ready, haproxy.Up, 0), ws("s2", haproxy.Ready, haproxy.Up, 2), ws("s3", haproxy.Ready, haproxy.Up, 1)),
		spec:  backendSpec(t, servers, filepath.Join(dir, "admin.sock"), 50),
		state: filepath.Join(dir, "wsctl-rollout-ws.json"),
	}
}

// deploy is the Factory's Deploy: the script is not run, the server noted.
func (u *rolloutUnit) deploy(string, []string, io.Writer, io.Writer) rollout.Deployer {
	return func(_ context.Context, s rollout.Server) error {
		u.deployed = append(u.deployed, s.Name)
		if s.Name == u.fail {
			return errors.New("exit status 7")
		}
		return nil
	}
}

// run parses args as `wsctl rollout ws -c SPEC` does, then runs
// rolloutRun with a fast poll, and returns its exit code and output.
func (u *rolloutUnit) run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ios, out, errOut := testIO()
	var opts *RolloutOptions
	f := &Factory{IO: ios, Deploy: u.deploy,
		Dial: func(context.Context, string, time.Duration) (target.Runtime, error) { return u.rt, nil }}
	cmd := NewCmdRollout(f, func(o *RolloutOptions) error { opts = o; return nil })
	cmd.SetArgs(append([]string{"ws", "-c", u.spec, "--quiet", "--close-after", "0", "--close-rate", "0"}, args...))
	cmd.SetOut(io.Discard)
	if err := cmd.Execute(); err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	opts.Poll = time.Millisecond
	err := rolloutRun(opts)
	if err != nil && exitCode(err) == exitError && !errors.As(err, new(errSilent)) {
		// A refusal: Main would print it.
		errOut.WriteString(err.Error())
	}
	return exitCode(err), out.String(), errOut.String()
}

func (u *rolloutUnit) admin(t *testing.T) []haproxy.AdminState {
	t.Helper()
	all, err := u.rt.Servers(context.Background(), "ws")
	if err != nil {
		t.Fatal(err)
	}
	var out []haproxy.AdminState
	for _, s := range all {
		out = append(out, s.Admin)
	}
	return out
}

// TestRolloutRunDone: a rollout deploys the emptiest server first, holds
// the servers still to deploy while the others drain, prints a JSON line
// per step with the documented fields in their order and a summary, exits
// 0 and removes its state file.
func TestRolloutRunDone(t *testing.T) {
	u := newRolloutUnit(t)
	code, out, errOut := u.run(t, "--exec", "./deploy.sh", "-o", "json")
	if code != exitOK {
		t.Fatalf("exit %d, stdout %s, stderr %s", code, out, errOut)
	}
	if !slices.Equal(u.deployed, []string{"s1", "s3", "s2"}) {
		t.Errorf("deployed %q, want s1 s3 s2 (fewest sessions first)", u.deployed)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines, want 3 steps and a summary:\n%s", len(lines), out)
	}
	// The step line is a contract: its fields, in this order.
	for i, want := range []string{
		`{"type":"step","backend":"ws","server":"s1","step":1,"of":3,"landing":["s3","s2"],"held":[],"sessions_before":0,"cuts":0,"drain":"drained","drain_s":`,
		`{"type":"step","backend":"ws","server":"s3","step":2,"of":3,"landing":["s1"],"held":["s2"],"sessions_before":1,"cuts":1,"drain":"drained","drain_s":`,
		`{"type":"step","backend":"ws","server":"s2","step":3,"of":3,"landing":["s1","s3"],"held":[],"sessions_before":2,"cuts":2,"drain":"drained","drain_s":`,
	} {
		if !strings.HasPrefix(lines[i], want) || !strings.Contains(lines[i], `,"deploy_s":`) || !strings.HasSuffix(lines[i], "}") {
			t.Errorf("step %d:\n got %s\nwant %s…", i+1, lines[i], want)
		}
	}
	var sum map[string]any
	if err := json.Unmarshal([]byte(lines[3]), &sum); err != nil || sum["type"] != "rollout" || sum["result"] != "done" || sum["steps"] != 3.0 || sum["cuts"] != 3.0 {
		t.Errorf("summary %s (%v), want done, 3 steps, 3 cuts", lines[3], err)
	}
	if got := u.admin(t); !slices.Equal(got, []haproxy.AdminState{haproxy.Ready, haproxy.Ready, haproxy.Ready}) {
		t.Errorf("admin states at the end %q, want every server READY", got)
	}
	if _, err := os.Stat(u.state); !os.IsNotExist(err) {
		t.Errorf("state file left: %v", err)
	}
}

// TestRolloutRunFailedDeployResumes: a failed deploy stops the rollout with
// exit 2, the server in MAINT and the state kept; the same command goes on
// where it stopped, says so, and finishes.
func TestRolloutRunFailedDeployResumes(t *testing.T) {
	u := newRolloutUnit(t)
	u.fail = "s1"
	code, _, errOut := u.run(t, "--exec", "./deploy.sh")
	if code != exitError || !strings.Contains(errOut, "exit status 7 (the server stays in MAINT)") || !strings.Contains(errOut, "ws/s1 is in phase deploy") {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	if got := u.admin(t); got[0] != haproxy.Maint {
		t.Errorf("s1 is %s after the failed deploy, want MAINT", got[0])
	}
	if _, err := os.Stat(u.state); err != nil {
		t.Fatalf("no state file after the stop: %v", err)
	}
	u.fail = ""
	code, out, errOut := u.run(t, "--exec", "./deploy.sh", "-o", "json")
	lines := jsonLines(t, out)
	if code != exitOK || len(lines) != 4 || lines[3]["result"] != "done" || lines[3]["resumed"] != "0 of 3 servers done, s1 drained, to be deployed" {
		t.Fatalf("exit %d, stdout %s, stderr %s", code, out, errOut)
	}
	if !strings.Contains(errOut, "resuming the rollout of ws") {
		t.Errorf("no resume message: %s", errOut)
	}
	if !slices.Equal(u.deployed, []string{"s1", "s1", "s3", "s2"}) {
		t.Errorf("deployed %q, want s1 again, then s3 and s2", u.deployed)
	}
}

// TestRolloutRunPauseNext: --pause drains the first server and stops (exit
// 0) saying which to deploy; --pause again is refused (exit 2); each --next
// readmits the deployed server and drains the next, the last one finishes.
func TestRolloutRunPauseNext(t *testing.T) {
	u := newRolloutUnit(t)
	code, out, errOut := u.run(t, "--pause")
	if code != exitOK || !strings.Contains(out, "ws/s1 is drained and in MAINT: deploy it") {
		t.Fatalf("exit %d, stdout %s, stderr %s", code, out, errOut)
	}
	if code, _, errOut := u.run(t, "--pause"); code != exitError || !strings.Contains(errOut, "s1 waits to be deployed") {
		t.Errorf("--pause while paused: exit %d, stderr %s", code, errOut)
	}
	code, out, errOut = u.run(t, "--next", "-o", "json")
	lines := jsonLines(t, out)
	if code != exitOK || len(lines) != 2 || lines[1]["result"] != "paused" || lines[1]["paused"].(map[string]any)["server"] != "s3" {
		t.Fatalf("exit %d, stdout %s, stderr %s", code, out, errOut)
	}
	if got := u.admin(t); !slices.Equal(got, []haproxy.AdminState{haproxy.Ready, haproxy.Drain, haproxy.Maint}) {
		t.Errorf("paused at s3: %q, want s1 READY, s2 held in DRAIN, s3 MAINT", got)
	}
	if code, out, _ := u.run(t, "--next"); code != exitOK || !strings.Contains(out, "ws/s2 is drained and in MAINT") {
		t.Fatalf("exit %d, stdout %s", code, out)
	}
	code, out, errOut = u.run(t, "--next")
	if code != exitOK || !strings.Contains(out, "rollout of ws done: 3 servers") || !strings.Contains(out, "step 3/3 ws/s2") {
		t.Fatalf("exit %d, stdout %s, stderr %s", code, out, errOut)
	}
	if len(u.deployed) != 0 {
		t.Errorf("a paused rollout ran the deployer: %q", u.deployed)
	}
}

// TestRolloutRunNotHealthy: a readmitted server whose check does not pass
// within --wait-healthy stops the rollout with exit 3, the summary saying
// where.
func TestRolloutRunNotHealthy(t *testing.T) {
	u := newRolloutUnit(t)
	servers := u.rt.ServersFunc
	u.rt.ServersFunc = func(ctx context.Context, backend string) ([]haproxy.ServerStatus, error) {
		all, err := servers(ctx, backend)
		for i := range all {
			if all[i].Server == "s1" && len(u.deployed) > 0 {
				all[i].State = haproxy.Down
			}
		}
		return all, err
	}
	code, out, errOut := u.run(t, "--exec", "./deploy.sh", "--wait-healthy", "20ms", "-o", "json")
	lines := jsonLines(t, out)
	if code != exitTimeout || len(lines) != 1 || lines[0]["result"] != "stopped" {
		t.Fatalf("exit %d, stdout %s, stderr %s", code, out, errOut)
	}
	stopped := lines[0]["stopped"].(map[string]any)
	if stopped["server"] != "s1" || stopped["phase"] != "readmit" || !strings.Contains(stopped["error"].(string), "not healthy") {
		t.Errorf("stopped %v, want s1 in phase readmit, not healthy", stopped)
	}
}

// TestRolloutRunDryRun: --dry-run prints the plan and changes nothing: no
// call on the socket, no state file, no deploy; on a paused rollout it says
// where it would go on.
func TestRolloutRunDryRun(t *testing.T) {
	u := newRolloutUnit(t)
	code, out, errOut := u.run(t, "--exec", "./deploy.sh", "--dry-run", "-o", "json")
	var got struct {
		Backend string   `json:"backend"`
		DryRun  bool     `json:"dry_run"`
		Would   []string `json:"would"`
	}
	if code != exitOK || json.Unmarshal([]byte(out), &got) != nil {
		t.Fatalf("exit %d, stdout %s, stderr %s", code, out, errOut)
	}
	want := []string{"write the state file " + u.state}
	for _, s := range []string{"s1", "s3", "s2"} {
		want = append(want, "ws/"+s+": DRAIN, after 0s set MAINT and close the rest at 0/s (timeout 10m0s), deploy, readmit and wait up to 1m0s for a passing check")
	}
	if got.Backend != "ws" || !got.DryRun || !slices.Equal(got.Would, want) {
		t.Errorf("got %+v, want %q", got, want)
	}
	if calls := u.rt.Calls(); len(calls) != 0 || len(u.deployed) != 0 {
		t.Errorf("the dry run changed something: calls %q, deployed %q", calls, u.deployed)
	}
	if _, err := os.Stat(u.state); !os.IsNotExist(err) {
		t.Errorf("state file after a dry run: %v", err)
	}

	if code, _, errOut := u.run(t, "--pause"); code != exitOK {
		t.Fatalf("--pause: exit %d, %s", code, errOut)
	}
	calls := len(u.rt.Calls())
	code, out, errOut = u.run(t, "--next", "--dry-run")
	if code != exitOK || !strings.Contains(out, "go on with the rollout in "+u.state+": 0 of 3 servers done, s1 drained, to be deployed") ||
		len(u.rt.Calls()) != calls {
		t.Errorf("dry run of a paused rollout: exit %d, stdout %s, stderr %s, calls %q", code, out, errOut, u.rt.Calls()[calls:])
	}
}

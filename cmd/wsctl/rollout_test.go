package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/haproxy/haproxytest"
	"github.com/wsctl/wsctl/internal/cli"
	"github.com/wsctl/wsctl/internal/lbtest"
)

var rolloutCmd runtimeCmd = func(io *cli.IOStreams) *cobra.Command { return NewCmdRollout(&Factory{IO: io}, nil) }

// rolloutFixture is three servers behind HAProxy, a spec naming them, and
// two reconnecting clients on each.
func rolloutFixture(t *testing.T) (*fixture, string) {
	t.Helper()
	servers := haproxytest.Backends(t, "s1", "s2", "s3")
	lb := haproxytest.StartLB(t, haproxytest.Config{}, servers)
	c, err := haproxy.Dial(context.Background(), lb.AdminSocket, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	waitChecked(t, c, "ws")
	specPath := backendSpec(t, servers, lb.AdminSocket, 50)
	haproxytest.StartClients(t, lb.URL(), 6, true)
	return &fixture{lb: lb, c: c}, specPath
}

// jsonLines decodes every line of out.
func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines = append(lines, m)
	}
	return lines
}

// TestRolloutExec deploys the three servers with a command that logs its
// environment: a JSON line per step, then the summary; every server READY
// and the state file gone at the end.
func TestRolloutExec(t *testing.T) {
	f, specPath := rolloutFixture(t)
	log := filepath.Join(t.TempDir(), "deploys")
	r := execute(t, rolloutCmd, false, nil, "ws", "-c", specPath, "--close-after", "100ms", "--wait-healthy", "10s",
		"--exec", `echo "$WSCTL_SERVER $WSCTL_ADDRESS" >> `+log, "-o", "json")
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", r.code, r.out, r.errOut)
	}
	lines := jsonLines(t, r.out)
	if len(lines) != 4 {
		t.Fatalf("%d lines, want 3 steps and a summary:\n%s", len(lines), r.out)
	}
	var want strings.Builder
	cuts := 0.0
	for i, l := range lines[:3] {
		if l["type"] != "step" || l["step"] != float64(i+1) || l["drain"] != "drained" {
			t.Errorf("step line %d: %v", i+1, l)
		}
		cuts += l["cuts"].(float64)
		s, err := f.c.Server(context.Background(), "ws", l["server"].(string))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&want, "%s %s\n", s.Server, s.Addr)
		if s.Admin != haproxy.Ready {
			t.Errorf("%s is %s at the end", s.Server, s.Admin)
		}
	}
	if held := lines[1]["held"].([]any); len(held) != 1 || held[0] != lines[2]["server"] {
		t.Errorf("step 2 held %v, want the third server", held)
	}
	sum := lines[3]
	if sum["type"] != "rollout" || sum["result"] != "done" || sum["cuts"] != cuts || cuts != 2+3+3 {
		t.Errorf("summary %v, want done with the steps' %g cuts (8: 2, then 3 and 3)", sum, cuts)
	}
	if got, err := os.ReadFile(log); err != nil || string(got) != want.String() {
		t.Errorf("the command ran with %q (%v), want %q", got, err, want.String())
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(f.lb.AdminSocket), "wsctl-rollout-ws.json")); !os.IsNotExist(err) {
		t.Errorf("state file left: %v", err)
	}
}

// TestRolloutFailedCommandThenPaused: a failing command stops the rollout
// with exit 2 and the server in MAINT; --next takes it as deployed by the
// pipeline and pauses at the next server, --pause is refused while paused,
// and --next goes on to the end.
func TestRolloutFailedCommandThenPaused(t *testing.T) {
	f, specPath := rolloutFixture(t)
	args := []string{"ws", "-c", specPath, "--close-after", "100ms", "--wait-healthy", "10s"}
	r := execute(t, rolloutCmd, false, nil, append(args, "--exec", "exit 7")...)
	if r.code != exitError || !strings.Contains(r.errOut, "exit status 7 (the server stays in MAINT)") ||
		!strings.Contains(r.errOut, "ws/s1 is in phase deploy") {
		t.Fatalf("exit %d, stderr %s", r.code, r.errOut)
	}
	if a := f.admin(t, "s1"); a != haproxy.Maint {
		t.Errorf("s1 is %s after the failed command, want MAINT", a)
	}

	r = execute(t, rolloutCmd, false, nil, append(args, "--next", "-o", "json")...)
	lines := jsonLines(t, r.out)
	if r.code != 0 || len(lines) != 2 || lines[1]["result"] != "paused" || lines[1]["paused"].(map[string]any)["server"] != "s2" {
		t.Fatalf("exit %d, stdout %s, stderr %s", r.code, r.out, r.errOut)
	}
	if !strings.Contains(r.errOut, "resuming the rollout of ws") || !strings.Contains(lines[1]["resumed"].(string), "s1 drained, to be deployed") {
		t.Errorf("no resume message: stderr %s", r.errOut)
	}
	if a1, a2, a3 := f.admin(t, "s1"), f.admin(t, "s2"), f.admin(t, "s3"); a1 != haproxy.Ready || a2 != haproxy.Maint || a3 != haproxy.Drain {
		t.Errorf("paused at s2: s1 %s, s2 %s, s3 %s; want READY, MAINT, DRAIN", a1, a2, a3)
	}
	if r := execute(t, rolloutCmd, false, nil, append(args, "--pause")...); r.code != exitError || !strings.Contains(r.errOut, "s2 waits to be deployed") {
		t.Errorf("--pause while paused: exit %d, stderr %s", r.code, r.errOut)
	}
	if r := execute(t, rolloutCmd, false, nil, append(args, "--next")...); r.code != 0 || !strings.Contains(r.out, "ws/s3 is drained and in MAINT: deploy it") {
		t.Fatalf("exit %d, stdout %s, stderr %s", r.code, r.out, r.errOut)
	}
	r = execute(t, rolloutCmd, false, nil, append(args, "--next")...)
	if r.code != 0 || !strings.Contains(r.out, "rollout of ws done: 3 servers") || !strings.Contains(r.out, "step 3/3 ws/s3") {
		t.Fatalf("exit %d, stdout %s, stderr %s", r.code, r.out, r.errOut)
	}
	for _, s := range []string{"s1", "s2", "s3"} {
		if a := f.admin(t, s); a != haproxy.Ready {
			t.Errorf("%s is %s at the end", s, a)
		}
	}
}

func TestRolloutFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"ws"}, "give one of --exec"},
		{[]string{"ws", "--pause", "--next"}, "give one of --exec"},
		{[]string{"ws", "--pause", "--close-rate", "0.001"}, "close-rate 0.001 is out of range"},
		{[]string{"ws", "--pause", "--max-unavailable", "0"}, "--max-unavailable 0"},
		{[]string{"ws", "--pause", "-c", "/nonexistent.yaml"}, "rollout needs the spec"},
		{[]string{"a", "b", "--pause"}, "one backend"},
	} {
		if r := execute(t, rolloutCmd, false, nil, c.args...); r.code != exitError || !strings.Contains(r.errOut, c.want) {
			t.Errorf("%v: exit %d, stderr %s; want %q", c.args, r.code, r.errOut, c.want)
		}
	}
}

// TestRolloutRefusesDamagedState: a state file naming a server the backend lacks, or with a name a shell would expand,
// is refused with exit 2 naming the file and the field; the --exec command
// never runs and every server stays READY.
func TestRolloutRefusesDamagedState(t *testing.T) {
	f, specPath := rolloutFixture(t)
	state := filepath.Join(t.TempDir(), "wsctl-rollout-ws.json")
	marker := filepath.Join(t.TempDir(), "deployed")
	for _, c := range []struct {
		name, state, want string
	}{
		{"unknown server", `{"backend": "ws", "order": ["s1", "nope", "s3"], "index": 1, "phase": "deploy", "held": ["s3"],
			"steps": [{"server": "s1", "step": 1, "of": 3}], "current": {"server": "nope", "step": 2, "of": 3}}`,
			`order[1]: ` + f.lb.AdminSocket + `: unknown server "ws/nope"`},
		{"command substitution", `{"backend": "ws", "order": ["$(touch ` + marker + `)", "s2", "s3"], "index": 0, "phase": "deploy",
			"current": {"server": "$(touch ` + marker + `)", "step": 1, "of": 3}}`,
			`order[0]: "$(touch `},
	} {
		writeFile(t, state, c.state)
		r := execute(t, rolloutCmd, false, nil, "ws", "-c", specPath, "--state", state, "--exec", "touch "+marker+`; eval "echo $WSCTL_SERVER"`)
		if r.code != exitError || !strings.Contains(r.errOut, "damaged state file "+state+": "+c.want) {
			t.Errorf("%s: exit %d, stderr %s; want 2 naming %s and %q", c.name, r.code, r.errOut, state, c.want)
		}
		if _, err := os.Stat(marker); !os.IsNotExist(err) {
			t.Errorf("%s: the deploy command ran: %v", c.name, err)
		}
		for _, s := range []string{"s1", "s2", "s3"} {
			if a := f.admin(t, s); a != haproxy.Ready {
				t.Errorf("%s: %s is %s, want READY", c.name, s, a)
			}
		}
	}
}

// TestRolloutDryRun: --dry-run plans the rollout (every server, in order)
// and changes nothing: no state file, no command run, every server READY
// with its clients.
func TestRolloutDryRun(t *testing.T) {
	f, specPath := rolloutFixture(t)
	marker := filepath.Join(t.TempDir(), "deployed")
	state := filepath.Join(t.TempDir(), "state.json")
	before, err := f.c.Servers(context.Background(), "ws")
	if err != nil {
		t.Fatal(err)
	}
	r := execute(t, rolloutCmd, false, nil, "ws", "-c", specPath, "--close-after", "100ms", "--state", state,
		"--exec", "touch "+marker, "--dry-run", "-o", "json")
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", r.code, r.out, r.errOut)
	}
	var got struct {
		Backend string   `json:"backend"`
		DryRun  bool     `json:"dry_run"`
		Would   []string `json:"would"`
	}
	if err := json.Unmarshal([]byte(r.out), &got); err != nil {
		t.Fatalf("%v: %s", err, r.out)
	}
	if got.Backend != "ws" || !got.DryRun || len(got.Would) != 4 || !strings.Contains(got.Would[0], state) {
		t.Fatalf("got %+v, want the state file and three servers", got)
	}
	for _, s := range []string{"s1", "s2", "s3"} {
		if !strings.Contains(strings.Join(got.Would[1:], "\n"), "ws/"+s+": DRAIN") {
			t.Errorf("%s not in the plan: %q", s, got.Would)
		}
	}
	for _, p := range []string{marker, state} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s exists after a dry run: %v", p, err)
		}
	}
	after, err := f.c.Servers(context.Background(), "ws")
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range after {
		if s.Admin != haproxy.Ready || s.Stot != before[i].Stot {
			t.Errorf("%s after the dry run: %s, %d sessions in all (was %d)", s.Server, s.Admin, s.Stot, before[i].Stot)
		}
	}
}

// backendSpec writes a spec whose backend ws holds servers, closing at
// closeRate, with HAProxy's admin socket at adminSocket, and returns its path.
func backendSpec(t *testing.T, servers []*lbtest.Wsecho, adminSocket string, closeRate int) string {
	t.Helper()
	var list strings.Builder
	for _, s := range servers {
		fmt.Fprintf(&list, "      - {name: %s, address: '%s'}\n", s.ID, s.Addr)
	}
	return writeFile(t, filepath.Join(t.TempDir(), "wsctl.yaml"), fmt.Sprintf(`listeners: [{name: f, bind: '127.0.0.1:1', default_backend: ws}]
backends:
  - name: ws
    close_rate: %d
    servers:
%shaproxy: {admin_socket: %s}
`, closeRate, list.String(), adminSocket))
}

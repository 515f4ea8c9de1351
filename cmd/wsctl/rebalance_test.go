package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/haproxy/haproxytest"
	"github.com/wsctl/wsctl/internal/cli"
	"github.com/wsctl/wsctl/rebalance"
	"github.com/wsctl/wsctl/spec"
	"github.com/wsctl/wsctl/target"
)

var rebalanceCmd runtimeCmd = func(io *cli.IOStreams) *cobra.Command { return NewCmdRebalance(&Factory{IO: io}, nil) }

// rebalanceFixture is three servers behind HAProxy with 20/20/0
// reconnecting cookie clients (s3 readmitted into the full backend), and a
// spec naming them.
func rebalanceFixture(t *testing.T) (*haproxy.Client, *haproxytest.Clients, string) {
	t.Helper()
	ctx := context.Background()
	servers := haproxytest.Backends(t, "s1", "s2", "s3")
	lb := haproxytest.StartLB(t, haproxytest.Config{}, servers)
	c, err := haproxy.Dial(ctx, lb.AdminSocket, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	waitChecked(t, c, "ws")
	if err := c.SetState(ctx, "ws", "s3", haproxy.Maint); err != nil {
		t.Fatal(err)
	}
	fleet := haproxytest.StartClients(t, lb.URL(), 40, true)
	if err := c.Readmit(ctx, "ws", "s3"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s, _ := c.Server(ctx, "ws", "s3"); !s.TakesClients(); s, _ = c.Server(ctx, "ws", "s3") {
		if time.Now().After(deadline) {
			t.Fatalf("s3 does not take clients: %+v", s)
		}
		time.Sleep(50 * time.Millisecond)
	}
	specPath := backendSpec(t, servers, lb.AdminSocket, 100)
	return c, fleet, specPath
}

func scur(t *testing.T, c *haproxy.Client) map[string]int64 {
	t.Helper()
	all, err := c.Servers(context.Background(), "ws")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, s := range all {
		out[s.Server] = s.Scur
		if s.Admin != haproxy.Ready {
			t.Errorf("%s is %s, want READY", s.Server, s.Admin)
		}
	}
	return out
}

// TestRebalanceDryRunThenRun: --dry-run prints the plan and changes
// nothing; the run that follows evens the backend out, a JSON line per
// step then the summary.
func TestRebalanceDryRunThenRun(t *testing.T) {
	c, fleet, specPath := rebalanceFixture(t)
	start := time.Now()
	r := execute(t, rebalanceCmd, false, nil, "ws", "-c", specPath, "--dry-run")
	if r.code != 0 || !strings.Contains(r.out, "s3      0         1       13      0      off by more than 10 %") || !strings.Contains(r.out, "13 sessions to move (the minimum) at 100/s; nothing changed") {
		t.Fatalf("dry run: exit %d\nstdout %s\nstderr %s", r.code, r.out, r.errOut)
	}
	r = execute(t, rebalanceCmd, false, nil, "ws", "-c", specPath, "--dry-run", "-o", "json")
	if lines := jsonLines(t, r.out); r.code != 0 || len(lines) != 1 || lines[0]["result"] != "planned" || lines[0]["minimum"] != 13.0 {
		t.Fatalf("dry run -o json: exit %d\nstdout %s\nstderr %s", r.code, r.out, r.errOut)
	}
	time.Sleep(300 * time.Millisecond)
	if cuts := fleet.Since(start, false); len(cuts) != 0 {
		t.Errorf("the dry runs cut %d clients", len(cuts))
	}
	if got := scur(t, c); got["s1"] != 20 || got["s2"] != 20 || got["s3"] != 0 {
		t.Errorf("sessions after the dry runs %v, want 20/20/0", got)
	}

	r = execute(t, rebalanceCmd, false, nil, "ws", "-c", specPath, "-o", "json")
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", r.code, r.out, r.errOut)
	}
	lines := jsonLines(t, r.out)
	var steps []string
	for _, l := range lines[:len(lines)-1] {
		steps = append(steps, l["step"].(string))
	}
	if got := strings.Join(steps, " "); got != "plan closing settled readmitted" {
		t.Errorf("steps %q, want plan closing settled readmitted", got)
	}
	sum := lines[len(lines)-1]
	if sum["type"] != "rebalance" || sum["result"] != "balanced" || sum["closed"] != 13.0 || sum["minimum"] != 13.0 {
		t.Errorf("summary %v", sum)
	}
	got := scur(t, c)
	for s, n := range got {
		if n < 12 || n > 15 {
			t.Errorf("%s holds %d sessions at the end, want 13 or 14 (%v)", s, n, got)
		}
	}
	// Balanced now: nothing to do, exit 0 again.
	r = execute(t, rebalanceCmd, false, nil, "ws", "-c", specPath)
	if r.code != 0 || !strings.Contains(r.out, "ws balanced: 0 sessions moved") {
		t.Errorf("second run: exit %d\nstdout %s\nstderr %s", r.code, r.out, r.errOut)
	}
}

func TestRebalanceFlags(t *testing.T) {
	specPath := writeFile(t, filepath.Join(t.TempDir(), "wsctl.yaml"), `listeners: [{name: f, bind: '127.0.0.1:1', default_backend: ws}]
backends:
  - name: ws
    servers: [{name: s1, address: '127.0.0.1:2'}]
haproxy: {admin_socket: /nonexistent/admin.sock}
`)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{name: "tolerance", args: []string{"ws", "--tolerance", "100"}, want: "tolerance 1 is out of range"},
		{name: "rate", args: []string{"ws", "--close-rate", "0"}, want: "close-rate 0 is out of range"},
		{name: "output", args: []string{"ws", "-o", "yaml"}, want: `--output "yaml"`},
		{name: "backend", args: []string{"other", "-c", specPath}, want: `backend "other" is not in`},
		{name: "no backend", args: nil, want: "accepts 1 arg"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := execute(t, rebalanceCmd, false, nil, tc.args...)
			if r.code != exitError || !strings.Contains(r.errOut, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", r.code, r.errOut, tc.want)
			}
		})
	}
}

// fakeRebalanceSpec is a spec of backend ws with s1..s3, for the fakes.
func fakeRebalanceSpec(t *testing.T) string {
	t.Helper()
	return writeFile(t, filepath.Join(t.TempDir(), "wsctl.yaml"), `listeners: [{name: f, bind: '127.0.0.1:1', default_backend: ws}]
backends:
  - name: ws
    close_rate: 1000
    servers: [{name: s1, address: '127.0.0.1:2'}, {name: s2, address: '127.0.0.1:3'}, {name: s3, address: '127.0.0.1:4'}]
haproxy: {admin_socket: /fake.sock}
`)
}

// TestRebalanceRunFake: rebalanceRun on an in-memory socket whose cut
// clients reconnect to s3: --dry-run changes nothing, the run puts the
// donors in MAINT, closes the minimum, readmits them and prints a JSON
// line per step and the summary.
func TestRebalanceRunFake(t *testing.T) {
	rt := haproxytest.NewRuntime(ws("s1", haproxy.Ready, haproxy.Up, 30), ws("s2", haproxy.Ready, haproxy.Up, 30), ws("s3", haproxy.Ready, haproxy.Up, 0))
	var moved atomic.Int64 // the servers shed at once
	shutdown, servers := rt.ShutdownSessionFunc, rt.ServersFunc
	rt.ShutdownSessionFunc = func(ctx context.Context, b, s string, id haproxy.SessionID) error {
		moved.Add(1)
		return shutdown(ctx, b, s, id)
	}
	rt.ServersFunc = func(ctx context.Context, b string) ([]haproxy.ServerStatus, error) {
		all, err := servers(ctx, b)
		for i := range all {
			if all[i].Server == "s3" {
				all[i].Scur += moved.Load() // the cut clients reconnected here
			}
		}
		return all, err
	}
	ios, out, _ := testIO()
	opts := &RebalanceOptions{IO: ios, Socket: fakeSockets(rt), Backend: "ws", Tolerance: 10, Output: "json", Quiet: true,
		Fleet: FleetOptions{DryRun: true}, Settle: time.Second, Poll: time.Millisecond}
	opts.Socket.SpecPath = fakeRebalanceSpec(t)
	if err := rebalanceRun(opts); err != nil {
		t.Fatal(err)
	}
	if lines := jsonLines(t, out.String()); len(lines) != 1 || lines[0]["result"] != "planned" || lines[0]["minimum"] != 20.0 {
		t.Fatalf("dry run: %s", out)
	}
	if calls := rt.Calls(); len(calls) != 0 {
		t.Fatalf("the dry run changed %q", calls)
	}
	out.Reset()
	opts.Fleet.DryRun = false
	if err := rebalanceRun(opts); err != nil {
		t.Fatal(err)
	}
	lines := jsonLines(t, out.String())
	var steps []string
	for _, l := range lines[:len(lines)-1] {
		steps = append(steps, l["step"].(string))
	}
	if got := strings.Join(steps, " "); got != "plan closing settled readmitted" {
		t.Errorf("steps %q", got)
	}
	if sum := lines[len(lines)-1]; sum["result"] != "balanced" || sum["closed"] != 20.0 {
		t.Errorf("summary %v", sum)
	}
	want := []string{"set ws/s1 MAINT", "set ws/s2 MAINT"}
	for range 10 {
		want = append(want, "shutdown session ws/s1", "shutdown session ws/s2")
	}
	want = append(want, "readmit ws/s1", "readmit ws/s2")
	// The servers shed side by side: their closes in any order, between
	// the MAINTs and the readmissions.
	calls := rt.Calls()
	if len(calls) == len(want) {
		slices.Sort(calls[2 : len(calls)-2])
		slices.Sort(want[2 : len(want)-2])
	}
	if !slices.Equal(calls, want) {
		t.Errorf("calls %q, want %q", rt.Calls(), want)
	}
}

// TestRebalanceRunFleetFake: rebalance --fleet through a fake fleet maps
// the outcomes to the exit codes: balanced 0, not balanced in time 3, a
// load balancer gone quiet 2 naming it; the close rate is the flag's.
func TestRebalanceRunFleetFake(t *testing.T) {
	plan := rebalance.Compute([]rebalance.Load{{Server: "s1", Sessions: 30, Weight: 1, Eligible: true}, {Server: "s2", Weight: 1, Eligible: true}}, 0)
	for _, tc := range []struct {
		name string
		res  rebalance.Result
		code int
		want string
	}{
		{name: "balanced", res: rebalance.Result{Outcome: rebalance.Balanced, Before: plan, After: plan, Rounds: 1, Closed: 15}, code: exitOK, want: "ws balanced: 15 sessions moved"},
		{name: "timed out", res: rebalance.Result{Outcome: rebalance.TimedOut, Before: plan, After: plan}, code: exitTimeout},
		{name: "gone quiet", res: rebalance.Result{Outcome: rebalance.Failed, Before: plan, After: plan,
			Err: errors.New("fleet: rebalance ws: agent lb2 stopped reporting")}, code: exitError, want: "agent lb2 stopped reporting"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeFleet{rebalanced: tc.res}
			ios, out, errOut := testIO()
			f := &Factory{IO: ios, Fleet: func(spec.Consul) (target.Operator, error) { return fake, nil }}
			cmd := NewCmdRebalance(f, nil)
			cmd.SetArgs([]string{"ws", "--fleet", "-c", fakeRebalanceSpec(t), "--close-rate", "50", "-q"})
			cmd.SilenceUsage, cmd.SilenceErrors = true, true
			err := cmd.Execute()
			if code := exitCode(err); code != tc.code || !strings.Contains(out.String()+errOut.String()+fmt.Sprint(err), tc.want) {
				t.Errorf("exit %d (%v), stdout %q, stderr %q; want %d and %q", code, err, out, errOut, tc.code, tc.want)
			}
			if fake.asked.Rate != 50 || fake.asked.Backend != "ws" {
				t.Errorf("asked %+v, want ws at 50/s", fake.asked)
			}
		})
	}
}

package main

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wsctl/wsctl/drain"
	"github.com/wsctl/wsctl/fleet"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/haproxy/haproxytest"
	"github.com/wsctl/wsctl/intent"
	"github.com/wsctl/wsctl/rebalance"
	"github.com/wsctl/wsctl/spec"
	"github.com/wsctl/wsctl/target"
)

// fakeFleet is a fleet in memory: Read returns view, Run returns run,
// Rebalance rebalanced (each with err).
type fakeFleet struct {
	view       *fleet.View
	run        fleet.Status
	rebalanced rebalance.Result
	err        error
	// asked is the last rebalance asked for.
	asked rebalance.Options
}

var _ target.Operator = (*fakeFleet)(nil)

func (f *fakeFleet) Read(context.Context, uint64) (*fleet.View, error) { return f.view, f.err }

func (f *fakeFleet) Run(_ context.Context, _ fleet.Request, update func(fleet.Status)) (fleet.Status, error) {
	if update != nil {
		update(f.run)
	}
	return f.run, f.err
}

func (f *fakeFleet) Where() string { return "consul fake kv wsctl/" }

func (f *fakeFleet) Rebalance(_ context.Context, _ fleet.RebalanceRequest, o rebalance.Options) (rebalance.Result, error) {
	f.asked = o
	return f.rebalanced, f.err
}

// runStatus runs `wsctl status args` with f's sockets and fleet; it
// returns the exit code, stdout and the error.
func runStatus(t *testing.T, f *Factory, args ...string) (int, string, error) {
	t.Helper()
	ios, out, _ := testIO()
	f.IO = ios
	cmd := NewCmdStatus(f, nil)
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.Execute()
	return exitCode(err), out.String(), err
}

// fakeDial dials the in-memory sockets by path; any other path fails as
// a missing socket does.
func fakeDial(sockets map[string]*haproxytest.Runtime) func(context.Context, string, time.Duration) (target.Runtime, error) {
	return func(_ context.Context, path string, _ time.Duration) (target.Runtime, error) {
		if rt, ok := sockets[path]; ok {
			return rt, nil
		}
		return nil, errors.New("runtime: " + path + ": no HAProxy socket: no such file")
	}
}

// TestStatusRunSockets: status on in-memory sockets prints every socket's
// servers (the socket named when there are several), still shows those of
// the sockets that answered when one fails (exit 2, naming it), and
// prints nothing when none answers.
func TestStatusRunSockets(t *testing.T) {
	a := haproxytest.NewRuntime(ws("s1", haproxy.Ready, haproxy.Up, 3), ws("s2", haproxy.Drain, haproxy.Up, 1))
	b := haproxytest.NewRuntime(ws("s1", haproxy.Maint, haproxy.Down, 0))
	f := &Factory{Dial: fakeDial(map[string]*haproxytest.Runtime{"/a.sock": a, "/b.sock": b})}

	code, out, err := runStatus(t, f, "--socket", "/a.sock")
	want := "BACKEND  SERVER  ADDR  STATE  ADMIN  CHECK  SCUR  SMAX  STOT  WEIGHT\n" +
		"ws       s1            UP     READY  -      3     0     0     0\n" +
		"ws       s2            UP     DRAIN  -      1     0     0     0\n"
	if code != exitOK || out != want {
		t.Errorf("one socket: exit %d (%v), stdout (-want +got):\n%s", code, err, cmp.Diff(want, out))
	}

	code, out, err = runStatus(t, f, "--socket", "/a.sock", "--socket", "/b.sock", "-o", "json")
	if code != exitOK || strings.Count(out, `"socket": "/a.sock"`) != 2 || strings.Count(out, `"socket": "/b.sock"`) != 1 {
		t.Errorf("two sockets: exit %d (%v), stdout %s", code, err, out)
	}

	code, out, err = runStatus(t, f, "--socket", "/a.sock", "--socket", "/dead.sock")
	if code != exitError || err == nil || !strings.Contains(err.Error(), "/dead.sock: no HAProxy socket") ||
		!strings.HasPrefix(out, "SOCKET   BACKEND") || strings.Count(out, "/a.sock") != 2 || strings.Contains(out, "dead") {
		t.Errorf("a dead socket: exit %d (%v), stdout %q; want 2 naming it, the live socket's servers shown", code, err, out)
	}

	b.ServersFunc = func(context.Context, string) ([]haproxy.ServerStatus, error) {
		return nil, errors.New(`runtime: /b.sock: unknown backend "ws"`)
	}
	code, out, err = runStatus(t, f, "--socket", "/b.sock", "--socket", "/dead.sock", "-o", "json")
	if code != exitError || out != "" || err == nil || !strings.Contains(err.Error(), "unknown backend") || !strings.Contains(err.Error(), "/dead.sock") {
		t.Errorf("no socket answers: exit %d (%v), stdout %q; want 2 naming both, nothing printed", code, err, out)
	}

	if code, _, err := runStatus(t, f, "--socket", "/a.sock", "-b", "ws\nshow"); code != exitError || len(a.Calls()) != 0 {
		t.Errorf("a bad backend name: exit %d (%v), calls %q", code, err, a.Calls())
	}
}

// fleetSpec writes a spec with a consul section for --fleet.
func fleetSpec(t *testing.T) string {
	t.Helper()
	text := strings.NewReplacer("FRONTEND", "127.0.0.1:8080", "CONSUL", "127.0.0.1:1", "RUN", "/run/haproxy").Replace(fleetSpecText)
	return writeFile(t, filepath.Join(t.TempDir(), "wsctl.yaml"), text)
}

// TestStatusRunFleet: status --fleet reads the fleet through the target
// (a fake fleet here): the live load balancers, each one's reports per
// server, the intents with who and why; a load balancer whose agent died
// is not among them (its reports went with its session); a fleet that
// cannot be read is exit 2 with nothing printed.
func TestStatusRunFleet(t *testing.T) {
	ref := haproxy.Ref{Backend: "ws", Server: "echo-2"}
	since := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	fake := &fakeFleet{view: &fleet.View{
		// lb2 stopped reporting: Consul deleted its keys.
		Agents: map[string]fleet.Announcement{"lb3": {Agent: "lb3"}, "lb1": {Agent: "lb1"}},
		Intents: map[haproxy.Ref]intent.Intent{ref: {Backend: "ws", Server: "echo-2", State: haproxy.Maint, Since: since,
			Op: &intent.Op{ID: "op1"}, Who: "ann@ci", Reason: "deploy 1.4.2"}},
		Progress: map[haproxy.Ref]map[string]fleet.Progress{ref: {
			"lb3": {Agent: "lb3", Backend: "ws", Server: "echo-2", Op: "op1", Admin: haproxy.Maint, State: haproxy.Up, Phase: fleet.PhaseDrained},
			"lb1": {Agent: "lb1", Backend: "ws", Server: "echo-2", Op: "op1", Admin: haproxy.Drain, State: haproxy.Up, Phase: string(drain.Waiting), Sessions: 4},
		}},
	}}
	var reached spec.Consul
	f := &Factory{Fleet: func(c spec.Consul) (target.Operator, error) { reached = c; return fake, nil }}
	sp := fleetSpec(t)

	code, out, err := runStatus(t, f, "--fleet", "-c", sp)
	want := "load balancers (2 live): [lb1 lb3]\n" +
		"SERVER     LOAD BALANCER  ADMIN  STATE  PHASE    SESSIONS  OP\n" +
		"ws/echo-2  lb1            DRAIN  UP     waiting  4         op1\n" +
		"ws/echo-2  lb3            MAINT  UP     drained  0         op1\n" +
		"\n" +
		"INTENT     STATE  SINCE                 WHO     REASON\n" +
		"ws/echo-2  MAINT  2025-01-02T03:04:05Z  ann@ci  deploy 1.4.2\n"
	if code != exitOK || out != want {
		t.Errorf("exit %d (%v), stdout (-want +got):\n%s", code, err, cmp.Diff(want, out))
	}
	if reached.Address != "127.0.0.1:1" {
		t.Errorf("the fleet was reached with %+v, want the spec's consul", reached)
	}

	code, out, err = runStatus(t, f, "--fleet", "-c", sp, "-b", "other", "-o", "json")
	if want := "{\n  \"agents\": [\n    \"lb1\",\n    \"lb3\"\n  ],\n  \"intents\": [],\n  \"servers\": []\n}\n"; code != exitOK || out != want {
		t.Errorf("another backend: exit %d (%v), stdout (-want +got):\n%s", code, err, cmp.Diff(want, out))
	}

	fake.err = errors.New("fleet: consul 127.0.0.1:1: read wsctl/: connection refused")
	if code, out, err := runStatus(t, f, "--fleet", "-c", sp); code != exitError || out != "" || !errors.Is(err, fake.err) {
		t.Errorf("consul down: exit %d (%v), stdout %q; want 2, nothing printed", code, err, out)
	}
}

// TestReportFleetMissing: a fleet drain during which a load balancer's
// agent stopped reporting fails (exit 2) naming it, the table on stderr;
// with --allow-missing it is done on the others, exit 0, the line naming
// the one missing.
func TestReportFleetMissing(t *testing.T) {
	ref := haproxy.Ref{Backend: "ws", Server: "echo-2"}
	rows := []fleet.Row{
		{Agent: "lb1", Report: &fleet.Progress{Admin: haproxy.Maint, Phase: fleet.PhaseDrained, Closed: 3}, Done: true},
		{Agent: "lb2", Missing: true},
	}
	for _, tc := range []struct {
		name    string
		st      fleet.Status
		code    int
		out     string
		inError []string
	}{
		{name: "missing", st: fleet.Status{Rows: rows, Outcome: fleet.Failed, Problem: "agent lb2 stopped reporting"},
			code: exitError, inError: []string{"drained ws/echo-2: agent lb2 stopped reporting; the intent stays in consul fake kv wsctl/"}},
		{name: "allow missing", st: fleet.Status{Rows: rows, Outcome: fleet.Done, Elapsed: 1200 * time.Millisecond},
			code: exitOK, out: "ws/echo-2 drained on 1 load balancer in 1.2s; missing: lb2 (--allow-missing)\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := &target.Fleet{Operator: &fakeFleet{run: tc.st}, AllowMissing: tc.code == exitOK}
			res, err := tg.Drain(context.Background(), ref, drain.Options{Timeout: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			ios, out, errOut := testIO()
			err = reportFleet(ios, nil, res, tg.Where(), "text", "drained", true)
			if code := exitCode(err); code != tc.code || out.String() != tc.out {
				t.Errorf("exit %d (%v), stdout %q; want %d, %q", code, err, out, tc.code, tc.out)
			}
			for _, want := range tc.inError {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("error %v, want it to say %q", err, want)
				}
			}
			if tc.code != exitOK && !strings.Contains(errOut.String(), "lb2            -      missing  0         0       false  stopped reporting") {
				t.Errorf("stderr lacks lb2's row:\n%s", errOut)
			}
		})
	}
}

package top

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/wsctl/wsctl/fleet"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/haproxy/haproxytest"
	"github.com/wsctl/wsctl/intent"
	"github.com/wsctl/wsctl/spec"
	"github.com/wsctl/wsctl/target"
)

// fakeMaster is a Master whose methods are its fields.
type fakeMaster struct {
	procs    func(ctx context.Context) (haproxy.Procs, error)
	sessions func(ctx context.Context, pid int64) ([]haproxy.WorkerSession, error)
}

var _ Master = (*fakeMaster)(nil)

func (f *fakeMaster) Procs(ctx context.Context) (haproxy.Procs, error) { return f.procs(ctx) }
func (f *fakeMaster) WorkerSessions(ctx context.Context, pid int64) ([]haproxy.WorkerSession, error) {
	return f.sessions(ctx, pid)
}

// fakeStore is an intent.Store holding its intents.
type fakeStore struct{ all map[haproxy.Ref]intent.Intent }

var _ intent.Store = (*fakeStore)(nil)

func (f *fakeStore) Load(context.Context) (map[haproxy.Ref]intent.Intent, error) { return f.all, nil }
func (f *fakeStore) Put(context.Context, intent.Intent) error                    { return nil }
func (f *fakeStore) Delete(context.Context, haproxy.Ref) error                   { return nil }
func (f *fakeStore) Where() string                                               { return "fake" }

func server(backend, name string, admin haproxy.AdminState, state haproxy.OpState, scur, stot int64) haproxy.ServerStatus {
	return haproxy.ServerStatus{Backend: backend, Server: name, Admin: admin, State: state, Check: "L7OK", Scur: scur, Stot: stot, UserWeight: 1}
}

// socket is an in-memory admin socket at path holding servers.
func socket(path string, servers ...haproxy.ServerStatus) target.Socket {
	return target.Socket{Name: path, Runtime: haproxytest.NewRuntime(servers...)}
}

// TestTopSample reads every source, keeps what answered and names what did not.
func TestTopSample(t *testing.T) {
	broken := socket("/run/b.sock")
	broken.Runtime.(*haproxytest.Runtime).ServersFunc = func(context.Context, string) ([]haproxy.ServerStatus, error) {
		return nil, errors.New("connection refused")
	}
	m := &fakeMaster{
		procs: func(context.Context) (haproxy.Procs, error) {
			return haproxy.Procs{Old: []haproxy.Proc{{Pid: 41, Reloads: 1}, {Pid: 42, Reloads: 2}}}, nil
		},
		sessions: func(_ context.Context, pid int64) ([]haproxy.WorkerSession, error) {
			if pid == 42 {
				return nil, haproxy.ErrNoSuchWorker
			}
			return []haproxy.WorkerSession{{Backend: "ws"}, {Backend: "ws"}, {Backend: "chat"}}, nil
		},
	}
	in := intent.Intent{Backend: "ws", Server: "s2", State: haproxy.Drain, Who: "ci@runner"}
	snap := Sample(context.Background(), Sources{
		Sockets:  &target.Local{Sockets: []target.Socket{socket("/run/a.sock", server("ws", "s1", haproxy.Ready, haproxy.Up, 3, 10)), broken}},
		Master:   m,
		Intents:  &fakeStore{all: map[haproxy.Ref]intent.Intent{in.Ref(): in}},
		Rollouts: map[string]string{"ws": t.TempDir() + "/none.json"},
	})
	if len(snap.Servers) != 1 || snap.Servers[0].Socket != "/run/a.sock" || snap.Servers[0].Scur != 3 {
		t.Errorf("servers = %+v", snap.Servers)
	}
	if len(snap.Errors) != 1 || !strings.Contains(snap.Errors[0], "/run/b.sock: connection refused") {
		t.Errorf("errors = %q", snap.Errors)
	}
	if len(snap.Old) != 2 || snap.Old[0].Total() != 3 || snap.Old[0].Sessions["ws"] != 2 || snap.Old[1].Total() != 0 {
		t.Errorf("old workers = %+v", snap.Old)
	}
	if len(snap.Intents) != 1 || snap.Intents[0].Who != "ci@runner" {
		t.Errorf("intents = %+v", snap.Intents)
	}
	if len(snap.Rollouts) != 0 {
		t.Errorf("rollouts without a state file = %+v", snap.Rollouts)
	}
}

// view is the model's text without colours.
func view(m tea.Model) string { return ansi.Strip(m.View().Content) }

func update(t *testing.T, m tea.Model, msgs ...tea.Msg) tea.Model {
	t.Helper()
	for _, msg := range msgs {
		m, _ = m.Update(msg)
	}
	return m
}

func key(s string) tea.KeyPressMsg {
	switch s {
	case "tab":
		return tea.KeyPressMsg{Code: tea.KeyTab}
	case "left":
		return tea.KeyPressMsg{Code: tea.KeyLeft}
	case "ctrl+c":
		return tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}
	}
	return tea.KeyPressMsg{Code: rune(s[0]), Text: s}
}

// rows are the server names of the table, in order.
func rows(text string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		f := strings.Fields(l)
		if len(f) > 1 && !strings.Contains(f[0], "/") && (f[1] == "READY" || f[1] == "DRAIN" || f[1] == "MAINT") {
			out = append(out, f[0])
		}
	}
	return out
}

// TestTopModelShowsSwitchesAndSorts feeds two snapshots and keys: the
// backend's servers with their sessions and connects per second, what is
// in progress, backend switching and sorting.
func TestTopModelShowsSwitchesAndSorts(t *testing.T) {
	at := time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	first := Snapshot{At: at, Servers: []Server{
		{Socket: "/run/a.sock", ServerStatus: server("ws", "s1", haproxy.Ready, haproxy.Up, 5, 100)},
		{Socket: "/run/a.sock", ServerStatus: server("ws", "s2", haproxy.Drain, haproxy.Up, 7, 50)},
		{Socket: "/run/a.sock", ServerStatus: server("ws", "s3", haproxy.Maint, haproxy.Down, 0, 0)},
		{Socket: "/run/a.sock", ServerStatus: server("chat", "c1", haproxy.Ready, haproxy.Up, 1, 1)},
	}}
	second := first
	second.At = at.Add(2 * time.Second)
	second.Servers = append([]Server(nil), first.Servers...)
	second.Servers[0].Stot = 110
	second.Old = []OldWorker{{Pid: 41, Reloads: 1, Sessions: map[string]int{"ws": 4}}}
	second.Rollouts = []Rollout{{Backend: "ws", Where: "1 of 3 servers done, s2 being drained"}}

	var m tea.Model = New(func(context.Context) Snapshot { return first }, time.Second)
	m = update(t, m, SnapshotMsg(first), SnapshotMsg(second))
	if text := view(m); !strings.Contains(text, "backend chat (1/2)") || strings.Join(rows(text), " ") != "c1" {
		t.Errorf("the first backend is not shown first:\n%s", text)
	}
	m = update(t, m, key("tab"))
	text := view(m)
	for _, want := range []string{
		"backend ws (2/2)", "sort: name",
		"s1                   READY  UP       L7OK           5",
		"██     5.0      1", // (110-100) connects in 2 s, weight 1
		"ws/s2 DRAIN on a.sock: 7 sessions left",
		"rollout ws: 1 of 3 servers done, s2 being drained",
		"old worker 41 (1 reloads ago): 4 WebSockets ws 4",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("view lacks %q:\n%s", want, text)
		}
	}
	if got := rows(text); strings.Join(got, " ") != "s1 s2 s3" {
		t.Errorf("rows by name = %v", got)
	}
	m = update(t, m, key("s"))
	if got := rows(view(m)); strings.Join(got, " ") != "s2 s1 s3" {
		t.Errorf("rows by sessions = %v", got)
	}
	m = update(t, m, key("s"))
	if got := rows(view(m)); strings.Join(got, " ") != "s3 s2 s1" {
		t.Errorf("rows by state = %v", got)
	}
	m = update(t, m, key("tab"))
	if text := view(m); !strings.Contains(text, "backend chat (1/2)") {
		t.Errorf("tab does not wrap around:\n%s", text)
	}
	m = update(t, m, key("left"))
	if text := view(m); !strings.Contains(text, "backend ws (2/2)") {
		t.Errorf("after left:\n%s", text)
	}
}

// TestTopModelQuits on q and ctrl-c.
func TestTopModelQuits(t *testing.T) {
	for _, k := range []string{"q", "ctrl+c"} {
		_, cmd := New(nil, time.Second).Update(key(k))
		if cmd == nil {
			t.Fatalf("%s: no command", k)
		}
		if _, ok := cmd().(tea.QuitMsg); !ok {
			t.Errorf("%s does not quit", k)
		}
	}
}

// TestTopModelFleet shows every load balancer's reports on the backend.
func TestTopModelFleet(t *testing.T) {
	ref := haproxy.Ref{Backend: "ws", Server: "s2"}
	snap := Snapshot{At: time.Now(), Servers: []Server{{Socket: "a", ServerStatus: server("ws", "s2", haproxy.Drain, haproxy.Up, 3, 3)}},
		Fleet: &fleet.View{
			Agents: map[string]fleet.Announcement{"lb1": {}, "lb2": {}},
			Progress: map[haproxy.Ref]map[string]fleet.Progress{ref: {
				"lb1": {Agent: "lb1", Admin: haproxy.Drain, State: haproxy.Up, Phase: "waiting", Sessions: 3},
				"lb2": {Agent: "lb2", Admin: haproxy.Maint, State: haproxy.Up, Phase: "drained", Closed: 2},
			}},
		}}
	text := view(update(t, New(nil, time.Second), SnapshotMsg(snap)))
	for _, want := range []string{"Fleet: 2 load balancers: lb1 lb2", "lb1              s2                   DRAIN  UP       waiting           3      0",
		"lb2              s2                   MAINT  UP       drained           0      2"} {
		if !strings.Contains(text, want) {
			t.Errorf("view lacks %q:\n%s", want, text)
		}
	}
}

func TestTopSparkline(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values []int64
		width  int
		want   string
	}{
		{name: "empty", width: 3, want: "   "},
		{name: "fewer than cells", values: []int64{0, 7}, width: 4, want: "  ▁█"},
		{name: "all zero", values: []int64{0, 0}, width: 2, want: "▁▁"},
		{name: "bucketed by max", values: []int64{1, 8, 2, 4}, width: 2, want: "█▄"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Sparkline(tc.values, tc.width); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestAddSpec: with a spec, top reads its intent store and every
// backend's rollout state file where a rollout without --state keeps it.
func TestAddSpec(t *testing.T) {
	dir := t.TempDir()
	sp := &spec.Spec{HAProxy: spec.HAProxy{StateFile: filepath.Join(dir, "server-state")},
		Backends: []spec.Backend{{Name: "ws"}, {Name: "chat"}}}
	var src Sources
	if err := src.AddSpec(sp); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"ws": filepath.Join(dir, "wsctl-rollout-ws.json"), "chat": filepath.Join(dir, "wsctl-rollout-chat.json")}
	if !reflect.DeepEqual(src.Rollouts, want) || src.Intents == nil {
		t.Errorf("got rollouts %v, intents %v; want %v and a store", src.Rollouts, src.Intents, want)
	}
}

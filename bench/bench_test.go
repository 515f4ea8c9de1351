package bench

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wsctl/wsctl/discovery/static"
	"github.com/wsctl/wsctl/internal/lbtest"
	"github.com/wsctl/wsctl/model"
	"github.com/wsctl/wsctl/spec"
	"github.com/wsctl/wsctl/templates"
)

var (
	full    = flag.Bool("bench-full", false, "run the scenarios at full size and write bench/RESULTS.md and the plots")
	repeats = flag.Int("bench-repeats", 3, "repeats of each full scenario (smoke runs once)")
)

// size returns smoke in a plain test run and full with -bench-full.
func size[T any](smoke, big T) T {
	if *full {
		return big
	}
	return smoke
}

// runs is how many times a scenario repeats.
func runs() int {
	if *full {
		return max(*repeats, 1)
	}
	return 1
}

// publish writes a scenario's section of RESULTS.md and its plots, only in
// full runs: smoke runs must not overwrite measured figures.
func publish(t *testing.T, name, body string, plots map[string]func(f *os.File) error) {
	t.Helper()
	if !*full {
		t.Logf("smoke run, RESULTS.md left alone; section would be:\n%s", body)
		return
	}
	for file, write := range plots {
		f, err := os.Create(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := write(f); err != nil {
			f.Close()
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := UpdateSection("RESULTS.md", name, body); err != nil {
		t.Fatal(err)
	}
}

// stack is examples/basic running for real on free ports: three wsecho
// backends behind HAProxy or nginx.
type stack struct {
	target   string
	model    *model.Model
	frontend string
	backends []*lbtest.Wsecho
	admin    string // HAProxy admin socket
	proxyPID int    // HAProxy master or nginx master
}

// startStack renders examples/basic for target with its connections set to
// conns and replace applied to the spec text, then starts it.
func startStack(t *testing.T, target string, conns int, replace ...string) *stack {
	t.Helper()
	lbtest.Binary(t, target)
	runDir := t.TempDir()
	src, err := os.ReadFile(filepath.Join(lbtest.ModuleRoot(t), "examples", "basic", "wsctl.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	st := &stack{target: target, frontend: lbtest.Addr(t), admin: filepath.Join(runDir, "admin.sock")}
	text := strings.Replace(string(src), "127.0.0.1:8080", st.frontend, 1)
	text = strings.Replace(text, "connections: 4000", fmt.Sprintf("connections: %d", conns), 1)
	for i, id := range []string{"backend1", "backend2", "backend3"} {
		w := lbtest.StartWsecho(t, id, "--close-spread", "0s")
		st.backends = append(st.backends, w)
		text = strings.Replace(text, fmt.Sprintf("127.0.0.1:900%d", i+1), w.Addr, 1)
	}
	text = strings.NewReplacer(replace...).Replace(text)
	env := func(k string) (string, bool) {
		if k == "WSCTL_RUN_DIR" {
			return runDir, true
		}
		return "", false
	}
	s, err := spec.Parse("wsctl.yaml", []byte(text), env)
	if err != nil {
		t.Fatal(err)
	}
	st.model, err = model.Build(s, target, static.Snapshot(s))
	if err != nil {
		t.Fatal(err)
	}
	config, err := templates.Render(st.model, "")
	if err != nil {
		t.Fatal(err)
	}
	switch target {
	case model.TargetHAProxy:
		st.proxyPID = lbtest.StartHAProxy(t, runDir, string(config), st.admin).Proc.PID
	case model.TargetNginx:
		st.proxyPID = lbtest.StartNginx(t, runDir, string(config)).Proc.PID
	}
	lbtest.WaitTCP(t, st.frontend, 10*time.Second)
	return st
}

func (st *stack) url() string { return "ws://" + st.frontend + "/ws" }

// serverStat returns a `show stat` field of a server of ws_cluster.
func (st *stack) serverStat(t *testing.T, server string, field int) string {
	t.Helper()
	for _, l := range strings.Split(lbtest.SocketCommand(t, st.admin, "show stat"), "\n") {
		f := strings.Split(l, ",")
		if len(f) > field && f[0] == "ws_cluster" && f[1] == server {
			return f[field]
		}
	}
	t.Fatalf("no server %s in show stat", server)
	return ""
}

// show stat columns.
const (
	statScur   = 4
	statStot   = 7
	statStatus = 17
)

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

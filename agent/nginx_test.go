package agent

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wsctl/wsctl/discovery/static"
	"github.com/wsctl/wsctl/internal/lbtest"
	"github.com/wsctl/wsctl/model"
	"github.com/wsctl/wsctl/proxy"
	"github.com/wsctl/wsctl/render"
	"github.com/wsctl/wsctl/spec"
	"github.com/wsctl/wsctl/templates"
)

// nginxSpecText is a one-backend nginx spec with static servers (SERVERS)
// and EXTRA appended.
const nginxSpecText = `
proxy: nginx
heartbeat: 30s
connections: 100
listeners:
  - name: front
    bind: FRONTEND
    routes:
      - websocket: true
        backend: ws
    default_backend: ws
backends:
  - name: ws
    balance: leastconn
    servers:
SERVERS
nginx:
  worker_processes: 1
  pid_file: DIR/nginx.pid
  temp_dir: DIR/nginx
EXTRA
`

func TestAgentReloadsNginx(t *testing.T) {
	lbtest.Binary(t, "nginx")
	dir, frontend := t.TempDir(), lbtest.Addr(t)
	echo := map[string]*lbtest.Wsecho{}
	for _, id := range []string{"echo-1", "echo-2", "echo-3", "echo-4"} {
		echo[id] = lbtest.StartWsecho(t, id, "--close-spread", "0s")
	}
	specFile := filepath.Join(t.TempDir(), "wsctl.yaml")
	writeSpec := func(extra string, ids ...string) {
		t.Helper()
		var servers strings.Builder
		for _, id := range ids {
			servers.WriteString("      - name: " + id + "\n        address: " + echo[id].Addr + "\n")
		}
		text := strings.NewReplacer("FRONTEND", frontend, "DIR", dir, "SERVERS\n", servers.String(), "EXTRA", extra).Replace(nginxSpecText)
		if err := os.WriteFile(specFile, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeSpec("", "echo-1")
	s, err := spec.Load(specFile)
	if err != nil {
		t.Fatal(err)
	}
	r, err := render.Config(s, model.TargetNginx, static.Snapshot(s), "")
	if err != nil {
		t.Fatal(err)
	}
	n := lbtest.StartNginx(t, dir, string(r.Config))
	lbtest.WaitTCP(t, frontend, 10*time.Second)
	master := n.Proc.PID
	var workers []int
	eventually(t, "nginx's pid file and worker", func() bool {
		pid, err := proxy.NginxMaster(s.Nginx.PidFile)
		workers, _ = proxy.Children(master)
		return err == nil && pid == master && len(workers) == 1
	})

	a := runAgent(t, Config{
		Spec: s, SpecFile: specFile, SpecPoll: 50 * time.Millisecond,
		ConfigFile: n.Config, ReloadInterval: time.Second,
	})
	eventually(t, "first sync", func() bool { return !a.Metrics().LastSync().IsZero() })
	if got := a.Metrics().Reloads.Load(); got != 0 {
		t.Errorf("reloads after the first sync = %d, want 0 (the file is current)", got)
	}

	// A server added to the spec: validated, written, reloaded; the same
	// master runs a new worker, and a client reaches the new server.
	// Taken before the first reload: the second comes at least the
	// interval after the first, so at least that long after this, however
	// late the test sees either.
	first := time.Now()
	writeSpec("", "echo-1", "echo-2")
	eventually(t, "the reload", func() bool { return a.Metrics().Reloads.Load() == 1 })
	checkMaster(t, s.Nginx.PidFile, master)
	newWorker(t, master, workers)
	if cfg, _ := os.ReadFile(n.Config); !strings.Contains(string(cfg), echo["echo-2"].Addr) {
		t.Errorf("config file has no echo-2 after the reload:\n%s", cfg)
	}
	// The old worker accepts until it has read its signal: on a busy
	// machine that takes a moment.
	eventually(t, "the old worker to exit", func() bool {
		got, _ := proxy.Children(master)
		return !slices.ContainsFunc(got, func(pid int) bool { return slices.Contains(workers, pid) })
	})
	reach(t, "ws://"+frontend+"/ws", "echo-2")

	// Two changes inside the reload interval are applied together, once
	// it ends.
	writeSpec("", "echo-1", "echo-2", "echo-3")
	time.Sleep(200 * time.Millisecond)
	writeSpec("", "echo-1", "echo-2", "echo-3", "echo-4")
	eventually(t, "the second reload", func() bool { return a.Metrics().Reloads.Load() == 2 })
	if since := time.Since(first); since < 950*time.Millisecond {
		t.Errorf("second reload %s after the first, want it held back to the 1s interval", since.Round(time.Millisecond))
	}
	time.Sleep(500 * time.Millisecond)
	if got := a.Metrics().Reloads.Load(); got != 2 {
		t.Errorf("reloads = %d after two changes inside one interval, want 2 (coalesced)", got)
	}
	cfg, _ := os.ReadFile(n.Config)
	for _, id := range []string{"echo-3", "echo-4"} {
		if !strings.Contains(string(cfg), echo[id].Addr) {
			t.Errorf("config file has no %s after the coalesced reload:\n%s", id, cfg)
		}
	}
	reach(t, "ws://"+frontend+"/ws", "echo-4")

	// A template nginx rejects: no reload, the file stays, the failure is
	// counted once.
	tmpl, err := templates.Embedded(model.TargetNginx)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad.tmpl")
	if err := os.WriteFile(bad, []byte(tmpl+"\nbogus_directive on;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	workers, _ = proxy.Children(master)
	writeSpec("templates:\n  nginx: "+bad, "echo-1", "echo-2", "echo-3", "echo-4")
	eventually(t, "the failed validation", func() bool { return a.Metrics().ValidationFailures.Load() == 1 })
	time.Sleep(300 * time.Millisecond)
	if got := a.Metrics().Reloads.Load(); got != 2 {
		t.Errorf("reloads = %d after a rejected config, want 2", got)
	}
	if after, _ := os.ReadFile(n.Config); string(after) != string(cfg) {
		t.Errorf("config file changed after a rejected config:\n%s", after)
	}
	if got, _ := proxy.Children(master); !slices.Equal(got, workers) {
		t.Errorf("nginx workers %v after a rejected config, want %v", got, workers)
	}
	if got := a.Metrics().ValidationFailures.Load(); got != 1 {
		t.Errorf("validation failures = %d, want 1", got)
	}
	checkMaster(t, s.Nginx.PidFile, master)
}

// checkMaster fails the test unless pidFile still names master.
func checkMaster(t *testing.T, pidFile string, master int) {
	t.Helper()
	if got, err := proxy.NginxMaster(pidFile); err != nil || got != master {
		t.Errorf("nginx master %d (%v), want %d unchanged", got, err, master)
	}
}

// newWorker fails the test unless master has a child not in old.
func newWorker(t *testing.T, master int, old []int) {
	t.Helper()
	got, err := proxy.Children(master)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(got, func(pid int) bool { return !slices.Contains(old, pid) }) {
		t.Errorf("nginx workers %v after the reload, want a new one beside %v", got, old)
	}
}

// reach opens WebSockets to url, keeping them open so least_conn moves on,
// until one lands on server; at most 10.
func reach(t *testing.T, url, server string) {
	t.Helper()
	var landed []string
	for range 10 {
		c := lbtest.NewClient(url)
		if err := c.Connect(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		if err := c.Echo("hello"); err != nil {
			t.Fatal(err)
		}
		if c.Server == server {
			return
		}
		landed = append(landed, c.Server)
	}
	t.Errorf("no client reached %s; they landed on %v", server, landed)
}

package serverstate_test

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/haproxy/haproxytest"
	"github.com/wsctl/wsctl/internal/lbtest"
	"github.com/wsctl/wsctl/reload"
	"github.com/wsctl/wsctl/serverstate"
)

var addedOptions = haproxy.ServerOptions{Check: true, Inter: "1s", Fall: 2, Rise: 1}

// TestStateSurvivesReloadAndRestart: a server in DRAIN, one in MAINT, one
// whose weight and address changed at runtime, and one added at runtime
// are all as they were after a reload, and after HAProxy is stopped and
// started again, with nothing but Save before and Restore after (what
// `wsctl reload` and the systemd drop-in do, no agent).
func TestStateSurvivesReloadAndRestart(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "server-state")
	if created, err := serverstate.Ensure(file); err != nil || !created {
		t.Fatalf("Ensure = %t, %v; want the file created", created, err)
	}
	servers := haproxytest.Backends(t, "s1", "s2", "s3")
	other := haproxytest.Backends(t, "moved", "added")
	cfg := haproxytest.Config{Backend: "ws", Global: "    server-state-file " + file, Defaults: "    load-server-state-from-file global"}
	text := haproxytest.Render(dir, lbtest.Addr(t), cfg, servers)
	h := lbtest.StartHAProxy(t, dir, text, filepath.Join(dir, "admin.sock"))
	if out := h.Proc.Output(); contains(out, "server state file") {
		t.Errorf("HAProxy warned about the state file at start:\n%s", out)
	}
	ctx := context.Background()
	c := dial(t, dir)

	moved := netip.MustParseAddrPort(other[0].Addr)
	added := netip.MustParseAddrPort(other[1].Addr)
	for _, err := range c.Apply(ctx, []haproxy.Change{
		{Kind: haproxy.ChangeState, Backend: "ws", Server: "s1", State: haproxy.Drain},
		{Kind: haproxy.ChangeState, Backend: "ws", Server: "s2", State: haproxy.Maint},
		{Kind: haproxy.ChangeWeight, Backend: "ws", Server: "s3", Weight: 37},
		{Kind: haproxy.ChangeAddr, Backend: "ws", Server: "s3", Addr: moved.Addr(), Port: int(moved.Port())},
		{Kind: haproxy.ChangeAdd, Backend: "ws", Server: "dyn", Addr: added.Addr(), Port: int(added.Port()), Options: withWeight(42)},
		{Kind: haproxy.ChangeState, Backend: "ws", Server: "dyn", State: haproxy.Drain},
	}) {
		if err != nil {
			t.Fatal(err)
		}
	}
	want := snapshot(t, c)

	// A reload.
	if err := serverstate.Save(ctx, c, file); err != nil {
		t.Fatal(err)
	}
	if _, err := reload.Swap(ctx, reload.Local{AdminSocket: filepath.Join(dir, "admin.sock"), MasterSocket: h.MasterSocket}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	c = dial(t, dir)
	restored, err := serverstate.Restore(ctx, c, file, func(string) (haproxy.ServerOptions, bool) { return addedOptions, true })
	if err != nil || len(restored) != 1 || restored[0].Server != "dyn" {
		t.Fatalf("Restore after the reload = %v, %v; want ws/dyn added again", restored, err)
	}
	compare(t, "after a reload", want, snapshot(t, c))

	// A full restart: save at stop (ExecStop), start, restore
	// (ExecStartPost); wsctl state save before the start keeps the file.
	admin := filepath.Join(dir, "admin.sock")
	if saved, err := serverstate.SaveRunning(ctx, admin, time.Second, file); err != nil || saved.Pid != c.Info().Pid || saved.Created {
		t.Fatalf("SaveRunning = %+v, %v; want the state of HAProxy %d saved", saved, err, c.Info().Pid)
	}
	h.Proc.Signal(t, syscall.SIGTERM)
	if !h.Proc.Wait(10 * time.Second) {
		t.Fatal("HAProxy did not stop")
	}
	os.Remove(h.MasterSocket)
	if saved, err := serverstate.SaveRunning(ctx, admin, time.Second, file); err != nil || saved != (serverstate.Saved{}) {
		t.Fatalf("SaveRunning without HAProxy = %+v, %v; want the file kept", saved, err)
	}
	h = lbtest.StartHAProxy(t, dir, text, filepath.Join(dir, "admin.sock"))
	c = dial(t, dir)
	if _, err := serverstate.Restore(ctx, c, file, func(string) (haproxy.ServerOptions, bool) { return addedOptions, true }); err != nil {
		t.Fatal(err)
	}
	compare(t, "after a restart", want, snapshot(t, c))
	if out := h.Proc.Output(); contains(out, "server state file") {
		t.Errorf("HAProxy warned about the state file:\n%s", out)
	}
}

// TestSaveRunningWithoutHAProxy: with no HAProxy running, the state file
// is created empty, once.
func TestSaveRunningWithoutHAProxy(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "s")
	for _, want := range []serverstate.Saved{{Created: true}, {}} {
		if saved, err := serverstate.SaveRunning(context.Background(), filepath.Join(dir, "admin.sock"), time.Second, file); err != nil || saved != want {
			t.Fatalf("SaveRunning = %+v, %v; want %+v", saved, err, want)
		}
	}
	if b, err := os.ReadFile(file); err != nil || !strings.HasPrefix(string(b), "1\n") {
		t.Errorf("file = %q, %v; want an empty state file", b, err)
	}
}

// TestEnsureKeepsAnExistingFile: Ensure never overwrites a saved state.
func TestEnsureKeepsAnExistingFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "s")
	if err := os.WriteFile(file, []byte("1\nsaved\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if created, err := serverstate.Ensure(file); err != nil || created {
		t.Fatalf("Ensure = %t, %v; want the file kept", created, err)
	}
	if b, _ := os.ReadFile(file); string(b) != "1\nsaved\n" {
		t.Errorf("file = %q, want it unchanged", b)
	}
}

func withWeight(w int) haproxy.ServerOptions {
	o := addedOptions
	o.Weight = w
	return o
}

func dial(t *testing.T, dir string) *haproxy.Client {
	t.Helper()
	c, err := haproxy.Dial(context.Background(), filepath.Join(dir, "admin.sock"), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// server is what must survive of one server.
type server struct {
	Addr   string
	Admin  haproxy.AdminState
	Weight int64
}

func snapshot(t *testing.T, c *haproxy.Client) map[string]server {
	t.Helper()
	all, err := c.Servers(context.Background(), "ws")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]server{}
	for _, s := range all {
		out[s.Server] = server{Addr: s.Addr, Admin: s.Admin, Weight: s.UserWeight}
	}
	return out
}

func compare(t *testing.T, when string, want, got map[string]server) {
	t.Helper()
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: %s = %+v, want %+v", when, name, got[name], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%s: servers %v, want %v", when, got, want)
	}
}

func contains(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

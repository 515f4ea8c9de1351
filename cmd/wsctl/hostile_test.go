package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/wsctl/wsctl/internal/lbtest"
)

// TestRenderSkipsHostileInstances: `wsctl render` and `check` against a
// Consul holding an attacker's registrations next to real ones succeed
// with the real ones, warn on stderr about each one left out, and write
// none of the attacker's text.
func TestRenderSkipsHostileInstances(t *testing.T) {
	lbtest.Binary(t, "haproxy")
	c := lbtest.StartConsul(t)
	t.Setenv("CONSUL_HTTP_ADDR", c.Addr)
	t.Setenv("WSCTL_RUN_DIR", t.TempDir())
	spec := filepath.Join(lbtest.ModuleRoot(t), "examples", "consul", "wsctl.yaml")
	c.Register(t, "chat-1", "chat-ws", "10.0.0.1", 9001, nil, nil)
	c.Register(t, "evil-directive", "chat-ws", "127.0.0.1 port 9001\n    http-request return status 200 string pwned\nglobal\n    stats socket /tmp/evil.sock mode 666 level admin\n    #", 9001, nil, nil)
	c.Register(t, "evil-zone", "chat-ws", "fe80::1%x\nset server ws_cluster/chat-1 state maint", 9001, nil, nil)
	c.Register(t, "chat-2", "chat-ws", "10.0.0.2", 9001, nil, nil)
	for _, args := range [][]string{
		{"render", "-c", spec},
		{"render", "-c", spec, "--target", "nginx"},
		{"check", "-c", spec},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			io, out, errOut := testIO()
			if code := Main(args, io); code != 0 {
				t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
			}
			for _, id := range []string{"evil-directive", "evil-zone"} {
				if !strings.Contains(errOut.String(), "instance left out") || !strings.Contains(errOut.String(), "service_id="+id) {
					t.Errorf("stderr does not warn about %s:\n%s", id, errOut)
				}
			}
			if args[0] == "render" {
				for _, addr := range []string{"10.0.0.1:9001", "10.0.0.2:9001"} {
					if !strings.Contains(out.String(), addr) {
						t.Errorf("config lacks %s", addr)
					}
				}
				for _, bad := range []string{"pwned", "evil", "fe80"} {
					if strings.Contains(out.String(), bad) {
						t.Errorf("config holds %q", bad)
					}
				}
			}
		})
	}
}

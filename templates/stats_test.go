package templates_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/wsctl/wsctl/discovery/static"
	"github.com/wsctl/wsctl/internal/lbtest"
	"github.com/wsctl/wsctl/model"
	"github.com/wsctl/wsctl/proxy"
	"github.com/wsctl/wsctl/render"
	"github.com/wsctl/wsctl/spec"
)

// TestStatsAuthValid: the stats frontend with a password and networks,
// which no example renders, passes the real haproxy -c, warnings included.
func TestStatsAuthValid(t *testing.T) {
	renderValid(t, model.TargetHAProxy, func(s *spec.Spec, dir string) {
		auth := filepath.Join(dir, "stats.auth")
		if err := os.WriteFile(auth, []byte("ops:pa55:w0rd!\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		s.Stats.Auth = auth
		s.Stats.Allow = []string{"127.0.0.0/8", "::1"}
	})
}

// renderValid renders examples/basic for target, changed by edit (dir is
// its run directory), checks the rendering with the real binary, strict,
// warnings included, and returns it: for what no example renders.
func renderValid(t *testing.T, target string, edit func(s *spec.Spec, dir string)) []byte {
	t.Helper()
	lbtest.Binary(t, target)
	dir := t.TempDir()
	// The example's nginx temp_dir, which nginx -t wants to exist.
	if err := os.Mkdir(filepath.Join(dir, "nginx"), 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := spec.LoadEnv(filepath.Join("..", "examples", "basic", "wsctl.yaml"), func(k string) (string, bool) {
		return dir, k == "WSCTL_RUN_DIR"
	})
	if err != nil {
		t.Fatal(err)
	}
	edit(s, dir)
	r, err := render.Config(s, target, static.Snapshot(s), "")
	if err != nil {
		t.Fatal(err)
	}
	res, err := proxy.Validator{Dir: dir, Strict: true}.Validate(context.Background(), target, r.Config)
	if err != nil {
		t.Fatalf("%v\n%s", err, r.Config)
	}
	if len(res.Warnings) > 0 {
		t.Errorf("warnings: %+v", res.Warnings)
	}
	return r.Config
}

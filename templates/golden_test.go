package templates_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aymanbagabas/go-udiff"

	"github.com/wsctl/wsctl/discovery/static"
	"github.com/wsctl/wsctl/internal/lbtest"
	"github.com/wsctl/wsctl/model"
	"github.com/wsctl/wsctl/proxy"
	"github.com/wsctl/wsctl/render"
	"github.com/wsctl/wsctl/spec"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// goldenRunDir is WSCTL_RUN_DIR while rendering goldens: a fixed path keeps
// them stable; validation swaps it for a temp dir.
const goldenRunDir = "/run/wsctl"

var targets = map[string]string{model.TargetHAProxy: "haproxy.cfg", model.TargetNginx: "nginx.conf"}

func goldenEnv(key string) (string, bool) {
	if key == "WSCTL_RUN_DIR" {
		return goldenRunDir, true
	}
	return "", false
}

// examples returns every examples/*/wsctl.yaml that renders from its own
// servers (static discovery).
func examples(t *testing.T) map[string]string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "examples", "*", "wsctl.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	out := map[string]string{}
	for _, p := range paths {
		out[filepath.Base(filepath.Dir(p))] = p
	}
	return out
}

func renderGolden(t *testing.T, specPath, target string) []byte {
	t.Helper()
	s, err := spec.LoadEnv(specPath, goldenEnv)
	if err != nil {
		t.Fatal(err)
	}
	r, err := render.Config(s, target, static.Snapshot(s), "")
	if err != nil {
		t.Fatal(err)
	}
	return r.Config
}

func goldenPath(example, target string) string {
	return filepath.Join("..", "testdata", "golden", example+"."+targets[target])
}

// TestGolden renders every example for every target and compares it with its
// golden file (go test ./templates -update rewrites them).
func TestGolden(t *testing.T) {
	for name, path := range examples(t) {
		for target := range targets {
			t.Run(name+"/"+target, func(t *testing.T) {
				got := renderGolden(t, path, target)
				if again := renderGolden(t, path, target); string(again) != string(got) {
					t.Fatal("two renders of the same input differ")
				}
				golden := goldenPath(name, target)
				if *update {
					if err := os.WriteFile(golden, got, 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test ./templates -update)", err)
				}
				if d := udiff.Unified("want", "got", string(want), string(got)); d != "" {
					t.Errorf("render differs from %s (-want +got):\n%s", golden, d)
				}
			})
		}
	}
}

// TestGoldenValid runs the real haproxy -c and nginx -t on every golden file,
// warnings included.
func TestGoldenValid(t *testing.T) {
	goldens, err := filepath.Glob(filepath.Join("..", "testdata", "golden", "*"))
	if err != nil || len(goldens) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, g := range goldens {
		target := model.TargetHAProxy
		if strings.HasSuffix(g, ".nginx.conf") {
			target = model.TargetNginx
		}
		t.Run(filepath.Base(g), func(t *testing.T) {
			lbtest.Binary(t, target)
			text, err := os.ReadFile(g)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			lbtest.WriteCert(t, filepath.Join(dir, "tls", "site.pem"))
			// nginx creates its temp dirs but not their parent.
			if err := os.MkdirAll(filepath.Join(dir, "nginx"), 0o755); err != nil {
				t.Fatal(err)
			}
			config := strings.ReplaceAll(string(text), goldenRunDir, dir)
			res, err := proxy.Validator{Dir: dir, Strict: true}.Validate(context.Background(), target, []byte(config))
			if err != nil {
				t.Fatalf("%s: %v", g, err)
			}
			if len(res.Warnings) > 0 {
				t.Errorf("%s: warnings: %+v", g, res.Warnings)
			}
		})
	}
}

package templates_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wsctl/wsctl/discovery/static"
	"github.com/wsctl/wsctl/internal/lbtest"
	"github.com/wsctl/wsctl/model"
	"github.com/wsctl/wsctl/proxy"
	"github.com/wsctl/wsctl/render"
	"github.com/wsctl/wsctl/spec"
)

// TestSourceAddressValid: source_address renders HAProxy's `source` and
// nginx's `proxy_bind`, which the real haproxy -c and nginx -t accept
// without a warning; the front layer's connections to HAProxy keep the
// kernel's choice.
func TestSourceAddressValid(t *testing.T) {
	for target, directive := range map[string]string{model.TargetHAProxy: "    source 127.0.0.7\n", model.TargetNginx: "        proxy_bind 127.0.0.7;\n"} {
		t.Run(target, func(t *testing.T) {
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
			s.SourceAddress = "127.0.0.7"
			r, err := render.Config(s, target, static.Snapshot(s), "")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(r.Config), directive) {
				t.Fatalf("rendered %s has no %q:\n%s", target, directive, r.Config)
			}
			res, err := proxy.Validator{Dir: dir, Strict: true}.Validate(context.Background(), target, r.Config)
			if err != nil {
				t.Fatalf("%v\n%s", err, r.Config)
			}
			if len(res.Warnings) > 0 {
				t.Errorf("warnings: %+v", res.Warnings)
			}
		})
	}
	s, err := spec.LoadEnv(filepath.Join("..", "examples", "layered", "wsctl.yaml"), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	s.SourceAddress = "127.0.0.7"
	r, err := render.Config(s, model.TargetNginx, static.Snapshot(s), "")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(r.Config), "proxy_bind") {
		t.Errorf("the front layer binds its connections to HAProxy:\n%s", r.Config)
	}
}

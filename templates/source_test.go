package templates_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/wsctl/wsctl/discovery/static"
	"github.com/wsctl/wsctl/model"
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
			config := renderValid(t, target, func(s *spec.Spec, _ string) { s.SourceAddress = "127.0.0.7" })
			if !strings.Contains(string(config), directive) {
				t.Fatalf("rendered %s has no %q:\n%s", target, directive, config)
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

package templates_test

import (
	"context"
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

// TestMixedBindsBehindFront: a listener with plain and TLS binds in a
// two-layer spec, which no example renders: HAProxy takes
// X-Forwarded-Proto from the connection unless the front layer sent it,
// nginx offers h2 on the front listener; both pass the real binaries,
// warnings included.
func TestMixedBindsBehindFront(t *testing.T) {
	dir := t.TempDir()
	cert := filepath.Join(dir, "site.pem")
	lbtest.WriteCert(t, cert)
	src := strings.NewReplacer("CERT", cert, "DIR", dir).Replace(`listeners:
  - name: inner
    bind: 127.0.0.1:18080
    default_backend: ws
  - name: direct
    binds:
      - address: 127.0.0.1:18081
      - address: 127.0.0.1:18443
        tls: {cert: CERT, alpn: [h2, http/1.1]}
    default_backend: ws
front:
  listeners:
    - name: edge
      bind: 127.0.0.1:19443
      tls: {cert: CERT, alpn: [h2, http/1.1]}
      to: inner
backends:
  - name: ws
    servers: [{name: s1, address: 127.0.0.1:19001}]
haproxy: {admin_socket: DIR/admin.sock, master_socket: DIR/master.sock}
nginx: {pid_file: DIR/nginx.pid, temp_dir: DIR}
`)
	s, err := spec.Parse("wsctl.yaml", []byte(src), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	for target, want := range map[string]string{
		model.TargetHAProxy: "http-request set-header X-Forwarded-Proto https if { ssl_fc } !from_front",
		model.TargetNginx:   "listen 127.0.0.1:19443 ssl http2;",
	} {
		t.Run(target, func(t *testing.T) {
			lbtest.Binary(t, target)
			r, err := render.Config(s, target, static.Snapshot(s), "")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(r.Config), want) {
				t.Errorf("the rendering lacks %q:\n%s", want, r.Config)
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
}

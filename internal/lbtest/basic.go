package lbtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wsctl/wsctl/discovery/static"
	"github.com/wsctl/wsctl/model"
	"github.com/wsctl/wsctl/render"
	"github.com/wsctl/wsctl/spec"
)

// Basic is examples/basic running for real on free ports: three wsecho
// backends (backend1..3) behind HAProxy or nginx rendered from the example.
type Basic struct {
	Target   string
	RunDir   string // WSCTL_RUN_DIR: config, sockets, temp files
	Frontend string // host:port clients connect to
	// Stats is host:port of the stats endpoint (HAProxy's /metrics,
	// nginx's /stub_status).
	Stats    string
	Admin    string // HAProxy admin socket
	Backends []*Wsecho
	Model    *model.Model
	ProxyPID int // the HAProxy or nginx master
	// Spec is the spec's text as rendered (ports and replacements
	// applied, ${WSCTL_RUN_DIR} left for the environment).
	Spec string
}

// StartBasic renders examples/basic for target on free ports, with replace
// (old, new pairs) applied to the spec text after the ports, and starts it.
func StartBasic(t testing.TB, target string, replace ...string) *Basic {
	t.Helper()
	Binary(t, target)
	b := &Basic{Target: target, RunDir: t.TempDir(), Frontend: Addr(t), Stats: Addr(t)}
	b.Admin = filepath.Join(b.RunDir, "admin.sock")
	src, err := os.ReadFile(filepath.Join(ModuleRoot(t), "examples", "basic", "wsctl.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.NewReplacer("127.0.0.1:8080", b.Frontend, "127.0.0.1:8404", b.Stats).Replace(string(src))
	for i := range 3 {
		w := StartWsecho(t, fmt.Sprintf("backend%d", i+1), "--close-spread", "0s")
		b.Backends = append(b.Backends, w)
		text = strings.Replace(text, fmt.Sprintf("127.0.0.1:900%d", i+1), w.Addr, 1)
	}
	text = strings.NewReplacer(replace...).Replace(text)
	b.Spec = text
	s, err := spec.Parse("wsctl.yaml", []byte(text), func(k string) (string, bool) {
		if k == "WSCTL_RUN_DIR" {
			return b.RunDir, true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := render.Config(s, target, static.Snapshot(s), "")
	if err != nil {
		t.Fatal(err)
	}
	b.Model = r.Model
	config := r.Config
	switch target {
	case model.TargetHAProxy:
		b.ProxyPID = StartHAProxy(t, b.RunDir, string(config), b.Admin).Proc.PID
	case model.TargetNginx:
		b.ProxyPID = StartNginx(t, b.RunDir, string(config)).Proc.PID
	}
	WaitTCP(t, b.Frontend, 10*time.Second)
	return b
}

// Backend returns the wsecho backend with the given id.
func (b *Basic) Backend(t testing.TB, id string) *Wsecho {
	t.Helper()
	for _, w := range b.Backends {
		if w.ID == id {
			return w
		}
	}
	t.Fatalf("no backend %q", id)
	return nil
}

// URL is the WebSocket URL of path on the frontend.
func (b *Basic) URL(path string) string { return "ws://" + b.Frontend + path }

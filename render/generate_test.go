package render_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/wsctl/wsctl/internal/lbtest"
	"github.com/wsctl/wsctl/render"
	"github.com/wsctl/wsctl/spec"
)

// consulSpec loads examples/consul with its Consul at addr.
func consulSpec(t *testing.T, addr string) *spec.Spec {
	t.Helper()
	s, err := spec.LoadEnv(filepath.Join(lbtest.ModuleRoot(t), "examples", "consul", "wsctl.yaml"), func(k string) (string, bool) {
		if k == "CONSUL_HTTP_ADDR" {
			return addr, true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestGenerateWithoutConsul: a Consul that does not answer stops a render,
// and a lenient one (check's) renders the spec's own servers and says why.
func TestGenerateWithoutConsul(t *testing.T) {
	down := lbtest.Addr(t) // free: nothing listens there
	if _, err := render.Generate(context.Background(), consulSpec(t, down), render.Options{}); err == nil {
		t.Fatal("rendered without the Consul the spec names; want an error")
	}
	g, err := render.Generate(context.Background(), consulSpec(t, down), render.Options{Lenient: true})
	if err != nil {
		t.Fatal(err)
	}
	if g.ConsulErr == nil || len(g.Config) == 0 || g.Model.Target != "haproxy" {
		t.Errorf("got ConsulErr %v, %d bytes for %q; want Consul's error and a config for haproxy", g.ConsulErr, len(g.Config), g.Model.Target)
	}
}

// TestGenerateDiscovers: the servers Consul has are rendered with the
// spec's own, and the target and template are the options'.
func TestGenerateDiscovers(t *testing.T) {
	c := lbtest.StartConsul(t)
	c.Register(t, "chat-1", "chat-ws", "127.0.0.1", 9101, nil, nil)
	s := consulSpec(t, c.Addr)
	g, err := render.Generate(context.Background(), s, render.Options{Target: "nginx"})
	if err != nil {
		t.Fatal(err)
	}
	if g.ConsulErr != nil || g.Model.Target != "nginx" || g.Spec != s {
		t.Errorf("got ConsulErr %v, target %q; want none, nginx", g.ConsulErr, g.Model.Target)
	}
	servers := 0
	for _, b := range g.Model.Backends {
		servers += len(b.Servers)
	}
	if servers != 1 {
		t.Errorf("%d servers rendered, want Consul's one\n%s", servers, g.Config)
	}
}

package agent

import (
	"context"
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"

	"github.com/wsctl/wsctl/discovery/consul"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/internal/lbtest"
	"github.com/wsctl/wsctl/model"
	"github.com/wsctl/wsctl/render"
)

// A server rendered `disabled` because its check failed when the config
// was written (HAProxy: forced and config maint, srv_admin_state 5) is the
// agent's to readmit once it passes: it used to stay in MAINT for good,
// taken for an operator's.
func TestAgentReadmitsServerRenderedDisabled(t *testing.T) {
	lbtest.Binary(t, "haproxy")
	r := &rig{runDir: t.TempDir(), frontend: lbtest.Addr(t), consul: lbtest.StartConsul(t)}
	r.spec = r.parseSpec(t, "", "")
	w1 := lbtest.StartWsecho(t, "echo-1", "--close-spread", "0s")
	w2 := lbtest.StartWsecho(t, "echo-2", "--close-spread", "0s")
	register(t, r.consul, "echo-1", w1)
	register(t, r.consul, "echo-2", w2)
	r.consul.SetHealth(t, "echo-2", api.HealthCritical)

	snap, err := consul.Once(context.Background(), r.spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := render.Config(r.spec, model.TargetHAProxy, snap, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(res.Config), "server echo-2 "+w2.Addr+" disabled") {
		t.Fatalf("echo-2 not rendered disabled:\n%s", res.Config)
	}
	r.haproxy = lbtest.StartHAProxy(t, r.runDir, string(res.Config), r.spec.HAProxy.AdminSocket)
	if got := r.servers(t, "ws")["echo-2"]; !got.Flags.Disabled() {
		t.Fatalf("echo-2 starts with flags %s, want forced-maint|config-maint", got.Flags)
	}
	a := r.startAgent(t, r.spec)
	eventually(t, "a first sync", func() bool { return !a.Metrics().LastSync().IsZero() })

	r.consul.SetHealth(t, "echo-2", api.HealthPassing)
	eventually(t, "echo-2 READY and UP", func() bool {
		s := r.servers(t, "ws")["echo-2"]
		return s.Admin == haproxy.Ready && s.State == haproxy.Up
	})
	// With echo-1 out, the frontend serves through echo-2 alone.
	r.consul.SetHealth(t, "echo-1", api.HealthCritical)
	c := lbtest.NewClient("ws://" + r.frontend + "/ws")
	eventually(t, "a client served by echo-2", func() bool {
		defer c.Close()
		return c.Connect() == nil && c.Server == "echo-2"
	})
}

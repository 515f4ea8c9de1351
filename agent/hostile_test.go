package agent

import (
	"net"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/internal/lbtest"
)

// TestAgentHostileRegistrations registers, next to real instances, the
// services an attacker with a Consul token would: addresses that inject
// HAProxy directives, nginx blocks or runtime commands, and a host name.
// The agent leaves each out on its own, counts them, keeps following the
// real instances, and neither the config file nor HAProxy ever carries the
// attacker's text.
func TestAgentHostileRegistrations(t *testing.T) {
	r := startRig(t)
	w1 := lbtest.StartWsecho(t, "echo-1", "--close-spread", "0s")
	w2 := lbtest.StartWsecho(t, "echo-2", "--close-spread", "0s")
	a := r.startAgent(t, r.spec)
	register(t, r.consul, "echo-1", w1)
	eventually(t, "echo-1 ready", func() bool { return r.servers(t, "ws")["echo-1"].Admin == haproxy.Ready })

	evilSock := t.TempDir() + "/evil.sock"
	_, port1, _ := net.SplitHostPort(w1.Addr)
	p1, _ := strconv.Atoi(port1)
	hostile := map[string]string{
		"evil-haproxy": "127.0.0.1 port " + port1 + "\n    http-request return status 200 content-type text/plain string pwned\nglobal\n    stats socket " + evilSock + " mode 666 level admin\n    #",
		"evil-nginx":   "::1]:" + port1 + " weight=1;\n    }\n    server {",
		"evil-runtime": "fe80::1%x\nset server ws/echo-1 state maint\nshutdown sessions server ws/echo-1",
		"evil-host":    "localhost",
	}
	for id, addr := range hostile {
		r.consul.Register(t, id, "echo", addr, p1, nil, nil)
	}
	// A real instance registered after them is still followed.
	register(t, r.consul, "echo-2", w2)
	eventually(t, "echo-2 ready", func() bool { return r.servers(t, "ws")["echo-2"].Admin == haproxy.Ready })

	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	eventually(t, "4 rejected instances on /metrics", func() bool {
		return strings.Contains(get(t, srv.URL+"/metrics"), `wsctl_agent_discovery_rejected_instances{backend="ws",service="echo"} 4`)
	})
	servers := r.servers(t, "ws")
	for name, s := range servers {
		if name != "echo-1" && name != "echo-2" {
			t.Errorf("HAProxy has server %s (%s)", name, s.Addr)
		}
		if s.Admin != haproxy.Ready {
			t.Errorf("%s is %s, want READY", name, s.Admin)
		}
	}
	config, err := os.ReadFile(r.haproxy.Config)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"pwned", "evil", "fe80"} {
		if strings.Contains(string(config), bad) {
			t.Errorf("config file holds %q:\n%s", bad, config)
		}
	}
	if _, err := os.Stat(evilSock); err == nil {
		t.Error("HAProxy opened the attacker's admin socket")
	}
}

// TestAgentRewritesADeletedConfig: a config file deleted under the running
// agent is written again at the next sync; HAProxy still runs what it
// loaded, so nothing is reloaded (a reload would strand every WebSocket on
// an old worker).
func TestAgentRewritesADeletedConfig(t *testing.T) {
	r := startRig(t)
	a := r.startAgentWith(t, Config{Spec: r.spec, Resync: 100 * time.Millisecond})
	r.echoes(t, "echo-1")
	want := r.configHas(t, "server echo-1 ")
	if err := os.Remove(r.haproxy.Config); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the config file written again", func() bool {
		got, err := os.ReadFile(r.haproxy.Config)
		return err == nil && string(got) == string(want)
	})
	syncs := a.Metrics().Syncs.Load()
	eventually(t, "two more syncs", func() bool { return a.Metrics().Syncs.Load() >= syncs+2 })
	if n := a.Metrics().Reloads.Load(); n != 0 {
		t.Errorf("%d reloads after the config file was deleted, want 0", n)
	}
}

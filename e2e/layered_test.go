package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wsctl/wsctl/discovery/static"
	"github.com/wsctl/wsctl/drain"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/internal/lbtest"
	"github.com/wsctl/wsctl/model"
	"github.com/wsctl/wsctl/render"
	"github.com/wsctl/wsctl/spec"
)

// layered is examples/layered running for real on free ports: nginx
// terminating TLS in front of HAProxy, three wsecho backends behind.
type layered struct {
	front, admin string
}

func startLayered(t *testing.T) *layered {
	t.Helper()
	lbtest.Binary(t, model.TargetHAProxy)
	lbtest.Binary(t, model.TargetNginx)
	dir := t.TempDir()
	cert := filepath.Join(dir, "site.pem")
	lbtest.WriteCert(t, cert)
	l := &layered{front: lbtest.Addr(t), admin: filepath.Join(dir, "admin.sock")}
	balancer := lbtest.Addr(t)
	src, err := os.ReadFile(filepath.Join(lbtest.ModuleRoot(t), "examples", "layered", "wsctl.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.NewReplacer("127.0.0.1:8443", l.front, "127.0.0.1:8080", balancer,
		"127.0.0.1:8404", lbtest.Addr(t), "127.0.0.1:8405", lbtest.Addr(t)).Replace(string(src))
	for i := range 3 {
		w := lbtest.StartWsecho(t, fmt.Sprintf("backend%d", i+1), "--close-spread", "0s")
		text = strings.Replace(text, fmt.Sprintf("127.0.0.1:900%d", i+1), w.Addr, 1)
	}
	text = strings.Replace(text, "interval: 5s", "interval: 300ms", 1)
	env := map[string]string{"WSCTL_RUN_DIR": dir, "WSCTL_TLS_CERT": cert}
	s, err := spec.Parse("wsctl.yaml", []byte(text), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{model.TargetHAProxy, model.TargetNginx} {
		r, err := render.Config(s, target, static.Snapshot(s), "")
		if err != nil {
			t.Fatal(err)
		}
		if target == model.TargetHAProxy {
			lbtest.StartHAProxy(t, dir, string(r.Config), l.admin)
		} else {
			lbtest.StartNginx(t, dir, string(r.Config))
		}
	}
	lbtest.WaitTCP(t, balancer, 10*time.Second)
	lbtest.WaitTCP(t, l.front, 10*time.Second)
	return l
}

// clientAddr is where the test's clients connect from: not the
// 127.0.0.1 nginx uses towards HAProxy, so a layer that put its own address
// in X-Forwarded-For would be seen.
const clientAddr = "127.0.0.2"

// wssClients opens n wss:// clients through the front layer, each with its
// own cookie jar, and counts where they landed.
func (l *layered) wssClients(t *testing.T, n int) ([]*lbtest.Client, map[string]int) {
	t.Helper()
	clients := make([]*lbtest.Client, n)
	landed := map[string]int{}
	for i := range clients {
		c := lbtest.NewClient("wss://" + l.front + "/ws")
		c.TLS = &tls.Config{InsecureSkipVerify: true} // the test's own self-signed certificate
		c.Source = clientAddr
		if err := c.Connect(); err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		t.Cleanup(c.Close)
		clients[i] = c
		landed[c.Server]++
	}
	return clients, landed
}

// TestLayered: 300 wss:// clients through nginx and HAProxy reach all three
// servers, keep their server across reconnects (HAProxy's SERVERID cookie
// passes nginx), the backends see the client's address and https; a drain
// through HAProxy sends nobody back to the drained server while nginx stays
// in front.
func TestLayered(t *testing.T) {
	l := startLayered(t)
	clients, landed := l.wssClients(t, 300)
	if len(landed) != 3 {
		t.Errorf("clients landed on %v, want all three servers", landed)
	}
	for i, c := range clients {
		if c.ForwardedFor != clientAddr || c.ForwardedProto != "https" {
			t.Fatalf("client %d: backend saw X-Forwarded-For %q, X-Forwarded-Proto %q; want %s and https", i, c.ForwardedFor, c.ForwardedProto, clientAddr)
		}
		before := c.Server
		c.Close()
		if err := c.Connect(); err != nil {
			t.Fatal(err)
		}
		if c.Server != before {
			t.Fatalf("client %d reconnected to %s, want its sticky server %s (cookie %q)", i, c.Server, before, c.Cookie("SERVERID"))
		}
	}

	rt, err := haproxy.Dial(context.Background(), l.admin, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	target := drain.Target{Socket: l.admin, Runtime: rt, Backend: "ws_cluster", Server: "backend2"}
	res, err := drain.Run(context.Background(), []drain.Target{target}, drain.Options{Timeout: 30 * time.Second, Close: &drain.Close{After: 0}})
	if err != nil {
		t.Fatalf("drain: %v (%+v)", err, res)
	}
	// Every client of backend2 was cut; it reconnects with its cookie, and
	// HAProxy, behind nginx, sends it elsewhere.
	for i, c := range clients {
		if c.Server != "backend2" {
			continue
		}
		c.Close()
		if err := c.Connect(); err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		if c.Server == "backend2" {
			t.Errorf("client %d with backend2's cookie went back to the drained server", i)
		}
	}
}

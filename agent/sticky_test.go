package agent

import (
	"strings"
	"testing"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/internal/lbtest"
)

// TestAgentAddedServersAreSticky proves servers the agent adds at runtime get
// a sticky cookie (a dynamic one: HAProxy 2.6 refuses `cookie` on add
// server) and that a client reconnecting with it comes back to its server.
func TestAgentAddedServersAreSticky(t *testing.T) {
	r := startRigEdited(t, func(s string) string {
		return strings.Replace(s, "    balance: leastconn\n", "    balance: leastconn\n    sticky:\n      cookie: SID\n", 1)
	})
	w1 := lbtest.StartWsecho(t, "echo-1", "--close-spread", "0s")
	w2 := lbtest.StartWsecho(t, "echo-2", "--close-spread", "0s")
	r.startAgent(t, r.spec)
	register(t, r.consul, "echo-1", w1)
	register(t, r.consul, "echo-2", w2)
	eventually(t, "both servers READY and UP", func() bool {
		s := r.servers(t, "ws")
		return s["echo-1"].Admin == haproxy.Ready && s["echo-2"].Admin == haproxy.Ready &&
			s["echo-1"].State == haproxy.OpState("UP") && s["echo-2"].State == haproxy.OpState("UP")
	})
	seen := map[string]string{} // cookie by server
	for i := 0; i < 6; i++ {
		c := lbtest.NewClient("ws://" + r.frontend + "/ws")
		if err := c.Connect(); err != nil {
			t.Fatal(err)
		}
		first := c.Server
		seen[first] = c.Cookie("SID")
		if c.Cookie("SID") == "" {
			t.Fatalf("client %d on %s got no SID cookie", i, first)
		}
		for j := 0; j < 3; j++ {
			c.Close()
			if err := c.Connect(); err != nil {
				t.Fatal(err)
			}
			if c.Server != first {
				t.Errorf("client %d reconnected to %s, want its sticky server %s", i, c.Server, first)
			}
		}
		c.Close()
	}
	if len(seen) != 2 {
		t.Fatalf("clients landed on %v, want both added servers", seen)
	}
	// Each cookie is the one HAProxy computes for the whole backend (from
	// the key, the address and the port), which every load balancer with
	// the same key gives that server: computing them all again changes
	// none.
	if _, err := lbtest.SocketReply(r.spec.HAProxy.AdminSocket, "enable dynamic-cookie backend ws"); err != nil {
		t.Fatal(err)
	}
	for len(seen) > 0 {
		c := lbtest.NewClient("ws://" + r.frontend + "/ws")
		if err := c.Connect(); err != nil {
			t.Fatal(err)
		}
		if want, ok := seen[c.Server]; ok && c.Cookie("SID") != want {
			t.Errorf("%s: cookie %q once the backend's are computed again, %q when added", c.Server, c.Cookie("SID"), want)
		}
		delete(seen, c.Server)
		c.Close()
	}
}

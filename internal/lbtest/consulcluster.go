package lbtest

import (
	"strconv"
	"testing"
	"time"
)

// ConsulCluster is three Consul servers on loopback, each with its own data
// dir and ports, joined into one Raft cluster: unlike a dev agent, it
// survives the loss of its leader, after an election.
type ConsulCluster struct {
	Servers []*Consul
}

// StartConsulCluster starts three `consul agent -server -bootstrap-expect 3`
// that join each other's Serf LAN ports, and waits until every one knows
// the leader and three Raft peers. Elections take about a second
// (raft_multiplier 1, as a dev agent's). Every server is stopped by PID
// when the test ends. A Consul in Servers works as StartConsul's does
// (Register and the like act through that server's own agent).
func StartConsulCluster(t testing.TB) *ConsulCluster {
	t.Helper()
	// A cluster that forms no quorum (a port lost to another process, a
	// join that never took on a loaded machine) is started again, once,
	// on fresh ports.
	for attempt := 1; ; attempt++ {
		c, err := startConsulCluster(t)
		if err == nil {
			return c
		}
		for _, s := range c.Servers {
			s.Stop(t)
		}
		if attempt == 2 {
			t.Fatal(err)
		}
		t.Logf("consul cluster did not form, starting again: %v", err)
	}
}

func startConsulCluster(t testing.TB) (*ConsulCluster, error) {
	t.Helper()
	const n = 3
	c := &ConsulCluster{}
	for i := range n {
		c.Servers = append(c.Servers, newConsul(t, "",
			"-server", "-bootstrap-expect", strconv.Itoa(n), "-node", "consul-"+strconv.Itoa(i+1),
			"-retry-interval", "100ms",
			"-hcl", "performance { raft_multiplier = 1 }"))
	}
	for _, s := range c.Servers {
		for _, o := range c.Servers {
			if o != s {
				s.args = append(s.args, "-retry-join", o.lan)
			}
		}
	}
	for _, s := range c.Servers {
		s.launch(t)
	}
	for _, s := range c.Servers {
		if err := s.awaitLeader(n, 30*time.Second); err != nil {
			return c, err
		}
	}
	return c, nil
}

// Leader returns the server the running ones name as leader.
func (c *ConsulCluster) Leader(t testing.TB) *Consul {
	t.Helper()
	return c.WaitLeader(t, nil)
}

// Followers returns the running servers but the leader.
func (c *ConsulCluster) Followers(t testing.TB) []*Consul {
	t.Helper()
	leader := c.Leader(t)
	var out []*Consul
	for _, s := range c.Servers {
		if s != leader && !s.Proc.Exited() {
			out = append(out, s)
		}
	}
	return out
}

// KillLeader kills the current leader (SIGKILL, by PID), like a crash, and
// returns it; it does not wait for the next election (WaitLeader does).
func (c *ConsulCluster) KillLeader(t testing.TB) *Consul {
	t.Helper()
	leader := c.Leader(t)
	leader.Stop(t)
	return leader
}

// WaitLeader waits until every running server names the same leader, a
// running one other than old (nil: any), and returns it.
func (c *ConsulCluster) WaitLeader(t testing.TB, old *Consul) *Consul {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var err error
	for {
		var leader *Consul
		agreed := true
		for _, s := range c.Servers {
			if s.Proc.Exited() {
				continue
			}
			var addr string
			addr, err = s.Client.Status().Leader()
			l := c.byServerAddr(addr)
			if err != nil || l == nil || l == old || l.Proc.Exited() || leader != nil && l != leader {
				agreed = false
				break
			}
			leader = l
		}
		if agreed && leader != nil {
			return leader
		}
		if time.Now().After(deadline) {
			t.Fatalf("consul cluster: no agreed leader after 30s (last error: %v)", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// byServerAddr returns the server whose RPC address is addr, or nil.
func (c *ConsulCluster) byServerAddr(addr string) *Consul {
	for _, s := range c.Servers {
		if s.server == addr {
			return s
		}
	}
	return nil
}

package lbtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// Consul is a single-node Consul dev agent started by a test. Its catalog
// lives in memory, but the agent keeps the services registered through it
// in its data dir: after Restart they come back (their TTL checks critical)
// and are synced into the new, otherwise empty catalog.
type Consul struct {
	Addr   string // HTTP API, "127.0.0.1:PORT"
	Proc   *Process
	Client *api.Client

	bin    string
	args   []string
	node   string // the agent's node name
	server string // server RPC address, "127.0.0.1:PORT", as Status().Leader() names it
	lan    string // Serf LAN address, for the others of a cluster to join
}

// StartConsul starts `consul agent -dev` on free loopback ports with its data
// dir in a t.TempDir, and waits until it has elected itself leader. The
// agent is stopped by PID when the test ends.
func StartConsul(t testing.TB) *Consul { return startConsul(t, "", "-dev") }

// StartConsulServer starts one `consul agent -server -bootstrap-expect 1`
// on free loopback ports, as production runs Consul rather than `-dev`: its
// Raft log and catalog are on disk (a t.TempDir), and its HTTP answers are
// compact JSON, where a dev agent indents every answer (about twice the
// bytes: 2.7 MB for a health answer of 1,000 instances). It waits until the
// server has elected itself leader, and is stopped by PID when the test
// ends.
func StartConsulServer(t testing.TB) *Consul {
	return startConsul(t, "", "-server", "-bootstrap-expect", "1", "-hcl", "performance { raft_multiplier = 1 }")
}

// ManagementToken is the ACL token of a Consul started by StartConsulACL.
const ManagementToken = "7f1a4e2c-0d6b-4c59-9a3e-1b2c3d4e5f60"

// StartConsulACL is StartConsul with ACLs on, denying by default; Client
// uses ManagementToken, which may do anything.
func StartConsulACL(t testing.TB) *Consul {
	return startConsul(t, ManagementToken, "-dev", "-hcl", `acl { enabled = true, default_policy = "deny", enable_token_persistence = true, tokens { initial_management = "`+ManagementToken+`", agent = "`+ManagementToken+`" } }`)
}

// startConsul starts a single agent with the flags in extra and a Client
// using token, and waits until it has elected itself leader.
func startConsul(t testing.TB, token string, extra ...string) *Consul {
	t.Helper()
	for attempt := 1; ; attempt++ {
		c := newConsul(t, token, extra...)
		c.launch(t)
		// A port FreePort gave may be taken by another test's process
		// before Consul binds it: start again on other ports.
		if attempt < 3 && c.lostPortRace() {
			continue
		}
		c.waitLeader(t, 0)
		return c
	}
}

// lostPortRace waits until the agent's HTTP API answers or the agent has
// exited, and reports whether it exited because one of its ports was
// taken.
func (c *Consul) lostPortRace() bool {
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err := c.Client.Status().Leader(); err == nil {
			return false
		}
		if c.Proc.Exited() {
			out := c.Proc.Output()
			return strings.Contains(out, "address already in use") || strings.Contains(out, "already configured")
		}
	}
	return false
}

// newConsul prepares an agent on free loopback ports with its data dir in
// a t.TempDir and the flags in extra, and its Client using token; start
// runs it.
func newConsul(t testing.TB, token string, extra ...string) *Consul {
	t.Helper()
	c := &Consul{bin: consulBinary(t)}
	// FreePort never gives a port twice: Consul refuses two of its
	// listeners on one port.
	port := func() string { return strconv.Itoa(FreePort(t)) }
	httpPort, serverPort, lanPort := port(), port(), port()
	c.Addr = net.JoinHostPort("127.0.0.1", httpPort)
	c.server = net.JoinHostPort("127.0.0.1", serverPort)
	c.lan = net.JoinHostPort("127.0.0.1", lanPort)
	c.args = append([]string{
		"agent",
		"-bind", "127.0.0.1", "-client", "127.0.0.1",
		"-http-port", httpPort,
		"-serf-lan-port", lanPort,
		"-serf-wan-port", port(),
		"-server-port", serverPort,
		"-dns-port", "-1", "-grpc-port", "-1", "-grpc-tls-port", "-1",
		"-data-dir", t.TempDir(),
		"-log-level", "warn",
		"-hcl", "disable_update_check = true",
	}, extra...)
	cfg := api.DefaultConfig()
	cfg.Address = c.Addr
	cfg.Token = token
	client, err := api.NewClient(cfg)
	if err != nil {
		t.Fatalf("consul client: %v", err)
	}
	c.Client = client
	return c
}

// start runs the agent and waits until it knows a leader.
func (c *Consul) start(t testing.TB) {
	t.Helper()
	c.launch(t)
	c.waitLeader(t, 0)
}

func (c *Consul) launch(t testing.TB) {
	t.Helper()
	c.Proc = Start(t, c.bin, c.args...)
}

// waitLeader waits until the agent knows a leader and, when peers is above
// zero, that many Raft peers.
func (c *Consul) waitLeader(t testing.TB, peers int) {
	t.Helper()
	if err := c.awaitLeader(peers, 30*time.Second); err != nil {
		t.Fatal(err)
	}
}

// awaitLeader is waitLeader that says why it gave up instead of failing
// the test.
func (c *Consul) awaitLeader(peers int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		leader, err := c.Client.Status().Leader()
		if err == nil && leader != "" {
			var got []string
			if peers > 0 {
				got, err = c.Client.Status().Peers()
			}
			// With ACLs, the leader bootstraps them a moment after its
			// election; until then every request with a token is a 403.
			if err == nil && len(got) >= peers {
				if c.node, err = c.Client.Agent().NodeName(); err == nil {
					return nil
				}
			}
		}
		if c.Proc.Exited() {
			return fmt.Errorf("consul agent exited before electing a leader:\n%s", c.Proc.Output())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("consul at %s: no leader with %d peers after %s (last error: %v):\n%s", c.Addr, peers, timeout, err, c.Proc.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Register registers (or registers again) a service instance with a TTL
// check whose id is CheckID(id), and sets the check passing: registering
// again keeps an existing check's status otherwise. The TTL is long enough
// never to expire during a test: drive the check with SetHealth. Like
// SetHealth and Deregister, it returns once the catalog shows the change
// (the agent syncs it there in the background).
func (c *Consul) Register(t testing.TB, id, service, addr string, port int, tags []string, meta map[string]string) {
	t.Helper()
	reg := &api.AgentServiceRegistration{
		ID: id, Name: service, Address: addr, Port: port, Tags: tags, Meta: meta,
		Check: &api.AgentServiceCheck{CheckID: CheckID(id), TTL: "1h", Status: api.HealthPassing},
	}
	if err := c.Client.Agent().ServiceRegister(reg); err != nil {
		t.Fatalf("consul: register %q: %v", id, err)
	}
	c.SetHealth(t, id, api.HealthPassing)
}

// CheckID returns the id of the TTL check Register gives service instance id.
func CheckID(id string) string { return "service:" + id }

// SetHealth sets the TTL check of service instance id to status
// (api.HealthPassing, api.HealthWarning or api.HealthCritical).
func (c *Consul) SetHealth(t testing.TB, id, status string) {
	t.Helper()
	if err := c.Client.Agent().UpdateTTL(CheckID(id), "set by test", status); err != nil {
		t.Fatalf("consul: set health of %q to %s: %v", id, status, err)
	}
	c.waitCatalog(t, id, status)
}

// Deregister removes service instance id.
func (c *Consul) Deregister(t testing.TB, id string) {
	t.Helper()
	if err := c.Client.Agent().ServiceDeregister(id); err != nil {
		t.Fatalf("consul: deregister %q: %v", id, err)
	}
	c.waitCatalog(t, id, "")
}

// waitCatalog waits until the catalog holds the check of service instance
// id with status, or no such check when status is empty.
func (c *Consul) waitCatalog(t testing.TB, id, status string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		checks, _, err := c.Client.Health().Node(c.node, nil)
		got := ""
		for _, ch := range checks {
			if ch.CheckID == CheckID(id) {
				got = ch.Status
			}
		}
		if err == nil && got == status {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("consul: catalog shows check %q as %q after 10s, want %q (last error: %v)", CheckID(id), got, status, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Stop kills the agent (SIGKILL, by PID), like a crash, and waits until it
// has exited.
func (c *Consul) Stop(t testing.TB) {
	t.Helper()
	if c.Proc.Exited() {
		return
	}
	c.Proc.Signal(t, syscall.SIGKILL)
	if !c.Proc.Wait(10 * time.Second) {
		t.Fatalf("consul (pid %d) still running 10s after SIGKILL", c.Proc.PID)
	}
}

// Restart stops the agent if it runs and starts it again on the same ports
// and data dir, waiting for a leader. See Consul for what survives.
func (c *Consul) Restart(t testing.TB) {
	t.Helper()
	c.Stop(t)
	c.start(t)
}

// consulBinary finds consul on PATH, else the one scripts/consul.sh builds
// under .cache/consul/<version>/ (the most recently built when there are
// several). A test never builds it: that takes minutes.
func consulBinary(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("consul"); err == nil {
		return p
	}
	matches, _ := filepath.Glob(filepath.Join(ModuleRoot(t), ".cache", "consul", "*", "consul"))
	var newest string
	var newestTime time.Time
	for _, m := range matches {
		fi, err := os.Stat(m)
		if err == nil && fi.Mode()&0o111 != 0 && fi.ModTime().After(newestTime) {
			newest, newestTime = m, fi.ModTime()
		}
	}
	if newest != "" {
		return newest
	}
	msg := fmt.Sprintf("consul not found on PATH or under %s: run `make deps` (scripts/consul.sh builds it)",
		filepath.Join(ModuleRoot(t), ".cache", "consul"))
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

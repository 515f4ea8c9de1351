package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wsctl/wsctl/discovery/static"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/haproxy/haproxytest"
	"github.com/wsctl/wsctl/internal/lbtest"
	"github.com/wsctl/wsctl/model"
	"github.com/wsctl/wsctl/render"
	"github.com/wsctl/wsctl/spec"
)

// The fleet commands end to end: real `wsctl agent` processes (built from
// this package) on real HAProxy, one Consul, and the commands run through
// Main with no socket, as a CI runner would.

// fleetSpecText is one backend following the Consul service "echo", with
// the sticky cookie haproxytest's clients report.
const fleetSpecText = `
heartbeat: 30s
listeners:
  - name: front
    bind: FRONTEND
    routes:
      - websocket: true
        backend: ws
    default_backend: ws
backends:
  - name: ws
    balance: leastconn
    sticky:
      cookie: SERVERID
    health:
      interval: 300ms
      fall: 2
      rise: 1
    drain_timeout: 30s
    slowstart: 0s
    consul:
      service: echo
consul:
  address: CONSUL
haproxy:
  admin_socket: RUN/admin.sock
  master_socket: RUN/master.sock
  hard_stop_after: 5s
`

// cliLB is one load balancer: HAProxy and a `wsctl agent` process.
type cliLB struct {
	id, specFile, frontend, admin, haproxyConfig string
	agent                                        *lbtest.Process
}

// fleetRig is Consul, the echo servers registered there, and the load
// balancers.
type fleetRig struct {
	consul *lbtest.Consul
	lbs    []*cliLB
}

// startCLIFleet starts Consul, echo-1..3 and n load balancers lb1..lbN,
// each with its agent, and waits until each runs the three servers READY
// and UP.
func startCLIFleet(t *testing.T, n int) *fleetRig {
	t.Helper()
	return startCLIFleetSpec(t, n, fleetSpecText)
}

// startCLIFleetSpec is startCLIFleet with another spec text (the same
// placeholders).
func startCLIFleetSpec(t *testing.T, n int, specText string) *fleetRig {
	t.Helper()
	lbtest.Binary(t, "haproxy")
	r := &fleetRig{consul: lbtest.StartConsul(t)}
	for _, w := range haproxytest.Backends(t, "echo-1", "echo-2", "echo-3") {
		host, port, _ := net.SplitHostPort(w.Addr)
		p, _ := strconv.Atoi(port)
		r.consul.Register(t, w.ID, "echo", host, p, nil, nil)
	}
	for i := range n {
		dir := t.TempDir()
		lb := &cliLB{id: fmt.Sprintf("lb%d", i+1), frontend: lbtest.Addr(t), admin: filepath.Join(dir, "admin.sock")}
		text := strings.NewReplacer("FRONTEND", lb.frontend, "CONSUL", r.consul.Addr, "RUN", dir).Replace(specText)
		lb.specFile = writeFile(t, filepath.Join(t.TempDir(), "wsctl.yaml"), text)
		s, err := spec.Load(lb.specFile)
		if err != nil {
			t.Fatal(err)
		}
		res, err := render.Config(s, model.TargetHAProxy, static.Snapshot(s), "")
		if err != nil {
			t.Fatal(err)
		}
		lb.haproxyConfig = lbtest.StartHAProxy(t, dir, string(res.Config), lb.admin).Config
		lb.start(t)
		r.lbs = append(r.lbs, lb)
	}
	for _, lb := range r.lbs {
		lbtest.WaitFor(t, 20*time.Second, lb.id+" runs echo-1..3 READY and UP", func() bool {
			for _, name := range []string{"echo-1", "echo-2", "echo-3"} {
				// Starting: UP, warming up (a spec with slowstart).
				if s := lb.server(t, name); s.Admin != haproxy.Ready || s.State != haproxy.Up && s.State != haproxy.Starting {
					return false
				}
			}
			return true
		})
	}
	return r
}

// start runs the load balancer's agent.
func (lb *cliLB) start(t *testing.T) {
	lb.agent = lbtest.Start(t, lbtest.GoBinary(t, "cmd/wsctl"), "agent", "-c", lb.specFile,
		"--haproxy-config", lb.haproxyConfig, "--listen", "", "--agent-id", lb.id)
}

// server reads ws/name from the load balancer's HAProxy: the zero status
// while the agent has not added it yet.
func (lb *cliLB) server(t *testing.T, name string) haproxy.ServerStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := haproxy.Dial(ctx, lb.admin, 0)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := c.Server(ctx, "ws", name)
	return s
}

// waitAdmin waits until name is admin on every load balancer.
func (r *fleetRig) waitAdmin(t *testing.T, name string, admin haproxy.AdminState) {
	t.Helper()
	for _, lb := range r.lbs {
		lbtest.WaitFor(t, 15*time.Second, fmt.Sprintf("%s: %s %s", lb.id, name, admin), func() bool {
			return lb.server(t, name).Admin == admin
		})
	}
}

// intent reads the raw intent of ws/name ("" when there is none).
func (r *fleetRig) intent(t *testing.T, name string) string {
	t.Helper()
	p, _, err := r.consul.Client.KV().Get("wsctl/intents/ws/"+name, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p == nil {
		return ""
	}
	return string(p.Value)
}

// wsctl runs a command through Main; it returns the exit code, stdout and
// stderr.
func wsctl(args ...string) (int, string, string) {
	io, out, errOut := testIO()
	code := Main(args, io)
	return code, out.String(), errOut.String()
}

// fleetResult is the -o json summary of a fleet command.
type fleetResult struct {
	Result        string `json:"result"`
	Error         string `json:"error"`
	Withdrawn     bool   `json:"withdrawn"`
	LoadBalancers []struct {
		Agent    string `json:"agent"`
		Admin    string `json:"admin"`
		Phase    string `json:"phase"`
		Sessions int64  `json:"sessions"`
		Closed   int    `json:"closed"`
		Done     bool   `json:"done"`
		Missing  bool   `json:"missing"`
	} `json:"load_balancers"`
	Total struct {
		Sessions int64 `json:"sessions"`
		Closed   int   `json:"closed"`
	} `json:"total"`
}

func parseFleetResult(t *testing.T, out string) fleetResult {
	t.Helper()
	var res fleetResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("-o json: %v in %q", err, out)
	}
	return res
}

// TestFleetCommands runs drain, status, ready and maint --fleet against two
// load balancers: exit codes 0, 2 and 3, the JSON object per load balancer
// and overall, the one line a pipeline's log gets, the reason shown by
// status, a bare server name resolved against the spec's backend, and the
// refusals (sessions left for a maint, the last server for a drain) that
// withdraw the intent so every load balancer readmits the server.
func TestFleetCommands(t *testing.T) {
	r := startCLIFleet(t, 2)
	var clients []*haproxytest.Clients
	for _, lb := range r.lbs {
		clients = append(clients, haproxytest.StartClients(t, "ws://"+lb.frontend+"/ws", 6, true))
	}
	onEcho2 := 0
	for _, c := range clients {
		if !c.WaitFor(10*time.Second, func(m map[string]int) bool { return m["echo-1"]+m["echo-2"]+m["echo-3"] == 6 }) {
			t.Fatalf("clients not connected: %v", c.Connected())
		}
		onEcho2 += c.Connected()["echo-2"]
	}
	spec := r.lbs[0].specFile

	// A bare name: the spec has one backend.
	code, out, errOut := wsctl("drain", "echo-2", "--fleet", "-c", spec, "--close-after", "200ms", "--close-rate", "50",
		"--reason", "deploy 1.4.2", "-o", "json")
	res := parseFleetResult(t, out)
	if code != 0 || res.Result != "done" || len(res.LoadBalancers) != 2 {
		t.Fatalf("drain: exit %d, %+v, stderr %q", code, res, errOut)
	}
	closed := 0
	for i, lb := range res.LoadBalancers {
		if lb.Agent != r.lbs[i].id || !lb.Done || lb.Admin != "MAINT" || lb.Sessions != 0 || lb.Phase != "drained" {
			t.Errorf("load balancer %d: %+v, want %s done, MAINT, drained, no session", i, lb, r.lbs[i].id)
		}
		closed += lb.Closed
	}
	if res.Total.Closed != closed || closed != onEcho2 || res.Total.Sessions != 0 {
		t.Errorf("total %+v, per load balancer %d closed; want the %d clients of echo-2 closed", res.Total, closed, onEcho2)
	}
	r.waitAdmin(t, "echo-2", haproxy.Maint)

	code, out, errOut = wsctl("status", "--fleet", "-c", spec)
	if code != 0 {
		t.Fatalf("status: exit %d, %s", code, errOut)
	}
	for _, want := range []string{"[lb1 lb2]", "ws/echo-2  lb1", "ws/echo-2  lb2", "MAINT", "deploy 1.4.2"} {
		if !strings.Contains(out, want) {
			t.Errorf("status --fleet lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = wsctl("status", "--fleet", "-c", spec, "-o", "json")
	var st struct {
		Agents  []string `json:"agents"`
		Intents []struct {
			Server, Reason, Who string
		} `json:"intents"`
	}
	if err := json.Unmarshal([]byte(out), &st); code != 0 || err != nil || len(st.Agents) != 2 || len(st.Intents) != 1 ||
		st.Intents[0].Server != "ws/echo-2" || st.Intents[0].Reason != "deploy 1.4.2" || !strings.Contains(st.Intents[0].Who, "@") {
		t.Errorf("status --fleet -o json: exit %d, %v, %+v", code, err, st)
	}

	code, out, errOut = wsctl("ready", "echo-2", "--fleet", "-c", spec)
	if code != 0 || !strings.HasPrefix(out, "ws/echo-2 is READY on 2 load balancers in ") || strings.Count(out, "\n") != 1 {
		t.Fatalf("ready: exit %d, stdout %q, stderr %q; want one line", code, out, errOut)
	}
	r.waitAdmin(t, "echo-2", haproxy.Ready)

	// echo-3 has clients: maint refuses on both, the intent goes.
	code, out, errOut = wsctl("maint", "ws/echo-3", "--fleet", "-c", spec)
	if code != 2 || !strings.Contains(errOut, "live sessions") || !strings.Contains(errOut, "withdrawn") {
		t.Fatalf("maint with sessions: exit %d, stdout %q, stderr %q; want 2, refused, withdrawn", code, out, errOut)
	}
	if in := r.intent(t, "echo-3"); in != "" {
		t.Errorf("intent after the refused maint: %s", in)
	}
	r.waitAdmin(t, "echo-3", haproxy.Ready)

	// No --close-after: the clients stay, the drain times out.
	code, out, errOut = wsctl("drain", "echo-3", "--fleet", "-c", spec, "--timeout", "1s")
	if code != 3 || out != "" || !strings.Contains(errOut, "LOAD BALANCER") || !strings.Contains(errOut, "timed out; the intent stays") {
		t.Fatalf("drain timing out: exit %d, stdout %q, stderr %q; want 3, the table and the message on stderr", code, out, errOut)
	}
	code, out, errOut = wsctl("maint", "ws/echo-3", "--fleet", "-c", spec, "--force", "--reason", "disk")
	if code != 0 || !strings.HasPrefix(out, "ws/echo-3 is MAINT on 2 load balancers") {
		t.Fatalf("maint --force: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	r.waitAdmin(t, "echo-3", haproxy.Maint)
	if code, _, errOut = wsctl("maint", "ws/echo-1", "--fleet", "-c", spec, "--force"); code != 0 {
		t.Fatalf("maint echo-1 --force: exit %d, %s", code, errOut)
	}
	r.waitAdmin(t, "echo-1", haproxy.Maint)

	// echo-2 is the last server left: every agent refuses the drain.
	code, out, errOut = wsctl("drain", "ws/echo-2", "--fleet", "-c", spec, "-o", "json")
	res = parseFleetResult(t, out)
	if code != 2 || res.Result != "error" || !res.Withdrawn || !strings.Contains(res.Error, "nothing to send clients to") ||
		!strings.Contains(errOut, "withdrawn") {
		t.Fatalf("drain of the last server: exit %d, %+v, stderr %q; want 2, refused, withdrawn", code, res, errOut)
	}
	if in := r.intent(t, "echo-2"); in != "" {
		t.Errorf("intent after the refused drain: %s", in)
	}
	r.waitAdmin(t, "echo-2", haproxy.Ready)
	for _, name := range []string{"echo-1", "echo-3"} {
		if code, _, errOut := wsctl("ready", name, "--fleet", "-c", spec); code != 0 {
			t.Fatalf("ready %s: exit %d, %s", name, code, errOut)
		}
	}
	r.waitAdmin(t, "echo-1", haproxy.Ready)
	r.waitAdmin(t, "echo-3", haproxy.Ready)
}

// TestFleetDrainAgentKilled: an agent killed hard (SIGKILL: no goodbye, its
// Consul session ends only when its check's TTL passes) while the drain
// waits for it fails the drain, exit 2, naming it; with --allow-missing
// the drain completes on the others.
func TestFleetDrainAgentKilled(t *testing.T) {
	r := startCLIFleet(t, 2)
	// Clients on lb2 only: lb1 drains at once, lb2 waits for its clients,
	// which stay (no --close-after).
	c := haproxytest.StartClients(t, "ws://"+r.lbs[1].frontend+"/ws", 6, true)
	if !c.WaitFor(10*time.Second, func(m map[string]int) bool { return m["echo-2"] > 0 }) {
		t.Fatalf("no client on echo-2: %v", c.Connected())
	}
	spec := r.lbs[0].specFile
	for _, allow := range []bool{false, true} {
		args := []string{"drain", "ws/echo-2", "--fleet", "-c", spec, "--timeout", "60s"}
		if allow {
			args = append(args, "--allow-missing")
		}
		type result struct {
			code     int
			out, err string
		}
		done := make(chan result, 1)
		before := r.intent(t, "echo-2")
		go func() {
			code, out, errOut := wsctl(args...)
			done <- result{code, out, errOut}
		}()
		// Once lb2 reports on this drain's op, it dies.
		lbtest.WaitFor(t, 15*time.Second, "lb2 reporting on the drain", func() bool {
			in := r.intent(t, "echo-2")
			if in == "" || in == before {
				return false
			}
			p, _, err := r.consul.Client.KV().Get("wsctl/progress/lb2/ws/echo-2", nil)
			var op struct {
				Op struct{ ID string } `json:"op"`
			}
			return err == nil && p != nil && json.Unmarshal([]byte(in), &op) == nil && strings.Contains(string(p.Value), op.Op.ID)
		})
		r.lbs[1].agent.Signal(t, syscall.SIGKILL)
		got := <-done
		if !allow {
			if got.code != 2 || !strings.Contains(got.err, "agent lb2 stopped reporting") || !strings.Contains(got.err, "missing") {
				t.Fatalf("lb2 killed: exit %d, stdout %q, stderr %q; want 2 naming lb2", got.code, got.out, got.err)
			}
			r.lbs[1].agent.Wait(5 * time.Second)
			r.lbs[1].start(t) // it takes the intent up again and waits for its clients
			lbtest.WaitFor(t, 15*time.Second, "lb2 back in the fleet", func() bool {
				p, _, err := r.consul.Client.KV().Get("wsctl/agents/lb2", nil)
				return err == nil && p != nil && p.Session != ""
			})
			continue
		}
		if got.code != 0 || !strings.HasPrefix(got.out, "ws/echo-2 drained on 1 load balancer") || !strings.Contains(got.out, "missing: lb2") {
			t.Fatalf("lb2 killed, --allow-missing: exit %d, stdout %q, stderr %q; want 0, done on lb1", got.code, got.out, got.err)
		}
	}
	if s := r.lbs[0].server(t, "echo-2"); s.Admin != haproxy.Maint {
		t.Errorf("lb1: echo-2 %s, want MAINT", s.Admin)
	}
}

// TestFleetFlags: --fleet refuses --socket, --allow-missing needs --fleet,
// both before anything is read or changed.
func TestFleetFlags(t *testing.T) {
	for _, cmd := range []string{"drain", "ready", "maint", "status"} {
		args := []string{cmd, "--fleet", "--socket", "/nonexistent.sock"}
		if cmd != "status" {
			args = append(args[:1], append([]string{"ws/s1"}, args[1:]...)...)
		}
		if code, _, errOut := wsctl(args...); code != 2 || !strings.Contains(errOut, "--socket acts on local sockets: give one of them") {
			t.Errorf("%v: exit %d, stderr %q; want 2 refusing the pair", args, code, errOut)
		}
		if cmd == "status" {
			continue
		}
		if code, _, errOut := wsctl(cmd, "ws/s1", "--allow-missing", "--socket", "/nonexistent.sock"); code != 2 || !strings.Contains(errOut, "--allow-missing needs --fleet") {
			t.Errorf("%s --allow-missing: exit %d, stderr %q", cmd, code, errOut)
		}
	}
}

package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/wsctl/wsctl/fleet"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/haproxy/haproxytest"
	"github.com/wsctl/wsctl/intent"
	"github.com/wsctl/wsctl/internal/lbtest"
)

// stickyServerID gives the rig's backend the cookie haproxytest's clients
// report, so a test sees which server a reconnecting client asked for.
func stickyServerID(s string) string {
	return strings.Replace(s, "    balance: leastconn\n", "    balance: leastconn\n    sticky:\n      cookie: "+haproxytest.CookieName+"\n", 1)
}

// fleetLB is one load balancer of a fleet test: HAProxy and its agent.
type fleetLB struct {
	*rig
	id    string
	agent runningAgent
	stop  context.CancelFunc
}

// startFleetLB starts an HAProxy and an agent named id on the shared Consul
// and waits until it runs the three echo servers, READY and UP.
func startFleetLB(t *testing.T, c *lbtest.Consul, id string) *fleetLB {
	return startFleetLBEdited(t, c, id, stickyServerID)
}

// startFleetLBEdited is startFleetLB with the spec text rewritten by edit,
// for a load balancer that may join while the servers held are under an
// operation: it waits until the others are READY and UP and the held ones
// out (DRAIN or MAINT).
func startFleetLBEdited(t *testing.T, c *lbtest.Consul, id string, edit func(string) string, held ...string) *fleetLB {
	t.Helper()
	r := startRigOn(t, c, edit)
	ctx, cancel := context.WithCancel(context.Background())
	lb := &fleetLB{rig: r, id: id, stop: cancel}
	lb.agent = runAgentCtx(t, ctx, r.agentConfig(Config{Spec: r.spec, AgentID: id}))
	eventually(t, id+" runs echo-1..3, READY and UP but for "+strings.Join(held, ", "), func() bool {
		s := r.servers(t, "ws")
		for _, n := range []string{"echo-1", "echo-2", "echo-3"} {
			out := s[n].Admin == haproxy.Drain || s[n].Admin == haproxy.Maint
			if slices.Contains(held, n) != out || !out && (s[n].Admin != haproxy.Ready || s[n].State != haproxy.Up) {
				return false
			}
		}
		return true
	})
	return lb
}

// startFleet starts Consul, the three echo servers registered there, and n
// load balancers lb1..lbN.
func startFleet(t *testing.T, n int) (*lbtest.Consul, []*fleetLB) {
	return startFleetEdited(t, n, stickyServerID)
}

// startFleetEdited is startFleet with the spec text rewritten by edit.
func startFleetEdited(t *testing.T, n int, edit func(string) string) (*lbtest.Consul, []*fleetLB) {
	t.Helper()
	lbtest.Binary(t, "haproxy")
	c := lbtest.StartConsul(t)
	return c, startFleetOnEdited(t, n, edit, c)
}

// startFleetOn registers the three echo servers through the first of
// consuls (servers of one cluster, or one agent) and starts n load
// balancers lb1..lbN, the i-th talking to consuls[i%len(consuls)].
func startFleetOn(t *testing.T, n int, consuls ...*lbtest.Consul) []*fleetLB {
	return startFleetOnEdited(t, n, stickyServerID, consuls...)
}

// startFleetOnEdited is startFleetOn with the spec text rewritten by edit.
func startFleetOnEdited(t *testing.T, n int, edit func(string) string, consuls ...*lbtest.Consul) []*fleetLB {
	t.Helper()
	for _, w := range haproxytest.Backends(t, "echo-1", "echo-2", "echo-3") {
		register(t, consuls[0], w.ID, w)
	}
	var lbs []*fleetLB
	for i := range n {
		lbs = append(lbs, startFleetLBEdited(t, consuls[i%len(consuls)], fmt.Sprintf("lb%d", i+1), edit))
	}
	return lbs
}

// drainOp is a fleet drain of ws/echo-2.
func drainOp(closeAfter, rate float64, timeout time.Duration) *intent.Intent {
	return &intent.Intent{Backend: "ws", Server: "echo-2", State: haproxy.Drain, Since: time.Now().UTC(),
		Op:  &intent.Op{ID: fleet.NewOpID(), CloseAfter: &closeAfter, CloseRate: rate, Timeout: timeout.Seconds()},
		Who: "test@host", Reason: "fleet test"}
}

var echo2 = haproxy.Ref{Backend: "ws", Server: "echo-2"}

// TestFleetDrainAcrossThreeLoadBalancers is the fleet drain the issue asks
// for: three HAProxy with their agents, one Consul, cookie-keeping
// reconnecting clients on all three; the operator (what `wsctl drain
// --fleet` runs) reaches no socket. echo-2 ends in MAINT with no session on
// every load balancer, no reconnect lands back on it, and the closes summed
// over the fleet stay within the fleet-wide rate. A load balancer started
// while the drain runs follows the intent, and the drain waits for it too;
// `ready` brings echo-2 back on all four.
func TestFleetDrainAcrossThreeLoadBalancers(t *testing.T) {
	c, lbs := startFleet(t, 3)
	const perLB = 60 // 20 on each server
	var clients []*haproxytest.Clients
	for _, lb := range lbs {
		clients = append(clients, haproxytest.StartClients(t, "ws://"+lb.frontend+"/ws", perLB, true))
	}
	op, err := fleet.NewOperator(lbs[0].spec.Consul)
	if err != nil {
		t.Fatal(err)
	}
	// The agents close on one fleet-wide schedule at this rate.
	const rate = 200.0
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	var late *fleetLB
	st, err := op.Run(ctx, fleet.Request{Ref: echo2, Intent: drainOp(0.5, rate, 30*time.Second)}, func(st fleet.Status) {
		if late != nil {
			return
		}
		// Run waits here, so the drain is still running when lb4
		// announces itself: its next read must count lb4 in.
		late = startFleetLBEdited(t, c, "lb4", stickyServerID, "echo-2")
		eventually(t, "lb4 announced", func() bool {
			v, err := op.Read(ctx, 0)
			_, ok := v.Agents["lb4"]
			return err == nil && ok
		})
	})
	if err != nil || st.Outcome != fleet.Done {
		t.Fatalf("drain: %+v, %v", st, err)
	}
	if len(st.Rows) != 4 || st.Rows[3].Agent != "lb4" || !st.Rows[3].Done {
		t.Errorf("rows %+v, want one per load balancer, lb4 done", st.Rows)
	}
	if s := late.servers(t, "ws")["echo-2"]; s.Admin != haproxy.Maint {
		t.Errorf("lb4: echo-2 %s after the drain, want MAINT", s.Admin)
	}
	var closes []time.Time
	closed := 0
	for i, lb := range lbs {
		if s := lb.servers(t, "ws")["echo-2"]; s.Admin != haproxy.Maint || s.Scur != 0 {
			t.Errorf("%s: echo-2 %s with %d sessions, want MAINT and none", lb.id, s.Admin, s.Scur)
		}
		for _, e := range clients[i].Since(start, false) {
			if e.Server == "echo-2" {
				closes = append(closes, e.At)
			}
		}
		closed += st.Rows[i].Report.Closed
	}
	if len(closes) != perLB || closed != perLB {
		t.Fatalf("%d clients cut, agents report %d closed; want %d", len(closes), closed, perLB)
	}
	for _, f := range clients {
		if !f.WaitEvents(start, true, perLB/3, 10*time.Second) {
			t.Fatal("cut clients did not reconnect")
		}
		for _, e := range f.Since(start, true) {
			if e.Server == "echo-2" {
				t.Errorf("client %d reconnected to echo-2", e.Client)
			}
		}
	}
	// The times are when the clients saw their cuts, each after its own
	// scheduling delay on a busy machine (25 seen within 100 ms of the 24
	// allowed, in CI), so the rate is held over 200 ms here (48); agents
	// that each closed at the whole rate would cut all 60 within it. The
	// 100 ms bound itself is pace's simulation test (every
	// agent's slots of one schedule) and the benchmark's.
	sort.Slice(closes, func(i, j int) bool { return closes[i].Before(closes[j]) })
	peak := haproxytest.PeakIn(closes, 200*time.Millisecond)
	t.Logf("fleet drain: %s; %d closes over %s, peak %d per 200ms at %g/s fleet-wide", st.Elapsed.Round(time.Millisecond),
		len(closes), closes[len(closes)-1].Sub(closes[0]).Round(time.Millisecond), peak, rate)
	if limit := int(rate / 5 * 1.2); peak > limit {
		t.Errorf("peak %d closes per 200ms over the fleet, want at most %d (rate/5 + 20%%)", peak, limit)
	}

	st, err = op.Run(ctx, fleet.Request{Ref: echo2, Healthy: true}, nil)
	if err != nil || st.Outcome != fleet.Done {
		t.Fatalf("ready: %+v, %v", st, err)
	}
	for _, lb := range append(lbs, late) {
		if s := lb.servers(t, "ws")["echo-2"]; s.Admin != haproxy.Ready {
			t.Errorf("%s: echo-2 %s after ready, want READY", lb.id, s.Admin)
		}
	}
}

// TestFleetDrainSurvivesConsulLeaderLoss is the fleet drain on a
// three-server Consul cluster whose leader is killed mid-drain, once every
// agent has reported: the election holds Consul's writes and blocking
// queries for a second or two, and the drain still completes on all three
// load balancers with no client back on echo-2. The agents and the
// operator talk to the two followers (lb1 and lb3 to one, lb2 and the
// operator to the other), as they would to Consul client agents on their
// hosts: a server is a Consul agent too, and an agent whose own Consul dies
// has no fleet to report to (its session, bound to that node's serfHealth,
// ends), which TestFleetDrainNamesAnAgentThatStops covers.
func TestFleetDrainSurvivesConsulLeaderLoss(t *testing.T) {
	lbtest.Binary(t, "haproxy")
	cluster := lbtest.StartConsulCluster(t)
	followers := cluster.Followers(t)
	lbs := startFleetOn(t, 3, followers...)
	const perLB = 30 // 10 on each server
	var clients []*haproxytest.Clients
	for _, lb := range lbs {
		clients = append(clients, haproxytest.StartClients(t, "ws://"+lb.frontend+"/ws", perLB, true))
	}
	cfg := lbs[0].spec.Consul
	cfg.Address = followers[1].Addr
	op, err := fleet.NewOperator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// 30 closes at 10/s fleet-wide take about three seconds, longer than
	// an election.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	var killed *lbtest.Consul
	st, err := op.Run(ctx, fleet.Request{Ref: echo2, Intent: drainOp(0.5, 10, 30*time.Second)}, func(st fleet.Status) {
		if killed != nil {
			return
		}
		closed := 0
		for _, r := range st.Rows {
			if r.Report == nil || r.Done {
				return
			}
			closed += r.Report.Closed
		}
		if closed > 0 {
			killed = cluster.KillLeader(t)
			t.Logf("killed the leader %s after %s, %d closed", killed.Addr, time.Since(start).Round(time.Millisecond), closed)
		}
	})
	if err != nil || st.Outcome != fleet.Done {
		t.Fatalf("drain: %+v, %v", st, err)
	}
	if killed == nil {
		t.Fatal("the drain was done before the leader was killed")
	}
	if leader := cluster.WaitLeader(t, killed); leader == killed {
		t.Fatal("no new leader")
	}
	closed := 0
	for i, lb := range lbs {
		if !st.Rows[i].Done || st.Rows[i].Agent != lb.id {
			t.Errorf("row %+v, want %s done", st.Rows[i], lb.id)
		}
		if s := lb.servers(t, "ws")["echo-2"]; s.Admin != haproxy.Maint || s.Scur != 0 {
			t.Errorf("%s: echo-2 %s with %d sessions, want MAINT and none", lb.id, s.Admin, s.Scur)
		}
		closed += st.Rows[i].Report.Closed
	}
	if closed != perLB {
		t.Errorf("agents report %d closed, want %d", closed, perLB)
	}
	for _, f := range clients {
		if !f.WaitEvents(start, true, perLB/3, 10*time.Second) {
			t.Fatal("cut clients did not reconnect")
		}
		for _, e := range f.Since(start, true) {
			if e.Server == "echo-2" {
				t.Errorf("client %d reconnected to echo-2", e.Client)
			}
		}
	}
	t.Logf("fleet drain across a leader election: %s", st.Elapsed.Round(time.Millisecond))
}

// TestFleetDrainNamesAnAgentThatStops: an agent that leaves mid-drain fails
// the drain, named; with AllowMissing the drain completes on the others.
func TestFleetDrainNamesAnAgentThatStops(t *testing.T) {
	_, lbs := startFleet(t, 2)
	for _, lb := range lbs {
		haproxytest.StartClients(t, "ws://"+lb.frontend+"/ws", 6, true)
	}
	op, err := fleet.NewOperator(lbs[0].spec.Consul)
	if err != nil {
		t.Fatal(err)
	}
	for _, allow := range []bool{false, true} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		stopped := false
		st, err := op.Run(ctx, fleet.Request{Ref: echo2, Intent: drainOp(3, 0, 20*time.Second), AllowMissing: allow}, func(st fleet.Status) {
			if !stopped && st.Rows[0].Report != nil && st.Rows[1].Report != nil {
				stopped = true
				lbs[1].stop()
			}
		})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if !allow {
			if st.Outcome != fleet.Failed || !strings.Contains(st.Problem, "lb2") {
				t.Fatalf("without allow-missing: %+v, want failed naming lb2", st)
			}
			lbs[1].agent.wait()
			// The intent stays: the new lb2 holds echo-2 at once.
			lbs[1] = startFleetLBEdited(t, lbs[0].consul, "lb2", stickyServerID, "echo-2")
			continue
		}
		if st.Outcome != fleet.Done || !st.Rows[1].Missing || !st.Rows[0].Done {
			t.Fatalf("with allow-missing: %+v, want done on lb1, lb2 missing", st)
		}
	}
}

// TestFleetDrainRefusedWithoutWrite: with ACLs on (default deny), a pipeline
// token that may read the prefix but not write the intents is refused
// before anything changes: no intent, and the server stays READY.
func TestFleetDrainRefusedWithoutWrite(t *testing.T) {
	lbtest.Binary(t, "haproxy")
	c := lbtest.StartConsulACL(t)
	for _, w := range haproxytest.Backends(t, "echo-1", "echo-2", "echo-3") {
		register(t, c, w.ID, w)
	}
	lb := startFleetLBEdited(t, c, "lb1", withTokenFile(c, tokenFile(t, lbtest.ManagementToken)))
	cfg := lb.spec.Consul
	cfg.TokenFile = tokenFile(t, aclToken(t, c, "read-only", `key_prefix "wsctl/" { policy = "read" }`))
	op, err := fleet.NewOperator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	waitAnnounced(t, op, []*fleetLB{lb}, nil)
	_, err = op.Run(context.Background(), fleet.Request{Ref: echo2, Intent: drainOp(0, 0, 10*time.Second)}, nil)
	if !errors.Is(err, intent.ErrDenied) || !strings.Contains(err.Error(), "key write on wsctl/intents/ws/echo-2") {
		t.Fatalf("got %v, want ErrDenied naming the key", err)
	}
	if p, _, err := c.Client.KV().Get("wsctl/intents/ws/echo-2", nil); err != nil || p != nil {
		t.Errorf("intent key after the refusal: %v, %v", p, err)
	}
	if s := lb.servers(t, "ws")["echo-2"]; s.Admin != haproxy.Ready {
		t.Errorf("echo-2 is %s after the refusal, want READY", s.Admin)
	}
}

// tokenFile writes token to a file of the test's, for consul.token_file.
func tokenFile(t *testing.T, token string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// withTokenFile is a spec edit giving the agent the token in file.
func withTokenFile(c *lbtest.Consul, file string) func(string) string {
	return func(s string) string {
		return strings.Replace(stickyServerID(s), "  address: "+c.Addr+"\n", "  address: "+c.Addr+"\n  token_file: "+file+"\n", 1)
	}
}

// aclToken creates a policy named name with rules (HCL) and returns the
// secret of a token holding it alone.
func aclToken(t *testing.T, c *lbtest.Consul, name, rules string) string {
	t.Helper()
	pol, _, err := c.Client.ACL().PolicyCreate(&api.ACLPolicy{Name: name, Rules: rules}, nil)
	if err != nil {
		t.Fatalf("policy %s: %v\n%s", name, err, rules)
	}
	tok, _, err := c.Client.ACL().TokenCreate(&api.ACLToken{Policies: []*api.ACLTokenPolicyLink{{ID: pol.ID}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tok.SecretID
}

// TestFleetHoldKeepsClientsThenReadmits: a hold (what `wsctl rollout`
// writes for the servers still to deploy) sets echo-2 to DRAIN on every
// load balancer with no cut, every agent reports it held before the
// operation is done, and once the intent goes every agent readmits it
// (an op-less intent's DRAIN would stay: the operator's, not the agent's).
func TestFleetHoldKeepsClientsThenReadmits(t *testing.T) {
	_, lbs := startFleet(t, 2)
	var clients []*haproxytest.Clients
	for _, lb := range lbs {
		clients = append(clients, haproxytest.StartClients(t, "ws://"+lb.frontend+"/ws", 6, true))
	}
	op, err := fleet.NewOperator(lbs[0].spec.Consul)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	hold := &intent.Intent{Backend: "ws", Server: "echo-2", State: haproxy.Drain, Since: time.Now().UTC(),
		Op: &intent.Op{ID: fleet.NewOpID(), Hold: true}, Who: "test@host", Reason: "rollout test"}
	st, err := op.Run(ctx, fleet.Request{Ref: echo2, Intent: hold}, nil)
	if err != nil || st.Outcome != fleet.Done {
		t.Fatalf("hold: %+v, %v", st, err)
	}
	for i, lb := range lbs {
		if s := lb.servers(t, "ws")["echo-2"]; s.Admin != haproxy.Drain || s.Scur != 2 {
			t.Errorf("%s: echo-2 %s with %d sessions when held, want DRAIN with its 2", lb.id, s.Admin, s.Scur)
		}
		if r := st.Rows[i].Report; r == nil || r.Phase != fleet.PhaseHeld || r.Admin != haproxy.Drain {
			t.Errorf("%s reports %+v, want held in DRAIN", lb.id, r)
		}
	}
	// The intent stays DRAIN: a hold is not a drain turning to MAINT.
	if v, err := op.Read(ctx, 0); err != nil || v.Intents[echo2].State != haproxy.Drain {
		t.Errorf("intent after the hold: %+v, %v; want DRAIN", v, err)
	}
	st, err = op.Run(ctx, fleet.Request{Ref: echo2, Healthy: true}, nil)
	if err != nil || st.Outcome != fleet.Done {
		t.Fatalf("readmit: %+v, %v", st, err)
	}
	for i, lb := range lbs {
		if s := lb.servers(t, "ws")["echo-2"]; s.Admin != haproxy.Ready {
			t.Errorf("%s: echo-2 %s after the hold's end, want READY", lb.id, s.Admin)
		}
		if cuts := clients[i].Since(start, false); len(cuts) != 0 {
			t.Errorf("%s: %d clients cut by a hold", lb.id, len(cuts))
		}
	}
}

// TestFleetReportsDeletedOnceReady: once a held server is readmitted and
// up with no intent, every agent deletes its report on it: no stale
// progress key stays until the agent restarts.
func TestFleetReportsDeletedOnceReady(t *testing.T) {
	c, lbs := startFleet(t, 2)
	op, err := fleet.NewOperator(lbs[0].spec.Consul)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	hold := &intent.Intent{Backend: "ws", Server: "echo-2", State: haproxy.Drain, Since: time.Now().UTC(),
		Op: &intent.Op{ID: fleet.NewOpID(), Hold: true}, Who: "test@host", Reason: "stale report test"}
	if st, err := op.Run(ctx, fleet.Request{Ref: echo2, Intent: hold}, nil); err != nil || st.Outcome != fleet.Done {
		t.Fatalf("hold: %+v, %v", st, err)
	}
	if st, err := op.Run(ctx, fleet.Request{Ref: echo2, Healthy: true}, nil); err != nil || st.Outcome != fleet.Done {
		t.Fatalf("readmit: %+v, %v", st, err)
	}
	eventually(t, "every report on echo-2 deleted", func() bool {
		pairs, _, err := c.Client.KV().List(lbs[0].spec.Consul.KVPrefix+fleet.ProgressPrefix, nil)
		return err == nil && len(pairs) == 0
	})
}

package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/wsctl/wsctl/fleet"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/haproxy/haproxytest"
	"github.com/wsctl/wsctl/intent"
)

// waitAnnounced waits until every agent of lbs is announced, each held by
// a session other than the one in before (when given), and returns the
// sessions.
func waitAnnounced(t *testing.T, op *fleet.Operator, lbs []*fleetLB, before map[string]string) map[string]string {
	t.Helper()
	return waitAnnouncedIf(t, op, lbs, func(id, session string) bool { return before == nil || session != before[id] })
}

// waitAnnouncedIf waits until every agent of lbs is announced under a
// session ok accepts, and returns the sessions.
func waitAnnouncedIf(t *testing.T, op *fleet.Operator, lbs []*fleetLB, ok func(id, session string) bool) map[string]string {
	t.Helper()
	got := map[string]string{}
	eventually(t, "every agent announced", func() bool {
		v, err := op.Read(context.Background(), 0)
		if err != nil {
			return false
		}
		for _, lb := range lbs {
			a, found := v.Agents[lb.id]
			if !found || !ok(lb.id, a.Session) {
				return false
			}
			got[lb.id] = a.Session
		}
		return true
	})
	return got
}

// TestFleetAgentJoinsAgainWhenItsSessionIsGone: an idle agent whose session
// Consul invalidates (destroyed here; a stall past the TTL does the same)
// loses its announcement with it, and joins again with a new session on
// its own within seconds.
func TestFleetAgentJoinsAgainWhenItsSessionIsGone(t *testing.T) {
	c, lbs := startFleet(t, 2)
	op, err := fleet.NewOperator(lbs[0].spec.Consul)
	if err != nil {
		t.Fatal(err)
	}
	sessions := waitAnnounced(t, op, lbs, nil)
	if _, err := c.Client.Session().Destroy(sessions["lb2"], nil); err != nil {
		t.Fatal(err)
	}
	gone := time.Now()
	again := waitAnnounced(t, op, lbs[1:], map[string]string{"lb2": sessions["lb2"]})
	t.Logf("lb2 joined again %s after its session was destroyed", time.Since(gone).Round(time.Millisecond))
	if s, _, err := c.Client.Session().Info(again["lb2"], nil); err != nil || s == nil {
		t.Errorf("lb2's new session %s: %v, %v", again["lb2"], s, err)
	}
}

// holdDrain is a drain of echo-2 that closes nothing, over in timeout.
func holdDrain(timeout time.Duration) *intent.Intent {
	return &intent.Intent{Backend: "ws", Server: "echo-2", State: haproxy.Drain, Since: time.Now().UTC(),
		Op: &intent.Op{ID: fleet.NewOpID(), Timeout: timeout.Seconds()}, Who: "test@host"}
}

// TestFleetAgentAnnouncesAgain: an idle agent whose announcement is deleted
// (a token that may write the prefix) announces itself again at once, with
// the same session; a fleet drain then waits for it.
func TestFleetAgentAnnouncesAgain(t *testing.T) {
	c, lbs := startFleet(t, 2)
	op, err := fleet.NewOperator(lbs[0].spec.Consul)
	if err != nil {
		t.Fatal(err)
	}
	sessions := waitAnnounced(t, op, lbs, nil)
	if _, err := c.Client.KV().Delete("wsctl/agents/lb2", nil); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	eventually(t, "lb2 announced again", func() bool {
		p, _, err := c.Client.KV().Get("wsctl/agents/lb2", nil)
		return err == nil && p != nil && p.Session == sessions["lb2"]
	})
	t.Logf("lb2 announced again %s after the delete", time.Since(deleted).Round(time.Millisecond))
}

// withAgentTTL is stickyServerID with the agents' check TTL set to ttl.
func withAgentTTL(ttl time.Duration) func(string) string {
	return func(s string) string {
		return strings.Replace(stickyServerID(s), "\nconsul:\n", "\nconsul:\n  agent_ttl: "+ttl.String()+"\n", 1)
	}
}

// TestFleetAgentsComeBackAfterConsulStall: Consul stopped (SIGSTOP) for
// longer than the agents' check TTL invalidates the agents' sessions and
// deletes their keys — those whose check renewal, queued during the stall,
// does not reach Consul before its TTL timers fire, which is a race —
// while the renewals succeed again once it runs: idle agents notice and
// join again with new sessions, so every agent is announced again under a
// live session, and a fleet drain of a server lb2 holds sessions on, run
// meanwhile and after, never reports done.
func TestFleetAgentsComeBackAfterConsulStall(t *testing.T) {
	const ttl = 3 * time.Second
	c, lbs := startFleetEdited(t, 2, withAgentTTL(ttl))
	clientsOnEcho2(t, lbs[1])
	op, err := fleet.NewOperator(lbs[0].spec.Consul)
	if err != nil {
		t.Fatal(err)
	}
	sessions := waitAnnounced(t, op, lbs, nil)
	type result struct {
		st  fleet.Status
		err error
	}
	during := make(chan result, 1)
	reported := make(chan struct{})
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
		defer cancel()
		once := false
		st, err := op.Run(ctx, fleet.Request{Ref: echo2, Intent: holdDrain(40 * time.Second)}, func(st fleet.Status) {
			if !once && len(st.Rows) == 2 && st.Rows[1].Report != nil && st.Rows[1].Report.Op == st.Op {
				once = true
				close(reported)
			}
		})
		during <- result{st, err}
	}()
	select {
	case <-reported:
	case r := <-during:
		t.Fatalf("the drain ended before lb2 reported: %+v, %v", r.st, r.err)
	}
	c.Proc.Signal(t, syscall.SIGSTOP)
	t.Cleanup(func() { _ = syscall.Kill(c.Proc.PID, syscall.SIGCONT) })
	time.Sleep(3*ttl + time.Second)
	c.Proc.Signal(t, syscall.SIGCONT)
	again := waitAnnouncedIf(t, op, lbs, func(_, session string) bool {
		s, _, err := c.Client.Session().Info(session, nil)
		return err == nil && s != nil
	})
	for id, s := range again {
		t.Logf("%s: session %s before the stall, %s after", id, sessions[id], s)
	}
	r := <-during
	if r.st.Outcome == fleet.Done {
		t.Fatalf("drain across the stall: %+v, %v; lb2 still holds sessions", r.st, r.err)
	}
	t.Logf("drain across the stall: %s %q, %v", r.st.Outcome, r.st.Problem, r.err)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	st, err := op.Run(ctx, fleet.Request{Ref: echo2, Intent: holdDrain(3 * time.Second)}, nil)
	if err != nil || st.Outcome != fleet.TimedOut || len(st.Rows) != 2 || st.Rows[1].Done {
		t.Fatalf("drain after the stall: %+v, %v; want timed out waiting for lb2", st, err)
	}
	if s := lbs[1].servers(t, "ws")["echo-2"]; s.Scur == 0 {
		t.Fatal("lb2 has no session on echo-2 left: the test proves nothing")
	}
}

// TestFleetDrainRidesOutAConsulStallBelowTheTTL: Consul stopped (SIGSTOP)
// for less than the agents' check TTL, while a fleet drain runs, ends no
// session (the renewals that time out meanwhile are retried, not taken for
// a lost session): both agents keep the sessions they had, and the drain
// carries on to done instead of exiting 2 naming an agent.
func TestFleetDrainRidesOutAConsulStallBelowTheTTL(t *testing.T) {
	const ttl, stall = 12 * time.Second, 5 * time.Second
	c, lbs := startFleetEdited(t, 2, withAgentTTL(ttl))
	clientsOnEcho2(t, lbs[1])
	op, err := fleet.NewOperator(lbs[0].spec.Consul)
	if err != nil {
		t.Fatal(err)
	}
	sessions := waitAnnounced(t, op, lbs, nil)
	type result struct {
		st  fleet.Status
		err error
	}
	done := make(chan result, 1)
	reported := make(chan struct{})
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		once := false
		// The sessions on echo-2 are closed after the stall, all at once.
		st, err := op.Run(ctx, fleet.Request{Ref: echo2, Intent: drainOp((stall + 3*time.Second).Seconds(), 0, time.Minute)}, func(st fleet.Status) {
			if !once && len(st.Rows) == 2 && st.Rows[1].Report != nil && st.Rows[1].Report.Op == st.Op {
				once = true
				close(reported)
			}
		})
		done <- result{st, err}
	}()
	select {
	case <-reported:
	case r := <-done:
		t.Fatalf("the drain ended before lb2 reported: %+v, %v", r.st, r.err)
	}
	c.Proc.Signal(t, syscall.SIGSTOP)
	t.Cleanup(func() { _ = syscall.Kill(c.Proc.PID, syscall.SIGCONT) })
	time.Sleep(stall)
	c.Proc.Signal(t, syscall.SIGCONT)
	r := <-done
	if r.err != nil || r.st.Outcome != fleet.Done {
		t.Fatalf("drain across a %s stall with a %s TTL: %s %q, %v; want done", stall, ttl, r.st.Outcome, r.st.Problem, r.err)
	}
	v, err := op.Read(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, lb := range lbs {
		if got := v.Agents[lb.id].Session; got != sessions[lb.id] {
			t.Errorf("%s: session %s before the stall, %q after; want the same", lb.id, sessions[lb.id], got)
		}
	}
}

// TestFleetIgnoresIntentsForUnknownServers: intents with an operation on
// servers this load balancer does not have (anyone who may write the KV
// can write thousands) are counted and ignored: no report written for
// them, and a fleet drain of a real server completes as usual.
func TestFleetIgnoresIntentsForUnknownServers(t *testing.T) {
	c, lbs := startFleet(t, 1)
	const bogus = 50
	for i := range bogus {
		in := holdDrain(time.Minute)
		in.Server = fmt.Sprintf("nosuch-%d", i)
		b, _ := json.Marshal(in)
		if _, err := c.Client.KV().Put(&api.KVPair{Key: "wsctl/intents/ws/" + in.Server, Value: b}, nil); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the bogus intents counted", func() bool { return lbs[0].agent.Metrics().FleetIgnored.Load() == bogus })
	op, err := fleet.NewOperator(lbs[0].spec.Consul)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	st, err := op.Run(ctx, fleet.Request{Ref: echo2, Intent: drainOp(0, 0, 15*time.Second)}, nil)
	if err != nil || st.Outcome != fleet.Done {
		t.Fatalf("drain: %+v, %v", st, err)
	}
	keys, _, err := c.Client.KV().Keys("wsctl/progress/lb1/", "", nil)
	if err != nil || len(keys) != 1 {
		t.Errorf("reports %v (%v), want only echo-2's", keys, err)
	}
	// A drain of a server no load balancer has times out saying why.
	nosuch := holdDrain(2 * time.Second)
	nosuch.Server = "nosuch-x"
	ctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err = op.Run(ctx, fleet.Request{Ref: nosuch.Ref(), Intent: nosuch}, nil)
	if err != nil || st.Outcome != fleet.TimedOut || !strings.Contains(st.Problem, "no report from lb1") {
		t.Errorf("drain of a server no one has: %+v, %v; want timed out naming lb1", st, err)
	}
}

// TestFleetSecondOperatorTakesOver: a second operator's drain of a server
// another one drains replaces the intent and is told whose it replaced;
// the first one's drain ends at once, failed, naming the second, instead
// of waiting for its timeout.
func TestFleetSecondOperatorTakesOver(t *testing.T) {
	_, lbs := startFleet(t, 1)
	clientsOnEcho2(t, lbs[0])
	op, err := fleet.NewOperator(lbs[0].spec.Consul)
	if err != nil {
		t.Fatal(err)
	}
	first, second := holdDrain(30*time.Second), holdDrain(2*time.Second)
	first.Who, second.Who = "alice@host", "bob@host"
	reported := make(chan struct{})
	ended := make(chan fleet.Status, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		once := false
		st, _ := op.Run(ctx, fleet.Request{Ref: echo2, Intent: first}, func(st fleet.Status) {
			if !once && st.Rows[0].Report != nil && st.Rows[0].Report.Op == first.Op.ID {
				once = true
				close(reported)
			}
		})
		ended <- st
	}()
	select {
	case <-reported:
	case st := <-ended:
		t.Fatalf("the first drain ended before lb1 reported on it: %+v", st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := op.Run(ctx, fleet.Request{Ref: echo2, Intent: second}, nil)
	if err != nil || !strings.Contains(st.TookOver, "alice@host") || !strings.Contains(st.TookOver, first.Op.ID) {
		t.Errorf("second drain: %+v, %v; want told it took over alice's op", st, err)
	}
	got := <-ended
	if got.Outcome != fleet.Failed || !strings.Contains(got.Problem, "bob@host") || !strings.Contains(got.Problem, second.Op.ID) {
		t.Errorf("first drain: %+v; want failed naming bob's op", got)
	}
}

// clientsOnEcho2 starts six cookie-keeping clients on lb and waits until
// some are on echo-2, so a drain of echo-2 there waits for them.
func clientsOnEcho2(t *testing.T, lb *fleetLB) {
	t.Helper()
	clients := haproxytest.StartClients(t, "ws://"+lb.frontend+"/ws", 6, true)
	if !clients.WaitFor(10*time.Second, func(m map[string]int) bool { return m["echo-2"] > 0 }) {
		t.Fatalf("no client on echo-2: %v", clients.Connected())
	}
}

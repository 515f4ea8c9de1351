package agent

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wsctl/wsctl/fleet"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/haproxy/haproxytest"
	"github.com/wsctl/wsctl/intent"
	"github.com/wsctl/wsctl/rebalance"
)

// unevenFleet starts Consul, two load balancers with their agents and
// perLB cookie clients on each while echo-3 is held in MAINT (a fleet
// maint), then readmits echo-3: fleet-wide perLB/perLB/0, the end of a
// rollout.
func unevenFleet(t *testing.T, perLB int) (*fleet.Operator, []*fleetLB, []*haproxytest.Clients) {
	t.Helper()
	_, lbs := startFleet(t, 2)
	op, err := fleet.NewOperator(lbs[0].spec.Consul)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	echo3 := haproxy.Ref{Backend: "ws", Server: "echo-3"}
	maint := &intent.Intent{Backend: "ws", Server: "echo-3", State: haproxy.Maint, Since: time.Now().UTC(), Op: &intent.Op{ID: fleet.NewOpID(), Force: true}}
	if st, err := op.Run(ctx, fleet.Request{Ref: echo3, Intent: maint}, nil); err != nil || st.Outcome != fleet.Done {
		t.Fatalf("maint echo-3: %+v, %v", st, err)
	}
	var clients []*haproxytest.Clients
	for _, lb := range lbs {
		c := haproxytest.StartClients(t, "ws://"+lb.frontend+"/ws", perLB, true)
		if on := c.Connected(); on["echo-1"] != perLB/2 || on["echo-2"] != perLB/2 {
			t.Fatalf("%s: clients per server %v, want %d on echo-1 and echo-2", lb.id, on, perLB/2)
		}
		clients = append(clients, c)
	}
	if st, err := op.Run(ctx, fleet.Request{Ref: echo3, Healthy: true}, nil); err != nil || st.Outcome != fleet.Done {
		t.Fatalf("ready echo-3: %+v, %v", st, err)
	}
	return op, lbs, clients
}

// fleetSessions sums each server's sessions over the load balancers.
func fleetSessions(t *testing.T, lbs []*fleetLB) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, lb := range lbs {
		for name, s := range lb.servers(t, "ws") {
			out[name] += s.Scur
			if s.Admin != haproxy.Ready {
				t.Errorf("%s: %s is %s, want READY", lb.id, name, s.Admin)
			}
		}
	}
	return out
}

// TestFleetRebalance is the fleet test: two load balancers with
// 150/150/0 cookie clients each (300/300/0 fleet-wide); a dry run changes
// nothing; the rebalance through the agents ends with every server within
// 15 % of its target fleet-wide, at most 1.2 × the minimum moved, at most
// 2 % back on the server they left, the closes summed over the fleet
// within rate/10 + 20 % per 100 ms, every server READY and the key gone.
func TestFleetRebalance(t *testing.T) {
	const perLB, rate = 300, 200.0
	op, lbs, clients := unevenFleet(t, perLB)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := rebalance.Options{Backend: "ws", Rate: rate, Timeout: time.Minute, Settle: 10 * time.Second, Poll: 100 * time.Millisecond}
	start := time.Now()

	dry := o
	dry.DryRun = true
	res, err := op.Rebalance(ctx, fleet.RebalanceRequest{Who: "test"}, dry)
	minimum := int64(2 * (perLB - 2*perLB/3))
	if err != nil || res.Outcome != rebalance.PlanOnly || res.Before.Moves != minimum {
		t.Fatalf("dry run: %+v, %v; want planned with %d moves", res, err, minimum)
	}
	time.Sleep(300 * time.Millisecond)
	for i, c := range clients {
		if cuts := c.Since(start, false); len(cuts) != 0 {
			t.Errorf("%s: the dry run cut %d clients", lbs[i].id, len(cuts))
		}
	}

	var steps []string
	o.Progress = func(s rebalance.Step) { steps = append(steps, string(s.Kind)) }
	res, err = op.Rebalance(ctx, fleet.RebalanceRequest{Who: "test", Reason: "fleet rebalance test"}, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s in %s: %d rounds, %d closed, minimum %d; steps %v", res.Outcome, res.Elapsed.Round(time.Millisecond), res.Rounds, res.Closed, res.Before.Moves, steps)
	if res.Outcome != rebalance.Balanced {
		t.Fatalf("outcome %s (%v), want balanced", res.Outcome, res.Err)
	}
	got := fleetSessions(t, lbs)
	want := float64(2*perLB) / 3
	for name, n := range got {
		if math.Abs(float64(n)-want) > 0.15*want {
			t.Errorf("%s holds %d sessions fleet-wide, want %g ± 15 %% (%v)", name, n, want, got)
		}
	}
	var cuts []haproxytest.Event
	back := 0
	for _, c := range clients {
		// Where each cut client of this load balancer came back.
		mine, ups := c.Since(start, false), c.Since(start, true)
		for _, cut := range mine {
			for _, up := range ups {
				if up.Client == cut.Client && !up.At.Before(cut.At) {
					if up.Server == cut.Server {
						back++
					}
					break
				}
			}
		}
		cuts = append(cuts, mine...)
	}
	if limit := int(1.2 * float64(minimum)); len(cuts) > limit {
		t.Errorf("%d clients cut, minimum %d, want at most %d", len(cuts), minimum, limit)
	}
	if back*50 > len(cuts) {
		t.Errorf("%d of %d moved clients landed back on the server they left, want at most 2 %%", back, len(cuts))
	}
	var at []time.Time
	for _, e := range cuts {
		at = append(at, e.At)
	}
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	if peak, limit := haproxytest.PeakIn(at, 100*time.Millisecond), int(math.Ceil(rate/10*1.2)); peak > limit {
		t.Errorf("close peak %d per 100 ms over the fleet at %g/s, want at most %d", peak, rate, limit)
	}
	v, err := op.Read(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Rebalances) != 0 {
		t.Errorf("rebalance keys left: %v", v.Rebalances)
	}
	eventually(t, "the agents forget their rebalance reports", func() bool {
		v, err := op.Read(ctx, 0)
		return err == nil && len(v.Progress) == 0
	})
}

// TestFleetRebalanceMissingAgent: an agent that stops during the
// rebalance fails it, naming the load balancer; the others' donors are
// READY again.
func TestFleetRebalanceMissingAgent(t *testing.T) {
	op, lbs, _ := unevenFleet(t, 60)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := rebalance.Options{Backend: "ws", Rate: 5, Timeout: time.Minute, Settle: 10 * time.Second, Poll: 100 * time.Millisecond}
	o.Progress = func(s rebalance.Step) {
		if s.Kind == rebalance.Planned {
			lbs[1].stop()
			<-lbs[1].agent.done
		}
	}
	res, err := op.Rebalance(ctx, fleet.RebalanceRequest{}, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != rebalance.Failed || res.Err == nil || !strings.Contains(res.Err.Error(), "agent lb2 stopped reporting") {
		t.Fatalf("result %s, %v; want a failure naming lb2", res.Outcome, res.Err)
	}
	for name, s := range lbs[0].servers(t, "ws") {
		if s.Admin != haproxy.Ready {
			t.Errorf("lb1: %s is %s, want READY", name, s.Admin)
		}
	}
}

package rollout_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/rebalance"
	"github.com/wsctl/wsctl/rollout"
)

// TestRolloutRebalance: a rollout with Rebalance ends balanced. Without
// it the server deployed last is empty (its clients landed on the servers
// deployed before it); the rebalance moves the minimum back to it and
// every server ends within 15 % of a third, READY, the rollout done.
func TestRolloutRebalance(t *testing.T) {
	st := setup(t, "")
	opts := st.options(t)
	opts.Rebalance = &rebalance.Options{Rate: rate, Timeout: time.Minute, Settle: 10 * time.Second, Poll: 100 * time.Millisecond}
	// The rollout's own checks (checkDone) count every cut since the
	// start: the rebalance's are counted here, from the last step on.
	var lastStep time.Time
	opts.Step = func(rollout.Step) { lastStep = time.Now() }
	res, err := rollout.Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Done || len(res.Steps) != 3 {
		t.Fatalf("result: done %v, %d steps, want done with 3", res.Done, len(res.Steps))
	}
	for s, a := range st.admin(t) {
		if a != haproxy.Ready {
			t.Errorf("%s is %s at the end, want READY", s, a)
		}
	}
	rb := res.Rebalance
	if rb == nil {
		t.Fatal("no rebalance result")
	}
	t.Logf("rebalance %s: minimum %d, closed %d, %d rounds, %s; before %+v", rb.Outcome, rb.Before.Moves, rb.Closed, rb.Rounds, rb.Elapsed, rb.Before.Servers)
	if rb.Outcome != rebalance.Balanced || rb.Before.Moves == 0 {
		t.Errorf("rebalance %s with a minimum of %d, want balanced after moving some", rb.Outcome, rb.Before.Moves)
	}
	all, err := st.c.Servers(context.Background(), "ws")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range all {
		if math.Abs(float64(s.Scur-perServer)) > 0.15*perServer+1 {
			t.Errorf("%s holds %d sessions at the end, want %d ± 15 %%", s.Server, s.Scur, perServer)
		}
	}
	if cuts := len(st.fleet.Since(lastStep, false)); float64(cuts) > 1.2*float64(rb.Before.Moves)+1 {
		t.Errorf("%d clients cut by the rebalance, minimum %d", cuts, rb.Before.Moves)
	}
}

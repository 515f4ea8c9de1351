package rebalance_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/haproxy/haproxytest"
	"github.com/wsctl/wsctl/rebalance"
)

// The scenario is 300/300/0; half of it keeps the test light on a
// loaded machine with the same shape.
const (
	perServer = 150
	rate      = 200.0
)

// unevenBackend starts three servers behind HAProxy with s3 in MAINT (and
// weight3), connects n reconnecting cookie clients to s1 and s2, then
// readmits s3 into the full backend and waits until it takes clients: a
// rollout's or a scale-out's end.
func unevenBackend(t *testing.T, n int, weight3 int) (*haproxy.Client, *haproxytest.Clients) {
	t.Helper()
	ctx := context.Background()
	lb := haproxytest.StartLB(t, haproxytest.Config{}, haproxytest.Backends(t, "s1", "s2", "s3"))
	c, err := haproxy.Dial(ctx, lb.AdminSocket, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetState(ctx, "ws", "s3", haproxy.Maint); err != nil {
		t.Fatal(err)
	}
	// HAProxy's default weight is 1: the weights are set so that s3's is
	// a multiple of the others'.
	for server, w := range map[string]int{"s1": 100, "s2": 100, "s3": weight3} {
		if err := c.SetWeight(ctx, "ws", server, w); err != nil {
			t.Fatal(err)
		}
	}
	fleet := haproxytest.StartClients(t, lb.URL(), n, true)
	if on := fleet.Connected(); on["s1"] != n/2 || on["s2"] != n/2 {
		t.Fatalf("clients per server = %v, want %d on s1 and s2", on, n/2)
	}
	if err := c.Readmit(ctx, "ws", "s3"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "s3 to take clients", func() bool {
		s, err := c.Server(ctx, "ws", "s3")
		return err == nil && s.TakesClients()
	})
	return c, fleet
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func options() rebalance.Options {
	return rebalance.Options{Backend: "ws", Rate: rate, Timeout: time.Minute, Settle: 10 * time.Second, Poll: 100 * time.Millisecond}
}

// TestRebalanceThreeServers is the test: 150/150/0 cookie clients
// end within 15 % of 100 each; the closes are at most 1.2 × the minimum,
// paced, and at most 2 % of the moved clients land back on the server
// they left.
func TestRebalanceThreeServers(t *testing.T) {
	c, fleet := unevenBackend(t, 2*perServer, 100)
	start := time.Now()
	res, err := rebalance.Run(context.Background(), rebalance.NewSockets([]rebalance.Socket{{Name: "lb", Runtime: c}}), options())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("result %s in %s: %d rounds, %d closed, minimum %d", res.Outcome, res.Elapsed, res.Rounds, res.Closed, res.Before.Moves)
	if res.Outcome != rebalance.Balanced {
		t.Errorf("outcome %s (%v), want balanced", res.Outcome, res.Err)
	}
	want := float64(2*perServer) / 3
	all, err := c.Servers(context.Background(), "ws")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range all {
		if math.Abs(float64(s.Scur)-want) > 0.15*want {
			t.Errorf("%s holds %d sessions, want %g ± 15 %%", s.Server, s.Scur, want)
		}
		if s.Admin != haproxy.Ready {
			t.Errorf("%s is %s at the end, want READY", s.Server, s.Admin)
		}
	}
	cuts := fleet.Since(start, false)
	// The minimum: s1 and s2 each give up what they hold above a third.
	minimum := int64(2 * (perServer - 2*perServer/3))
	if limit := int(1.2 * float64(minimum)); len(cuts) > limit || res.Before.Moves != minimum {
		t.Errorf("%d clients cut, minimum %d (want %d), want at most %d", len(cuts), res.Before.Moves, minimum, limit)
	}

	// Where each cut client came back.
	ups := fleet.Since(start, true)
	back := 0
	for _, cut := range cuts {
		for _, up := range ups {
			if up.Client == cut.Client && !up.At.Before(cut.At) {
				if up.Server == cut.Server {
					back++
					t.Logf("client %d cut from %s came back to it (cookie %q)", cut.Client, cut.Server, up.Cookie)
				}
				break
			}
		}
	}
	if back*50 > len(cuts) {
		t.Errorf("%d of %d moved clients landed back on the server they left, want at most 2 %%", back, len(cuts))
	}

	var at []time.Time
	for _, e := range cuts {
		at = append(at, e.At)
	}
	if peak, max := haproxytest.PeakIn(at, 100*time.Millisecond), int(math.Ceil(rate/10*1.2)); peak > max {
		t.Errorf("close peak %d per 100 ms at %g/s, want at most %d", peak, rate, max)
	}
}

// TestRebalanceWeights: s3 with weight 200 ends with twice the share of
// the others.
func TestRebalanceWeights(t *testing.T) {
	const n = 120
	c, _ := unevenBackend(t, n, 200)
	res, err := rebalance.Run(context.Background(), rebalance.NewSockets([]rebalance.Socket{{Name: "lb", Runtime: c}}), options())
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != rebalance.Balanced {
		t.Errorf("outcome %s (%v), want balanced", res.Outcome, res.Err)
	}
	all, err := c.Servers(context.Background(), "ws")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"s1": n / 4, "s2": n / 4, "s3": n / 2}
	for _, s := range all {
		if math.Abs(float64(s.Scur)-want[s.Server]) > 0.15*want[s.Server] {
			t.Errorf("%s (weight %d) holds %d sessions, want %g ± 15 %%", s.Server, s.UserWeight, s.Scur, want[s.Server])
		}
	}
}

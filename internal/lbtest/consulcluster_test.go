package lbtest

import (
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// TestConsulClusterSurvivesLeaderLoss: a key written through a follower is
// still there, and the cluster takes writes again, once its leader is
// killed and another elected.
func TestConsulClusterSurvivesLeaderLoss(t *testing.T) {
	c := StartConsulCluster(t)
	f := c.Followers(t)
	if len(f) != 2 {
		t.Fatalf("%d followers, want 2", len(f))
	}
	if _, err := f[0].Client.KV().Put(&api.KVPair{Key: "k", Value: []byte("before")}, nil); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	old := c.KillLeader(t)
	leader := c.WaitLeader(t, old)
	t.Logf("new leader after %s", time.Since(start).Round(time.Millisecond))
	if leader == old || leader.Proc.Exited() {
		t.Fatalf("leader %s after the kill", leader.server)
	}
	if _, err := f[1].Client.KV().Put(&api.KVPair{Key: "k2", Value: []byte("after")}, nil); err != nil {
		t.Fatal(err)
	}
	p, _, err := f[1].Client.KV().Get("k", nil)
	if err != nil || p == nil || string(p.Value) != "before" {
		t.Fatalf("k after the election: %v, %v", p, err)
	}
}

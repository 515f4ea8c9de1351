package agent

import (
	"context"
	"encoding/json"
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

// TestFleetACLPoliciesHoldAgentsToTheirKeys runs a fleet under default-deny
// ACLs with exactly the policies `wsctl fleet acl` prints: two agents join
// and follow discovery with their own tokens; lb1's token may neither
// write nor delete lb2's announcement or reports, nor write an intent; a
// report lb1 forges for lb2 under its own keys does not count, so a drain
// of a server lb2 still holds sessions on never completes; the pipeline's
// token drains once lb2's clients are gone.
func TestFleetACLPoliciesHoldAgentsToTheirKeys(t *testing.T) {
	lbtest.Binary(t, "haproxy")
	c := lbtest.StartConsulACL(t)
	for _, w := range haproxytest.Backends(t, "echo-1", "echo-2", "echo-3") {
		register(t, c, w.ID, w)
	}
	node, err := c.Client.Agent().NodeName()
	if err != nil {
		t.Fatal(err)
	}
	tokens := map[string]string{}
	var lbs []*fleetLB
	for _, id := range []string{"lb1", "lb2"} {
		rules, err := fleet.AgentPolicy("wsctl/", id, node, []string{"echo"})
		if err != nil {
			t.Fatal(err)
		}
		tokens[id] = aclToken(t, c, "wsctl-agent-"+id, rules)
		lbs = append(lbs, startFleetLBEdited(t, c, id, withTokenFile(c, tokenFile(t, tokens[id]))))
	}
	clientsOnEcho2(t, lbs[1])

	lb1 := tokenClient(t, c, tokens["lb1"])
	forged, _ := json.Marshal(fleet.Progress{Agent: "lb2", Backend: "ws", Server: "echo-2", Admin: haproxy.Maint, Phase: fleet.PhaseDrained})
	for _, key := range []string{"wsctl/agents/lb2", "wsctl/progress/lb2/ws/echo-2", "wsctl/intents/ws/echo-2"} {
		if _, err := lb1.KV().Put(&api.KVPair{Key: key, Value: forged}, nil); err == nil || !strings.Contains(err.Error(), "Permission denied") {
			t.Errorf("lb1's token put %s: %v, want permission denied", key, err)
		}
		if _, err := lb1.KV().Delete(key, nil); err == nil || !strings.Contains(err.Error(), "Permission denied") {
			t.Errorf("lb1's token deleted %s: %v, want permission denied", key, err)
		}
	}

	cfg := lbs[0].spec.Consul
	cfg.TokenFile = tokenFile(t, aclToken(t, c, "wsctl-pipeline", fleet.PipelinePolicy("wsctl/")))
	op, err := fleet.NewOperator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// No close: lb2 keeps its clients, so only a forged report could
	// make the drain done.
	wait := &intent.Intent{Backend: "ws", Server: "echo-2", State: haproxy.Drain, Since: time.Now().UTC(),
		Op: &intent.Op{ID: fleet.NewOpID()}, Who: "test@host"}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	var opID string
	st, err := op.Run(ctx, fleet.Request{Ref: echo2, Intent: wait}, func(st fleet.Status) {
		if opID != "" || st.Rows[0].Report == nil || st.Rows[0].Report.Op != st.Op {
			return
		}
		// lb1 has reported on the op: it now writes, under its own key
		// and session, a report saying lb2 drained.
		opID = st.Op
		lie := fleet.Progress{Agent: "lb2", Backend: "ws", Server: "echo-2", Op: st.Op, Admin: haproxy.Maint, Phase: fleet.PhaseDrained}
		b, _ := json.Marshal(lie)
		if _, err := lb1.KV().Put(&api.KVPair{Key: "wsctl/progress/lb1/ws/echo-2", Value: b}, nil); err != nil {
			t.Errorf("lb1 writing its own key: %v", err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if opID == "" || st.Outcome != fleet.TimedOut || st.Rows[1].Done {
		t.Fatalf("drain with lb2's clients left and a forged report: %+v, want timed out, lb2 not done", st)
	}
	if s := lbs[1].servers(t, "ws")["echo-2"]; s.Scur == 0 {
		t.Fatalf("lb2 has no session on echo-2 left: the test proves nothing")
	}
}

// tokenClient is a Consul client of c's using token.
func tokenClient(t *testing.T, c *lbtest.Consul, token string) *api.Client {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address, cfg.Token = c.Addr, token
	client, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return client
}

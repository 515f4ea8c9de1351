package fleet

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/intent"
	"github.com/wsctl/wsctl/spec"
)

// AgentPolicy is the least a load balancer's agent needs from Consul's ACLs
// (HCL, for `consul acl policy create -rules`): write on its own
// announcement and its own reports, read on the rest of kvPrefix (intents,
// the others' reports for its share of the rate), write on its
// `wsctl-agent` service (its TTL check) and on sessions of its Consul node,
// read on that node's agent (its name, the default agent id) and, for
// discovery, on the services the spec follows and on the nodes that run
// them. Another agent's token may neither write nor delete these keys.
func AgentPolicy(kvPrefix, agent, node string, services []string) (string, error) {
	if err := haproxy.ValidName(agent); err != nil {
		return "", fmt.Errorf("fleet: agent id %q: %w", agent, err)
	}
	if err := haproxy.ValidName(node); err != nil {
		return "", fmt.Errorf("fleet: consul node %q: %w", node, err)
	}
	var b strings.Builder
	rule(&b, "key", kvPrefix+AgentsPrefix+agent, "write", "its announcement")
	rule(&b, "key_prefix", kvPrefix+ProgressPrefix+agent+"/", "write", "its reports")
	rule(&b, "key_prefix", kvPrefix, "read", "intents, the others' announcements and reports")
	rule(&b, "service", ServiceName, "write", "its TTL check")
	rule(&b, "session", node, "write", "its session, on its Consul node")
	rule(&b, "agent", node, "read", "the node's name, the default agent id")
	rule(&b, "node_prefix", "", "read", "discovery: the nodes of the instances")
	for _, s := range slices.Compact(slices.Sorted(slices.Values(services))) {
		rule(&b, "service", s, "read", "discovery")
	}
	return b.String(), nil
}

// SpecAgentPolicy is AgentPolicy for the spec's kv_prefix and the Consul
// services its backends follow; node "" is the agent id, as `wsctl agent`
// defaults its id to the Consul node's name.
func SpecAgentPolicy(sp *spec.Spec, agent, node string) (string, error) {
	if node == "" {
		node = agent
	}
	var services []string
	for _, b := range sp.Backends {
		if b.Consul != nil {
			services = append(services, b.Consul.Service)
		}
	}
	return AgentPolicy(sp.Consul.KVPrefix, agent, node, services)
}

// PipelinePolicy is the least `wsctl drain|maint|ready|rollout|rebalance
// --fleet` needs: write on the intents and the rebalances, read on the
// rest of kvPrefix.
func PipelinePolicy(kvPrefix string) string {
	var b strings.Builder
	rule(&b, "key_prefix", kvPrefix+intent.Prefix, "write", "the intents, with check-and-set")
	rule(&b, "key_prefix", kvPrefix+RebalancePrefix, "write", "the fleet rebalances, with check-and-set")
	rule(&b, "key_prefix", kvPrefix, "read", "the agents' announcements and reports")
	return b.String()
}

// rule writes one HCL rule with its reason as a comment.
func rule(b *strings.Builder, kind, name, policy, why string) {
	fmt.Fprintf(b, "%s %s { policy = %q }  # %s\n", kind, strconv.Quote(name), policy, why)
}

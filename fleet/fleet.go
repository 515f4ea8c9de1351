// Package fleet makes the wsctl agents of many load balancers one fleet
// through Consul, with no coordinator of its own: Consul's KV, sessions and
// blocking queries are the engine.
//
// The KV layout under the spec's kv_prefix (P):
//
//	P intents/<backend>/<server>          the operator's intent (package intent),
//	                                      written by the CLI with check-and-set
//	P agents/<agent>                      an agent's announcement, acquired by
//	                                      its session
//	P progress/<agent>/<backend>/<server> what that agent's HAProxy does with the
//	                                      server (Progress), acquired by its session
//	P rebalance/<backend>                 the operator's fleet rebalance of the
//	                                      backend (intent.Rebalance), written by
//	                                      the CLI with check-and-set
//
// Everything an agent writes is under a key or prefix naming it, so a
// key-prefix ACL policy (AgentPolicy) lets each agent write its own keys
// only: a lock does not prove who wrote a value (a plain put keeps the
// session that holds the key), an ACL does.
//
// An agent's session is bound to Consul's serfHealth of its node and to a
// TTL check of the agent's own `wsctl-agent` service (spec
// consul.agent_ttl), renewed several times per TTL: when the agent dies,
// the check turns critical, Consul invalidates the
// session and deletes every key it held. A missing announcement is how the
// CLI learns an agent stopped reporting.
//
// Member is the agent's side: announce, follow the prefix with blocking
// queries, publish progress (on change, at most every PublishInterval).
// Operator is the CLI's side: write the intent, then follow the prefix
// until every live agent reports the server where it was asked to be.
package fleet

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/intent"
	"github.com/wsctl/wsctl/internal/pace"
)

// The key prefixes under kv_prefix besides intent.Prefix.
const (
	AgentsPrefix    = "agents/"
	ProgressPrefix  = "progress/"
	RebalancePrefix = "rebalance/"
)

// Phases an agent reports for a server, besides drain.Waiting and
// drain.Closing while its drain runs.
const (
	PhaseDrained  = "drained"   // no session left, MAINT
	PhaseTimedOut = "timed_out" // the op's timeout passed with sessions left
	PhaseError    = "error"     // the drain failed; see Error
	PhaseRefused  = "refused"   // the agent changed nothing (last server, sessions left for a maint, HAProxy unreadable); see Error
	PhaseHeld     = "held"      // an op without a drain (maint) is applied
	// A fleet rebalance's phases, of a server in the report's Round.
	PhaseCounted    = "counted"    // reported for the count; not a donor
	PhaseShed       = "shed"       // a donor: MAINT, its part closed
	PhaseReadmitted = "readmitted" // a donor READY again
)

// Progress is one agent's report on one server.
type Progress struct {
	Agent   string `json:"agent"`
	Backend string `json:"backend"`
	Server  string `json:"server"`
	// Op is the id of the operation the report is about ("" once the
	// intent is gone).
	Op string `json:"op,omitempty"`
	// Admin and State are HAProxy's (READY/DRAIN/MAINT, UP/DOWN/…).
	Admin haproxy.AdminState `json:"admin"`
	State haproxy.OpState    `json:"state,omitempty"`
	Phase string             `json:"phase,omitempty"`
	// Sessions is the server's current sessions; Closed how many the
	// agent's drain closed.
	Sessions int64     `json:"sessions"`
	Closed   int       `json:"closed"`
	Error    string    `json:"error,omitempty"`
	Updated  time.Time `json:"updated"`
	// Weight, Round and Servers are a fleet rebalance's (Op is its id):
	// the server's weight, the round of the phase, and how many servers
	// of the backend the agent reports on, so the count waits for all.
	Weight  int64 `json:"weight,omitempty"`
	Round   int   `json:"round,omitempty"`
	Servers int   `json:"servers,omitempty"`
	// gone marks a report Member.Forget queued for deletion.
	gone bool
}

// Ref is the server reported on.
func (p Progress) Ref() haproxy.Ref { return haproxy.Ref{Backend: p.Backend, Server: p.Server} }

// same reports whether two reports say the same, whenever written.
func (p Progress) same(q Progress) bool {
	p.Updated, q.Updated = time.Time{}, time.Time{}
	return p == q
}

// Announcement is the value of an agent's key.
type Announcement struct {
	Agent string    `json:"agent"`
	Since time.Time `json:"since"`
	// Session is the Consul session holding the key (not in the value):
	// the agent's reports count only when held by the same one.
	Session string `json:"-"`
}

// View is the fleet as one read of the prefix shows it. Only keys held by a
// live session count: an agent whose session ended is gone, and so are its
// reports.
type View struct {
	// Index is Consul's index of the read.
	Index   uint64
	Intents map[haproxy.Ref]intent.Intent
	// Agents are the live agents, by id.
	Agents map[string]Announcement
	// Progress holds the live reports by server, then agent.
	Progress map[haproxy.Ref]map[string]Progress
	// Rebalances are the fleet rebalances in force, by backend.
	Rebalances map[string]intent.Rebalance
}

// parse builds a View from the pairs under prefix. A report is believed
// only under a live announcement of the same agent held by the same
// session: the agent named by its key, its value and its announcement
// agree, so no other agent's token (which may not write under another
// agent's keys) and no plain put (which keeps a key's session but cannot
// make one) passes for that agent.
func parse(prefix string, store *intent.Consul, pairs api.KVPairs, index uint64) *View {
	v := &View{Index: index, Intents: map[haproxy.Ref]intent.Intent{}, Agents: map[string]Announcement{},
		Progress: map[haproxy.Ref]map[string]Progress{}, Rebalances: map[string]intent.Rebalance{}}
	var reports []*api.KVPair
	for _, p := range pairs {
		key := strings.TrimPrefix(p.Key, prefix)
		switch {
		case strings.HasPrefix(key, intent.Prefix):
			if i, ok := store.Decode(p); ok {
				v.Intents[i.Ref()] = i
			}
		case strings.HasPrefix(key, AgentsPrefix) && p.Session != "":
			var a Announcement
			if json.Unmarshal(p.Value, &a) == nil && AgentsPrefix+a.Agent == key {
				a.Session = p.Session
				v.Agents[a.Agent] = a
			}
		case strings.HasPrefix(key, ProgressPrefix) && p.Session != "":
			reports = append(reports, p)
		case strings.HasPrefix(key, RebalancePrefix):
			// A damaged or foreign value is never acted on.
			var r intent.Rebalance
			if json.Unmarshal(p.Value, &r) == nil && r.Validate() == nil && key == RebalancePrefix+r.Backend {
				v.Rebalances[r.Backend] = r
			}
		}
	}
	for _, p := range reports {
		var pr Progress
		if json.Unmarshal(p.Value, &pr) != nil || progressKey(prefix, pr.Ref(), pr.Agent) != p.Key ||
			v.Agents[pr.Agent].Session != p.Session {
			continue
		}
		if v.Progress[pr.Ref()] == nil {
			v.Progress[pr.Ref()] = map[string]Progress{}
		}
		v.Progress[pr.Ref()][pr.Agent] = pr
	}
	return v
}

// progressKey is where agent reports on r.
func progressKey(prefix string, r haproxy.Ref, agent string) string {
	return prefix + ProgressPrefix + agent + "/" + r.Backend + "/" + r.Server
}

// Part is agent self's part of op's fleet-wide close schedule for ref
// (pace.Schedule): the live agents in the order of their ids, each with a
// part of [0, 1) in proportion to the sessions it reported for op, or
// equal parts until every live agent has. Every agent that reads the same
// view gets parts that do not overlap, so their closes add up to the
// schedule's rate however many they are; views a blocking query apart
// differ only briefly. An agent the view does not show announced has no
// part: the others do not count it either.
func (v *View) Part(ref haproxy.Ref, op, self string) pace.Part {
	if _, ok := v.Agents[self]; !ok {
		return pace.Part{}
	}
	ids := slices.Sorted(maps.Keys(v.Agents))
	sessions := make([]float64, len(ids))
	var total float64
	for i, id := range ids {
		p, ok := v.Progress[ref][id]
		if !ok || p.Op != op {
			total = 0 // not everyone reported: equal parts
			break
		}
		sessions[i] = float64(p.Sessions)
		total += sessions[i]
	}
	lo := 0.0
	for i, id := range ids {
		size := 1 / float64(len(ids))
		if total > 0 {
			size = sessions[i] / total
		}
		if id == self {
			return pace.Part{Lo: lo, Hi: min(lo+size, 1)}
		}
		lo += size
	}
	return pace.Part{}
}

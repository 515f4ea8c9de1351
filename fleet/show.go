package fleet

import (
	"fmt"
	"maps"
	"slices"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/intent"
	"github.com/wsctl/wsctl/spec"
)

// What the commands show of the fleet: an operation's Status per load
// balancer, and the whole fleet (Overview). The commands only print these.

// NumDone counts the load balancers that did what was asked.
func (st Status) NumDone() int {
	n := 0
	for _, r := range st.Rows {
		if r.Done {
			n++
		}
	}
	return n
}

// Missing lists the agents that stopped reporting during the operation.
func (st Status) Missing() []string {
	var ids []string
	for _, r := range st.Rows {
		if r.Missing {
			ids = append(ids, r.Agent)
		}
	}
	return ids
}

// Totals adds up the sessions left and closed that the agents reported.
func (st Status) Totals() (sessions int64, closed int) {
	for _, r := range st.Rows {
		if p := r.Report; p != nil {
			sessions += p.Sessions
			closed += p.Closed
		}
	}
	return sessions, closed
}

// Shown is the row's report as a table shows it: "-" for the admin state
// and phase before a first report, and a missing agent's phase "missing"
// (its last report, if any, is stale).
func (r Row) Shown() Progress {
	p := Progress{Admin: "-", Phase: "-"}
	if r.Report != nil {
		p = *r.Report
	}
	if r.Missing {
		p.Phase, p.Error = "missing", "stopped reporting"
	}
	return p
}

// Overview is the fleet as `wsctl status --fleet` shows it: the live
// agents, the intents with who set them and why, and every live agent's
// report per server. Its JSON is a documented contract: fields are only
// ever added.
type Overview struct {
	// Agents are the live agents' ids, sorted.
	Agents  []string         `json:"agents"`
	Intents []OverviewIntent `json:"intents"`
	// Servers are the reports by server, then agent.
	Servers []OverviewReport `json:"servers"`
}

// OverviewIntent is an intent, named by its server ("backend/server").
type OverviewIntent struct {
	Server string `json:"server"`
	intent.Intent
}

// OverviewReport is one agent's report, named by its server
// ("backend/server").
type OverviewReport struct {
	Server string `json:"server"`
	Progress
}

// Overview is what v shows of backend's servers ("" for all).
func (v *View) Overview(backend string) Overview {
	o := Overview{Agents: slices.Sorted(maps.Keys(v.Agents)), Intents: []OverviewIntent{}, Servers: []OverviewReport{}}
	if o.Agents == nil {
		o.Agents = []string{}
	}
	for _, ref := range v.Servers() {
		if backend != "" && ref.Backend != backend {
			continue
		}
		if i, ok := v.Intents[ref]; ok {
			o.Intents = append(o.Intents, OverviewIntent{Server: ref.String(), Intent: i})
		}
		for _, id := range o.Agents {
			if p, ok := v.Progress[ref][id]; ok {
				o.Servers = append(o.Servers, OverviewReport{Server: ref.String(), Progress: p})
			}
		}
	}
	return o
}

// ResolveRef gives a bare server name its backend from the spec, as the
// fleet has no socket to ask: the spec's one backend, or the one backend
// with a static server of that name.
func ResolveRef(sp *spec.Spec, ref haproxy.Ref) (haproxy.Ref, error) {
	if ref.Backend != "" {
		return ref, nil
	}
	if len(sp.Backends) == 1 {
		ref.Backend = sp.Backends[0].Name
		return ref, nil
	}
	var found []string
	for _, b := range sp.Backends {
		if slices.ContainsFunc(b.Servers, func(s spec.Server) bool { return s.Name == ref.Server }) {
			found = append(found, b.Name)
		}
	}
	if len(found) == 1 {
		ref.Backend = found[0]
		return ref, nil
	}
	return ref, fmt.Errorf("server %q: the spec has %d backends and %d static servers of that name: give it as BACKEND/%s", ref.Server, len(sp.Backends), len(found), ref.Server)
}

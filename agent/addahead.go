package agent

import (
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/model"
)

// addAhead adds, on c, the servers of m HAProxy did not have at the last
// sync's listing, before the sync lists and plans: a registration is live
// without waiting for the backend's `show servers state`, which with 1,000
// servers took ~10 ms of the agent's path on a loaded machine (150 KB for
// HAProxy to write and for the agent to parse). Nothing else is planned
// without a listing: a drain, a readmission or a new address depends on
// the server's current state; an add does not, since HAProxy refuses a
// name it has, and the add's other steps stop there.
//
// The sync's listing and plan follow as always and correct anything this
// got wrong: an add refused because someone added the name by hand is
// logged, and the plan then treats the server as HAProxy has it.
func (a *Agent) addAhead(c haproxy.Conn, m *model.Model) {
	if ops := a.unlisted(m); len(ops) > 0 {
		a.applyOps(c, m, nil, ops)
	}
}

// unlisted returns the add operations addAhead makes: the servers of m's
// backends that were listed at the last sync and absent from that
// listing, that the runtime API can add, and that no unfinished batch of
// the agent holds (HAProxy may have half of it: the plan finishes it).
func (a *Agent) unlisted(m *model.Model) []Op {
	var ops []Op
	for _, b := range m.Backends {
		listed, ok := a.listed[b.Name]
		if !ok {
			continue
		}
		for _, s := range b.Servers {
			if s.Slot || s.Disabled || listed[s.Name] || a.changing[haproxy.Ref{Backend: b.Name, Server: s.Name}] {
				continue
			}
			if op := (Op{Kind: OpAdd, Backend: b.Name, Server: s}); a.runtimeCan(op) {
				ops = append(ops, op)
			}
		}
	}
	return ops
}

// list records the servers a sync listed in backend.
func (a *Agent) list(backend string, servers []haproxy.ServerStatus) {
	names := make(map[string]bool, len(servers))
	for _, s := range servers {
		names[s.Server] = true
	}
	a.listed[backend] = names
}

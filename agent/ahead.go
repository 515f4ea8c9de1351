package agent

import (
	"context"

	"github.com/wsctl/wsctl/discovery"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/model"
)

// ahead makes, on c, before the sync lists and plans, what a registration
// needs and the last sync's listing is enough to plan: of m's servers (the
// changed ones: aheadModel), those HAProxy did not have are added, and
// those the agent drained are readmitted. A registration is then live without
// waiting for the backend's `show servers state`, which with 1,000 servers
// took ~10 ms of the agent's path on a loaded machine (150 KB for HAProxy to
// write and for the agent to parse), and one round trip to HAProxy with 3.
//
// An add depends on nothing HAProxy holds: HAProxy refuses a name it has
// (haproxy.ErrNotAdded), and the add's other steps stop there. A
// readmission depends on the server's state and sessions, read from its
// own row as the plan's are (haproxy.ChangeReadmit: in the write that
// readmits it, from DRAIN). Anything else waits for the listing. The
// sync's listing and plan follow as always and correct what this got
// wrong: a name someone added by hand is logged, and the plan takes the
// server as HAProxy has it.
func (a *Agent) ahead(ctx context.Context, c haproxy.Conn, m *model.Model) {
	ops := a.unlisted(m)
	listed := a.readmittable(ctx, m)
	for backend, servers := range listed {
		for _, s := range servers {
			ops = append(ops, Op{Kind: OpReady, Backend: backend, Server: model.Server{Name: s.Server}, Current: s.Admin})
		}
	}
	if len(ops) > 0 {
		a.applyOps(c, m, listed, ops, false)
	}
}

// aheadModel is what ahead acts on, made before the sync's model: the
// servers of the instances of snap that the last applied snapshot does
// not hold as they are (a registration, a server back, a changed one), in
// the backends of the model HAProxy loaded. Each server is made as the
// model makes it (model.NewServer), whatever the other instances are; a
// backend's settings come from the spec alone, unchanged since that model
// was built (syncEarly). An unchanged instance whose server HAProxy lacks
// is the listing's and the plan's to find. nil when nothing changed.
func (a *Agent) aheadModel(snap map[string][]discovery.Instance) *model.Model {
	var out *model.Model
	for _, b := range a.loadedModel.Backends {
		changed := changedInstances(a.applied[b.Name], snap[b.Name])
		if len(changed) == 0 {
			continue
		}
		sb, err := a.spec.Backend(b.Name)
		if err != nil {
			continue
		}
		b.Servers = nil // b is a copy: the loaded model keeps its servers
		for _, in := range changed {
			// One the model refuses is the sync's to log.
			if srv, err := model.NewServer(*sb, in); err == nil {
				b.Servers = append(b.Servers, srv)
			}
		}
		if out == nil {
			out = &model.Model{}
		}
		out.Backends = append(out.Backends, b)
	}
	return out
}

// changedInstances returns the instances of now that was does not hold as
// they are. Sources send their instances sorted by ID, so this is one walk
// over both; when now is not sorted, it is all of now.
func changedInstances(was, now []discovery.Instance) []discovery.Instance {
	var out []discovery.Instance
	i := 0
	for k, in := range now {
		if k > 0 && now[k-1].ID >= in.ID {
			return now
		}
		for i < len(was) && was[i].ID < in.ID {
			i++
		}
		if i < len(was) && was[i] == in {
			continue
		}
		out = append(out, in)
	}
	return out
}

// unlisted returns the add operations ahead makes: the servers of m's
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
			if _, had := listed[s.Name]; had || s.Slot || s.Disabled || a.changing[haproxy.Ref{Backend: b.Name, Server: s.Name}] {
				continue
			}
			if op := (Op{Kind: OpAdd, Backend: b.Name, Server: s}); a.runtimeCan(op) {
				ops = append(ops, op)
			}
		}
	}
	return ops
}

// readmittable returns, by backend, the servers ahead readmits, as the
// last sync listed them, taken for MAINT once their drain is done (set
// MAINT, or held by a fleet operation: their row is then read first): those
// the agent drained (its own, whatever their state) that m wants again at
// the address and weight they had then, that neither an intent, a fleet
// operation nor the drain package's closing holds.
func (a *Agent) readmittable(ctx context.Context, m *model.Model) map[string][]haproxy.ServerStatus {
	var rows []haproxy.ServerStatus
	for _, b := range m.Backends {
		for _, s := range b.Servers {
			ref := haproxy.Ref{Backend: b.Name, Server: s.Name}
			d, drained := a.drains[ref]
			row, listed := a.listed[b.Name][s.Name]
			if !drained || d.closing || !listed || row.ID <= 0 || s.Slot || s.Disabled ||
				row.Addr != s.Addr() || row.UserWeight != int64(s.Weight) || a.fleetDrives(b.Name, s.Name) {
				continue
			}
			if d.done {
				row.Admin = haproxy.Maint // set by the drain since the listing
			}
			rows = append(rows, row)
		}
	}
	if len(rows) == 0 {
		return nil
	}
	intents, err := a.loadIntents(ctx)
	if err != nil {
		return nil // the sync's plan says why
	}
	out := map[string][]haproxy.ServerStatus{}
	for _, s := range rows {
		if _, held := intents[s.Ref()]; !held {
			out[s.Backend] = append(out[s.Backend], s)
		}
	}
	return out
}

// list records the servers a sync listed in backend.
func (a *Agent) list(backend string, servers []haproxy.ServerStatus) {
	rows := make(map[string]haproxy.ServerStatus, len(servers))
	for _, s := range servers {
		rows[s.Server] = s
	}
	a.listed[backend] = rows
}

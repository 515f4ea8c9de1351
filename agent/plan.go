package agent

import (
	"fmt"
	"strconv"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/model"
)

// OpKind is what an Op does to a server.
type OpKind string

// The operations Plan produces.
const (
	// OpAdd adds a dynamic server, enables its checks and sets it ready.
	OpAdd OpKind = "add"
	// OpSetAddr changes the address and port.
	OpSetAddr OpKind = "set-addr"
	// OpSetWeight changes the weight.
	OpSetWeight OpKind = "set-weight"
	// OpDrain sets the server in DRAIN; the agent then finishes the drain
	// (maint, shutdown sessions and, with Remove, del server).
	OpDrain OpKind = "drain"
	// OpReady sets a server the agent drained back to READY.
	OpReady OpKind = "ready"
	// OpHold sets an operator's intended state (DRAIN or MAINT) again on a
	// server HAProxy reports READY, as after a reload or a restart.
	OpHold OpKind = "hold"
)

// Op is one runtime change to one server.
type Op struct {
	Kind    OpKind
	Backend string
	// Server is the desired server (for OpAdd, OpSetAddr, OpSetWeight), or
	// just its name.
	Server model.Server
	// Remove is set on OpDrain when the server left the desired state, so
	// it is deleted once drained; unset when it is only unhealthy.
	Remove bool
	// Current is the server's administrative state when planned ("" for
	// OpAdd).
	Current haproxy.AdminState
	// State is the state OpHold sets.
	State haproxy.AdminState
}

// String describes o for logs: "add ws/a 10.0.0.1:80", "drain ws/b (remove)".
func (o Op) String() string {
	s := fmt.Sprintf("%s %s/%s", o.Kind, o.Backend, o.Server.Name)
	switch o.Kind {
	case OpAdd, OpSetAddr:
		s += " " + o.Server.Addr()
	case OpSetWeight:
		s += " " + strconv.Itoa(o.Server.Weight)
	case OpDrain:
		if o.Remove {
			s += " (remove)"
		}
	case OpHold:
		s += " " + string(o.State)
	}
	return s
}

// WithIntents adjusts a plan to the operators' intents: a server with one is
// never set ready nor drained by the agent, and one HAProxy reports READY
// (its state was lost to a reload or a restart) gets its intended state
// back. Removal of a server that left discovery still goes ahead.
func WithIntents(ops []Op, running map[string][]haproxy.ServerStatus, intents map[haproxy.Ref]haproxy.AdminState) []Op {
	if len(intents) == 0 {
		return ops
	}
	var out []Op
	for _, op := range ops {
		ref := haproxy.Ref{Backend: op.Backend, Server: op.Server.Name}
		if _, held := intents[ref]; held && (op.Kind == OpReady || op.Kind == OpDrain && !op.Remove) {
			continue
		}
		out = append(out, op)
	}
	for b, servers := range running {
		for _, s := range servers {
			if state, ok := intents[haproxy.Ref{Backend: b, Server: s.Server}]; ok && s.Admin == haproxy.Ready {
				out = append(out, Op{Kind: OpHold, Backend: b, Server: model.Server{Name: s.Server}, Current: s.Admin, State: state})
			}
		}
	}
	return out
}

// Plan compares the servers HAProxy runs (by backend name) with the desired
// model and returns the runtime operations that bring one to the other,
// backend by backend in model order, servers by name. Backends HAProxy does
// not run are skipped: they need a reload. Spare slots are left alone.
//
// drained holds the servers whose DRAIN or MAINT the agent started; any
// other server not READY was put there by an operator and is left in that
// state (address and weight still follow discovery; removal waits for the
// operator). A server in MAINT only because the config said `disabled` is
// the agent's too (see haproxy.AdminFlags.Disabled).
func Plan(running map[string][]haproxy.ServerStatus, desired *model.Model, drained map[haproxy.Ref]bool) []Op {
	var ops []Op
	for _, b := range desired.Backends {
		have, ok := running[b.Name]
		if !ok {
			continue
		}
		byName := make(map[string]haproxy.ServerStatus, len(have))
		for _, s := range have {
			byName[s.Server] = s
		}
		want := make(map[string]bool, len(b.Servers))
		for _, s := range b.Servers {
			want[s.Name] = true
			if s.Slot {
				continue
			}
			cur, ok := byName[s.Name]
			if !ok {
				if !s.Disabled {
					ops = append(ops, Op{Kind: OpAdd, Backend: b.Name, Server: s})
				}
				continue
			}
			ours := agentOwned(cur, drained)
			if cur.Addr != s.Addr() {
				ops = append(ops, Op{Kind: OpSetAddr, Backend: b.Name, Server: s, Current: cur.Admin})
			}
			if cur.UserWeight != int64(s.Weight) {
				ops = append(ops, Op{Kind: OpSetWeight, Backend: b.Name, Server: s, Current: cur.Admin})
			}
			switch {
			case s.Disabled && cur.Admin == haproxy.Ready:
				ops = append(ops, Op{Kind: OpDrain, Backend: b.Name, Server: s, Current: cur.Admin})
			case !s.Disabled && cur.Admin != haproxy.Ready && ours:
				ops = append(ops, Op{Kind: OpReady, Backend: b.Name, Server: s, Current: cur.Admin})
			}
		}
		for _, cur := range have {
			if want[cur.Server] || isSlot(cur.Server) {
				continue
			}
			if cur.Admin == haproxy.Ready || agentOwned(cur, drained) {
				ops = append(ops, Op{Kind: OpDrain, Backend: b.Name, Server: model.Server{Name: cur.Server}, Remove: true, Current: cur.Admin})
			}
		}
	}
	return ops
}

// agentOwned reports whether a server's non-READY state is the agent's
// doing: a drain it started, or the MAINT of the config's `disabled` (the
// agent rendered it; an operator who wants a healthy server kept out says
// so with an intent, which WithIntents honours).
func agentOwned(s haproxy.ServerStatus, drained map[haproxy.Ref]bool) bool {
	if drained[s.Ref()] {
		return true
	}
	return s.Flags.Disabled() || s.Flags&^haproxy.FlagConfigMaint == 0
}

func isSlot(name string) bool {
	return len(name) >= len(model.SlotPrefix) && name[:len(model.SlotPrefix)] == model.SlotPrefix
}

// Availability is what a backend's servers can do for new clients, as one
// sync read them.
type Availability struct {
	// Available servers take new clients (haproxy.ServerStatus.TakesClients).
	Available int
	// Held are the servers an operator keeps out, with an intent or a
	// DRAIN or MAINT the agent did not set: "ws/b MAINT".
	Held []string
}

// Stranded reports whether the operators' holds leave the backend nothing
// to send new clients to: the frontend answers 503 until someone acts.
func (a Availability) Stranded() bool { return a.Available == 0 && len(a.Held) > 0 }

// Availabilities returns the Availability of every backend in running.
// drained and intents are as for Plan and WithIntents.
func Availabilities(running map[string][]haproxy.ServerStatus, drained map[haproxy.Ref]bool, intents map[haproxy.Ref]haproxy.AdminState) map[string]Availability {
	out := make(map[string]Availability, len(running))
	for b, servers := range running {
		var av Availability
		for _, s := range servers {
			_, intended := intents[s.Ref()]
			switch {
			case s.TakesClients():
				av.Available++
			case isSlot(s.Server):
			case intended || s.Admin != haproxy.Ready && !agentOwned(s, drained):
				av.Held = append(av.Held, fmt.Sprintf("%s %s", s.Ref(), s.Admin))
			}
		}
		out[b] = av
	}
	return out
}

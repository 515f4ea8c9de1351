package consul

import (
	"cmp"
	"fmt"
	"log/slog"
	"slices"
	"strconv"

	"github.com/hashicorp/consul/api"

	"github.com/wsctl/wsctl/discovery"
	"github.com/wsctl/wsctl/spec"
)

// WeightMeta is the service meta key that sets an instance's weight
// (1–256). Absent or invalid: the backend's default weight.
const WeightMeta = "wsctl_weight"

// MaxInstances bounds the instances one backend takes from Consul. A
// service with more (a runaway or hostile registration loop) keeps the
// first MaxInstances by server name; the rest are left out and logged.
const MaxInstances = 10_000

// toInstances turns the health endpoint's entries for svc into instances
// sorted by ID, and says how many entries it left out.
//
// Entries are hostile input (any node that may register a service writes
// them): each is checked on its own and one that cannot become a server —
// an address that is not a plain IP (host names, IPv6 zones, anything with
// spaces or newlines), a port outside 1–65535 — is left out with a warning
// on log naming the node, the service ID and the reason; the others go on.
// An invalid weight is ignored with a warning. Tags and meta are not kept:
// nothing downstream needs them.
//
// Health: every instance is kept, whatever its checks say, and Healthy is
// set from the aggregated status of its node and service checks: passing →
// true; warning → true only with svc.AllowWarning; critical or maintenance →
// false. An unhealthy instance thus stays visible and can be drained instead
// of vanishing with its WebSockets.
func toInstances(entries []*api.ServiceEntry, svc spec.ConsulService, log *slog.Logger) (out []discovery.Instance, rejected int) {
	type candidate struct {
		ref  serviceRef
		inst discovery.Instance
	}
	cands := make([]candidate, 0, len(entries))
	for _, e := range entries {
		if e == nil || e.Service == nil {
			continue
		}
		s := e.Service
		node, addr := "", s.Address
		if e.Node != nil {
			node = e.Node.Node
			if addr == "" {
				addr = e.Node.Address
			}
		}
		host, err := discovery.ParseIP(addr)
		if err == nil && (s.Port < 1 || s.Port > 65535) {
			err = fmt.Errorf("port %d is not 1-65535", s.Port)
		}
		if err != nil {
			rejected++
			log.Warn("instance left out", "node", logValue(node), "service_id", logValue(s.ID), "reason", err.Error())
			continue
		}
		cands = append(cands, candidate{
			ref: serviceRef{Node: node, ID: s.ID},
			inst: discovery.Instance{
				Host:    host,
				Port:    uint16(s.Port),
				Weight:  weight(s, log),
				Healthy: healthy(e.Checks, svc.AllowWarning),
			},
		})
	}
	refs := make([]serviceRef, len(cands))
	for i, c := range cands {
		refs[i] = c.ref
	}
	out = make([]discovery.Instance, 0, len(cands))
	for i, name := range assignNames(refs) {
		in := cands[i].inst
		in.ID = name
		if err := in.Validate(); err != nil { // names and weights are built valid; kept as a guard
			rejected++
			log.Warn("instance left out", "node", logValue(cands[i].ref.Node), "service_id", logValue(cands[i].ref.ID), "reason", err.Error())
			continue
		}
		out = append(out, in)
	}
	slices.SortFunc(out, func(a, b discovery.Instance) int { return cmp.Compare(a.ID, b.ID) })
	if len(out) > MaxInstances {
		log.Error("too many instances; the rest are left out", "instances", len(out), "kept", MaxInstances)
		rejected += len(out) - MaxInstances
		out = out[:MaxInstances]
	}
	return out, rejected
}

// logValue cuts a hostile value to a length a log line can carry; slog
// quotes it.
func logValue(s string) string {
	const max = 128
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}

// healthy maps the aggregated status of an instance's checks to Healthy.
func healthy(checks api.HealthChecks, allowWarning bool) bool {
	switch checks.AggregatedStatus() {
	case api.HealthPassing:
		return true
	case api.HealthWarning:
		return allowWarning
	default: // critical, maintenance
		return false
	}
}

// weight reads WeightMeta; 0 means the backend's default. Consul's own
// Weights field is not used: its scale (passing 1, warning 1 by default)
// has nothing to do with HAProxy's.
func weight(s *api.AgentService, log *slog.Logger) int {
	v, ok := s.Meta[WeightMeta]
	if !ok {
		return 0
	}
	w, err := strconv.Atoi(v)
	if err != nil || w < 1 || w > 256 {
		log.Warn("invalid weight ignored, using the backend's default", "service_id", logValue(s.ID),
			"meta", WeightMeta, "value", logValue(v), "want", "1 to 256")
		return 0
	}
	return w
}

// equalInstances reports whether two sorted instance lists are the same.
func equalInstances(a, b []discovery.Instance) bool {
	return slices.Equal(a, b)
}

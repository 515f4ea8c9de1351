package consul

import (
	"cmp"
	"log/slog"
	"maps"
	"slices"
	"strconv"

	"github.com/hashicorp/consul/api"

	"github.com/wsctl/wsctl/discovery"
	"github.com/wsctl/wsctl/spec"
)

// WeightMeta is the service meta key that sets an instance's weight
// (1–256). Absent or invalid: the backend's default weight.
const WeightMeta = "wsctl_weight"

// toInstances turns the health endpoint's entries for svc into instances
// sorted by ID. Entries that cannot become a server (no address, no port)
// are left out with a warning on log (which names the backend); an invalid
// weight is ignored with a warning.
//
// Health: every instance is kept, whatever its checks say, and Healthy is
// set from the aggregated status of its node and service checks: passing →
// true; warning → true only with svc.AllowWarning; critical or maintenance →
// false. An unhealthy instance thus stays visible and can be drained instead
// of vanishing with its WebSockets.
func toInstances(entries []*api.ServiceEntry, svc spec.ConsulService, log *slog.Logger) []discovery.Instance {
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
		if addr == "" || s.Port < 1 || s.Port > 65535 {
			log.Warn("instance left out: no address or port", "node", node, "service_id", s.ID, "address", addr, "port", s.Port)
			continue
		}
		cands = append(cands, candidate{
			ref: serviceRef{Node: node, ID: s.ID},
			inst: discovery.Instance{
				Address: addr,
				Port:    s.Port,
				Weight:  weight(s, log),
				Healthy: healthy(e.Checks, svc.AllowWarning),
				Tags:    cloneTags(s.Tags),
				Meta:    cloneMeta(s.Meta),
			},
		})
	}
	refs := make([]serviceRef, len(cands))
	for i, c := range cands {
		refs[i] = c.ref
	}
	out := make([]discovery.Instance, len(cands))
	for i, name := range assignNames(refs) {
		out[i] = cands[i].inst
		out[i].ID = name
	}
	slices.SortFunc(out, func(a, b discovery.Instance) int { return cmp.Compare(a.ID, b.ID) })
	return out
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
		log.Warn("invalid weight ignored, using the backend's default", "service_id", s.ID,
			"meta", WeightMeta, "value", v, "want", "1 to 256")
		return 0
	}
	return w
}

// cloneTags copies tags so snapshots share nothing with the API client;
// empty becomes nil so an absent list and an empty one compare equal.
func cloneTags(tags []string) []string {
	if len(tags) == 0 {
		return nil
	}
	return slices.Clone(tags)
}

func cloneMeta(meta map[string]string) map[string]string {
	if len(meta) == 0 {
		return nil
	}
	return maps.Clone(meta)
}

// equalInstances reports whether two sorted instance lists are the same.
func equalInstances(a, b []discovery.Instance) bool {
	return slices.EqualFunc(a, b, func(x, y discovery.Instance) bool {
		return x.ID == y.ID && x.Address == y.Address && x.Port == y.Port && x.Weight == y.Weight &&
			x.Healthy == y.Healthy && slices.Equal(x.Tags, y.Tags) && maps.Equal(x.Meta, y.Meta)
	})
}

package consul

import (
	"slices"
	"strings"

	"github.com/hashicorp/consul/api"

	"github.com/wsctl/wsctl/spec"
)

// healthEntry is the part of an entry of Consul's /v1/health/service
// answer that toInstances reads. The answer is decoded into these rather
// than into api.ServiceEntry: with 1,000 instances it is over a megabyte
// of JSON, decoded in the path of every registration, and the node's and
// service's tagged addresses, proxy, connect and weights, and every
// check's output and definition, are most of what api.ServiceEntry would
// allocate.
type healthEntry struct {
	// Node is a value: an entry without one reads as a node without a
	// name or address, which toInstances treats alike.
	Node struct {
		Node, Address string
	}
	Service *struct {
		Kind        api.ServiceKind
		ID, Address string
		Port        int
		Tags        []string
		Meta        map[string]string
		CreateIndex uint64
	}
	Checks []struct {
		CheckID, Status string
	}
}

// healthService returns every instance of svc's service (passing or not),
// as Health().ServiceMultipleTags(svc.Service, svc.Tags, false, q) does
// but with only the fields toInstances reads (see healthEntry). The tags
// are matched here, as Consul matches them (every tag, case-insensitively),
// since the API client's raw query takes no tag parameter.
func healthService(client *api.Client, svc spec.ConsulService, q *api.QueryOptions) ([]*api.ServiceEntry, *api.QueryMeta, error) {
	var raw []healthEntry
	meta, err := client.Raw().Query("/v1/health/service/"+svc.Service, &raw, q)
	if err != nil {
		return nil, nil, err
	}
	out := make([]*api.ServiceEntry, 0, len(raw))
	for _, e := range raw {
		if e.Service == nil || !hasTags(e.Service.Tags, svc.Tags) {
			continue
		}
		s := e.Service
		entry := &api.ServiceEntry{
			Service: &api.AgentService{
				Kind: s.Kind, ID: s.ID, Service: svc.Service, Address: s.Address, Port: s.Port,
				Tags: s.Tags, Meta: s.Meta, CreateIndex: s.CreateIndex,
			},
			Node:   &api.Node{Node: e.Node.Node, Address: e.Node.Address},
			Checks: make(api.HealthChecks, len(e.Checks)),
		}
		for i, c := range e.Checks {
			entry.Checks[i] = &api.HealthCheck{CheckID: c.CheckID, Status: c.Status}
		}
		out = append(out, entry)
	}
	return out, meta, nil
}

// hasTags reports whether have holds every tag of want, compared in lower
// case (Consul's serviceTagsFilter).
func hasTags(have, want []string) bool {
	for _, w := range want {
		if !slices.ContainsFunc(have, func(h string) bool { return strings.ToLower(h) == strings.ToLower(w) }) {
			return false
		}
	}
	return true
}

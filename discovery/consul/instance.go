package consul

import (
	"cmp"
	"fmt"
	"log/slog"
	"regexp"
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
// MaxInstances oldest (by CreateIndex), so a flood of new registrations
// cannot push out the instances that were there; the rest are left out and
// logged.
const MaxInstances = 10_000

// toInstances turns the health endpoint's entries for svc into instances
// sorted by ID, and says how many entries it left out.
//
// Entries are hostile input (any node that may register a service writes
// them): each is checked on its own (see check) and one that cannot become
// a server is left out with a warning on log naming the node, the service
// ID and the reason; the others go on. An invalid weight is ignored with a
// warning. Tags and meta are not kept: nothing downstream needs them.
// Server names come from assignNames: a registration that copies an older
// instance's service ID gets a suffixed name, with a warning.
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
	leaveOut := func(ref serviceRef, reason string) {
		rejected++
		log.Warn("instance left out", "node", logValue(ref.Node), "service_id", logValue(ref.ID), "reason", reason)
	}
	cands := make([]candidate, 0, len(entries))
	for _, e := range entries {
		if e == nil || e.Service == nil {
			continue
		}
		s := e.Service
		ref := serviceRef{ID: s.ID, Created: s.CreateIndex}
		addr := s.Address
		if e.Node != nil {
			ref.Node = e.Node.Node
			if addr == "" {
				addr = e.Node.Address
			}
		}
		host, err := check(s, addr)
		if err != nil {
			leaveOut(ref, err.Error())
			continue
		}
		cands = append(cands, candidate{
			ref: ref,
			inst: discovery.Instance{
				Host:    host,
				Port:    uint16(s.Port),
				Weight:  weight(s, log),
				Healthy: healthy(e.Checks, svc.AllowWarning),
			},
		})
	}
	if len(cands) > MaxInstances {
		log.Error("too many instances; the newest are left out", "instances", len(cands), "kept", MaxInstances)
		slices.SortFunc(cands, func(a, b candidate) int { return compareAge(a.ref, b.ref) })
		rejected += len(cands) - MaxInstances
		cands = cands[:MaxInstances]
	}
	refs := make([]serviceRef, len(cands))
	for i, c := range cands {
		refs[i] = c.ref
	}
	out = make([]discovery.Instance, 0, len(cands))
	for i, name := range assignNames(refs) {
		in, ref := cands[i].inst, cands[i].ref
		in.ID = name
		if err := in.Validate(); err != nil { // names and weights are built valid; kept as a guard
			leaveOut(ref, err.Error())
			continue
		}
		if own, _ := ServerName(ref.ID); own != name {
			log.Warn("service id held by an older instance; this one gets another name", "node", logValue(ref.Node),
				"service_id", logValue(ref.ID), "name", name, "wanted", own)
		}
		out = append(out, in)
	}
	slices.SortFunc(out, func(a, b discovery.Instance) int { return cmp.Compare(a.ID, b.ID) })
	return out, rejected
}

// check returns the address of service s (addr: its own, else its node's)
// when s can become a server, or the reason it cannot: a kind other than a
// typical service (a Connect sidecar or gateway registered under the
// service's name would receive its clients); a service ID ServerName
// refuses; an address that is not a plain IP (host names, IPv6 zones,
// anything with spaces or newlines), that no connection goes to (see
// discovery.ParseIP) or that is link-local (169.254.0.0/16 holds the cloud
// metadata service; fe80::/10 needs a zone, which is refused); a port
// outside 1–65535. Loopback stays accepted: single-host setups use it.
func check(s *api.AgentService, addr string) (discovery.Host, error) {
	if s.Kind != api.ServiceKindTypical {
		return discovery.Host{}, fmt.Errorf("kind %s: only typical services are servers, not proxies or gateways", logValue(string(s.Kind)))
	}
	if _, err := ServerName(s.ID); err != nil {
		return discovery.Host{}, err
	}
	host, err := discovery.ParseIP(addr)
	if err != nil {
		return discovery.Host{}, err
	}
	if ip, _ := host.IP(); ip.IsLinkLocalUnicast() {
		return discovery.Host{}, fmt.Errorf("%w: %s is link-local", discovery.ErrInvalidHost, ip)
	}
	if s.Port < 1 || s.Port > 65535 {
		return discovery.Host{}, fmt.Errorf("port %d is not 1-65535", s.Port)
	}
	return host, nil
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

// weightPattern is a weight in plain decimal: strconv also takes a sign
// ("+50") and leading zeros, which a registration has no reason to write.
var weightPattern = regexp.MustCompile(`^[1-9][0-9]{0,2}$`)

// weight reads WeightMeta; 0 means the backend's default. Consul's own
// Weights field is not used: its scale (passing 1, warning 1 by default)
// has nothing to do with HAProxy's.
func weight(s *api.AgentService, log *slog.Logger) int {
	v, ok := s.Meta[WeightMeta]
	if !ok {
		return 0
	}
	w, err := strconv.Atoi(v)
	if !weightPattern.MatchString(v) || err != nil || w > discovery.MaxWeight {
		log.Warn("invalid weight ignored, using the backend's default", "service_id", logValue(s.ID),
			"meta", WeightMeta, "value", logValue(v), "want", "1 to 256 in plain decimal digits")
		return 0
	}
	return w
}

// equalInstances reports whether two sorted instance lists are the same.
func equalInstances(a, b []discovery.Instance) bool {
	return slices.Equal(a, b)
}

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
	cands := make([]candidate, len(entries))
	for i, e := range entries {
		cands[i] = newCandidate(e, svc.AllowWarning)
	}
	return nameCandidates(cands, log)
}

// candidate is what toInstances makes of one entry on its own, before the
// entries are named together: all of it depends on the entry alone, so a
// watch keeps it for every entry of an answer that the next answer repeats
// byte for byte (see answer).
type candidate struct {
	skip bool // not an instance: no service, or not every watched tag
	ref  serviceRef
	// leftOut is why the entry cannot become a server; "" when it can.
	leftOut string
	// own is ServerName(ref.ID), the name the instance takes unless an
	// older one holds it.
	own string
	// inst is the instance, named own; invalid is why inst.Validate
	// refused it ("" when it did not): names and weights are built valid,
	// it is kept as a guard.
	inst    discovery.Instance
	invalid string
	// weightIgnored says that the WeightMeta value badWeight was invalid
	// and the backend's default weight is used.
	weightIgnored bool
	badWeight     string
}

// newCandidate checks entry e (nil or without a service: skipped) and
// makes its instance; allowWarning counts a warning check as healthy.
func newCandidate(e *api.ServiceEntry, allowWarning bool) candidate {
	if e == nil || e.Service == nil {
		return candidate{skip: true}
	}
	s := e.Service
	c := candidate{ref: serviceRef{ID: s.ID, Created: s.CreateIndex}}
	addr := s.Address
	if e.Node != nil {
		c.ref.Node = e.Node.Node
		if addr == "" {
			addr = e.Node.Address
		}
	}
	host, err := check(s, addr)
	if err != nil {
		c.leftOut = err.Error()
		return c
	}
	c.own, _ = ServerName(s.ID) // check accepted the ID
	w, ok := weight(s)
	if !ok {
		c.weightIgnored, c.badWeight = true, s.Meta[WeightMeta]
	}
	c.inst = discovery.Instance{ID: c.own, Host: host, Port: uint16(s.Port), Weight: w, Healthy: healthy(e.Checks, allowWarning)}
	if err := c.inst.Validate(); err != nil {
		c.invalid = err.Error()
	}
	return c
}

// nameCandidates is toInstances after each entry was made a candidate:
// the warnings, MaxInstances, names and order. It runs on every answer
// over every entry, so it does per entry no more than a comparison when
// the entry's own name is free; cands is not modified.
func nameCandidates(cands []candidate, log *slog.Logger) (out []discovery.Instance, rejected int) {
	leaveOut := func(ref serviceRef, reason string) {
		rejected++
		log.Warn("instance left out", "node", logValue(ref.Node), "service_id", logValue(ref.ID), "reason", reason)
	}
	kept := make([]*candidate, 0, len(cands))
	for i := range cands {
		c := &cands[i]
		switch {
		case c.skip:
			continue
		case c.leftOut != "":
			leaveOut(c.ref, c.leftOut)
			continue
		}
		if c.weightIgnored {
			log.Warn("invalid weight ignored, using the backend's default", "service_id", logValue(c.ref.ID),
				"meta", WeightMeta, "value", logValue(c.badWeight), "want", "1 to 256 in plain decimal digits")
		}
		kept = append(kept, c)
	}
	if len(kept) > MaxInstances {
		log.Error("too many instances; the newest are left out", "instances", len(kept), "kept", MaxInstances)
		slices.SortFunc(kept, func(a, b *candidate) int { return compareAge(a.ref, b.ref) })
		rejected += len(kept) - MaxInstances
		kept = kept[:MaxInstances]
	}
	refs := make([]serviceRef, len(kept))
	own := make([]string, len(kept))
	for i, c := range kept {
		refs[i], own[i] = c.ref, c.own
	}
	out = make([]discovery.Instance, 0, len(kept))
	for i, name := range assignNames(refs, own) {
		c := kept[i]
		in, invalid := c.inst, c.invalid
		if name != c.own {
			in.ID, invalid = name, ""
			if err := in.Validate(); err != nil {
				invalid = err.Error()
			}
		}
		if invalid != "" {
			leaveOut(c.ref, invalid)
			continue
		}
		if name != c.own {
			log.Warn("service id held by an older instance; this one gets another name", "node", logValue(c.ref.Node),
				"service_id", logValue(c.ref.ID), "name", name, "wanted", c.own)
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

// weight reads WeightMeta; 0 means the backend's default. ok is false
// when the value is there but invalid (ignored: 0). Consul's own Weights
// field is not used: its scale (passing 1, warning 1 by default) has
// nothing to do with HAProxy's.
func weight(s *api.AgentService) (w int, ok bool) {
	v, ok := s.Meta[WeightMeta]
	if !ok {
		return 0, true
	}
	w, err := strconv.Atoi(v)
	if !weightPattern.MatchString(v) || err != nil || w > discovery.MaxWeight {
		return 0, false
	}
	return w, true
}

// equalInstances reports whether two sorted instance lists are the same.
func equalInstances(a, b []discovery.Instance) bool {
	return slices.Equal(a, b)
}

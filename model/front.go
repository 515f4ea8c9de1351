package model

import (
	"fmt"
	"net"
	"sort"
	"strconv"

	"github.com/wsctl/wsctl/discovery"
	"github.com/wsctl/wsctl/spec"
)

// The X-Forwarded-For values nginx sends: a single layer appends the client
// to what it was given; the front layer is the edge, where whatever a client
// claims is dropped and its own address is the whole header.
const (
	forwardedAppend = "$proxy_add_x_forwarded_for"
	forwardedEdge   = "$remote_addr"
)

// frontUpstreamPrefix starts the name of the upstream that is an HAProxy
// listener, so it can't be mistaken for a backend of the spec.
const frontUpstreamPrefix = "haproxy_"

// frontLayer fills m with nginx as the front layer of s: one server block
// per front listener, proxying everything to the upstream that is its
// HAProxy listener. Routing, stickiness and drains stay HAProxy's, so nginx
// has no backends of its own.
func frontLayer(s *spec.Spec, m *Model) error {
	// HAProxy closes an idle WebSocket at its tunnel timeout and then
	// waits up to client_fin for the half-close: nginx outlives both, so
	// HAProxy's timeout is the one that governs.
	m.Nginx.ProxyTimeout = Duration(s.Timeouts.Tunnel.D() + s.Timeouts.ClientFin.D())
	m.Nginx.TunnelBehind = m.Timeouts.Tunnel
	// HAProxy closes an idle keep-alive connection after timeout
	// http-request (it has no http-keep-alive of its own): nginx must drop
	// it first, or it sends a request on a connection HAProxy is closing.
	m.Nginx.UpstreamKeepaliveTimeout = Duration(s.Timeouts.HTTPRequest.D() / 2)
	upstreams := map[string]bool{}
	for _, fl := range s.Front.Listeners {
		l := s.Listener(fl.To)
		name := frontUpstreamPrefix + l.Name
		tls := modelTLS(fl.TLS)
		f := Frontend{Name: fl.Name, Binds: []Bind{{Addr: everyAddress(fl.Bind), TLS: tls}}, NginxCert: tls, Proto: "http", ForwardedFor: forwardedEdge,
			Locations: []Location{{Path: "/", Upgrade: name, Plain: name}}}
		if tls != nil {
			f.Proto = "https"
		}
		m.Frontends = append(m.Frontends, f)
		if upstreams[name] {
			continue
		}
		upstreams[name] = true
		b, err := listenerUpstream(s, name, l)
		if err != nil {
			return err
		}
		m.Backends = append(m.Backends, b)
	}
	sort.Slice(m.Frontends, func(i, j int) bool { return m.Frontends[i].Name < m.Frontends[j].Name })
	sort.Slice(m.Backends, func(i, j int) bool { return m.Backends[i].Name < m.Backends[j].Name })
	return nil
}

// listenerUpstream is the nginx upstream of one HAProxy listener: a single
// server, where nginx ignores max_fails (there is nowhere else to go).
func listenerUpstream(s *spec.Spec, name string, l *spec.Listener) (Backend, error) {
	host, port := spec.UpstreamHost(*l)
	h, err := discovery.ParseIP(host)
	p, perr := strconv.ParseUint(port, 10, 16)
	if err != nil || perr != nil {
		return Backend{}, fmt.Errorf("model: front: listener %s: bind %q: not an address nginx can reach", l.Name, net.JoinHostPort(host, port))
	}
	return Backend{
		Name:    name,
		Health:  Health{Fall: 1, FailTimeout: Duration(s.Timeouts.Connect.D())},
		Servers: []Server{{Name: l.Name, Host: h, Port: uint16(p), Weight: spec.DefaultWeight}},
	}, nil
}

// trustedFront returns the networks HAProxy takes forwarded headers from,
// masked (nil without a front layer).
func trustedFront(s *spec.Spec) []string {
	if s.Front == nil {
		return nil
	}
	var out []string
	for _, a := range s.Front.From {
		p, _ := spec.ParseAllow(a) // validated by spec
		out = append(out, p.String())
	}
	return out
}

// frontedOverTLS reports whether every front listener forwarding to
// listener terminates TLS, and at least one does: clients then reach the
// listener over TLS even though HAProxy's bind is plain.
func frontedOverTLS(s *spec.Spec, listener string) bool {
	if s.Front == nil {
		return false
	}
	used := false
	for _, fl := range s.Front.Listeners {
		if fl.To == listener {
			if fl.TLS == nil {
				return false
			}
			used = true
		}
	}
	return used
}

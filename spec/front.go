package spec

import (
	"fmt"
	"net"
	"net/netip"
)

// Front is a second proxy layer in front of HAProxy: nginx terminates TLS
// and forwards every request, WebSocket upgrades included, over HTTP/1.1
// with upstream keepalive to an HAProxy listener, which keeps the sticky
// routing and the drains. With Front set, `--target nginx` renders this
// layer and `--target haproxy` the balancing layer behind it.
type Front struct {
	// Listeners are nginx's server blocks.
	Listeners []FrontListener `yaml:"listeners"`
	// From are the networks (CIDRs or addresses) the front layer connects
	// to HAProxy from: only their X-Forwarded-For, X-Forwarded-Proto and
	// X-Real-IP reach the backends; anyone else's are replaced. Default:
	// 127.0.0.1, allowed only when every listener the front forwards to
	// binds a loopback address (both layers on one host).
	From []string `yaml:"from"`
	// Stats is nginx's stub_status for this layer (nil: off); the
	// top-level stats is then HAProxy's alone, so both layers can run on
	// one host.
	Stats *Stats `yaml:"stats"`
}

// FrontListener is where clients connect to the front layer.
type FrontListener struct {
	Name string `yaml:"name"`
	// Bind is "address:port" as for a listener.
	Bind string `yaml:"bind"`
	// TLS terminates TLS here (nil: plain HTTP).
	TLS *TLS `yaml:"tls"`
	// To is the name of the HAProxy listener every request goes to (default:
	// the only listener). It must not terminate TLS: the layers speak plain
	// HTTP/1.1. A bind on every address is reached at 127.0.0.1.
	To string `yaml:"to"`
}

// defaultFrontFrom is where the front layer connects from when both layers
// share a host.
const defaultFrontFrom = "127.0.0.1"

// defaults fills the front's unset fields.
func (f *Front) defaults(listeners []Listener) {
	for i := range f.Listeners {
		f.Listeners[i].TLS.defaults()
		if f.Listeners[i].To == "" && len(listeners) == 1 {
			f.Listeners[i].To = listeners[0].Name
		}
	}
	if len(f.From) == 0 && f.loopbackOnly(listeners) {
		f.From = []string{defaultFrontFrom}
	}
}

// loopbackOnly reports whether every listener the front forwards to binds a
// loopback address, so nginx reaches it from 127.0.0.1.
func (f *Front) loopbackOnly(listeners []Listener) bool {
	for _, fl := range f.Listeners {
		l := findListener(listeners, fl.To)
		if l == nil {
			continue // reported as an unknown listener
		}
		host, _, err := net.SplitHostPort(l.AllBinds()[0].Address)
		a, perr := netip.ParseAddr(host)
		if err != nil || perr != nil || !a.IsLoopback() {
			return false
		}
	}
	return true
}

func findListener(ls []Listener, name string) *Listener {
	for i := range ls {
		if ls[i].Name == name {
			return &ls[i]
		}
	}
	return nil
}

// Listener returns the listener named name, or nil.
func (s *Spec) Listener(name string) *Listener { return findListener(s.Listeners, name) }

// UpstreamHost is where the front layer reaches listener l: its (first)
// bind address, or 127.0.0.1 for a bind on every address.
func UpstreamHost(l Listener) (host, port string) {
	host, port, _ = net.SplitHostPort(l.AllBinds()[0].Address) // validated
	if host == "" || host == "*" || host == "0.0.0.0" || host == "::" {
		host = defaultFrontFrom
	}
	return host, port
}

// front validates the front section: named listeners with binds of their
// own, each forwarding to a plain-HTTP listener, and the networks trusted
// for the forwarded headers.
func (v *validator) front() {
	f := v.s.Front
	if f == nil {
		return
	}
	if len(f.Listeners) == 0 {
		v.add("front.listeners", "at least one listener is required")
	}
	names := map[string]bool{}
	for i, fl := range f.Listeners {
		p := fmt.Sprintf("front.listeners[%d]", i)
		if v.match(p+".name", fl.Name, proxyName, "listener name (letters, digits, '_', '.', '-'; starting with a letter)") && names[fl.Name] {
			v.add(p+".name", "duplicate front listener name %q", fl.Name)
		}
		names[fl.Name] = true
		v.bind(p+".bind", fl.Bind)
		v.listenerOverlaps(p+".bind", fl.Bind, "both layers may run on one host")
		for j, other := range f.Listeners[:i] {
			if bindsOverlap(fl.Bind, other.Bind) {
				v.add(p+".bind", "%q overlaps front.listeners[%d].bind %q", fl.Bind, j, other.Bind)
			}
		}
		if v.s.Stats != nil && bindsOverlap(fl.Bind, v.s.Stats.Bind) {
			v.add(p+".bind", "%q overlaps stats.bind %q", fl.Bind, v.s.Stats.Bind)
		}
		if fl.TLS != nil {
			v.tls(p+".tls", fl.TLS)
		}
		switch l := findListener(v.s.Listeners, fl.To); {
		case fl.To == "":
			v.add(p+".to", "is required when there are several listeners: name the HAProxy listener this one forwards to")
		case l == nil:
			v.add(p+".to", "unknown listener %q", fl.To)
		case l.TLSBinds() > 0:
			v.add(p+".to", "listener %q terminates TLS: the front layer forwards plain HTTP/1.1 to HAProxy; remove its tls", fl.To)
		}
	}
	if st := f.Stats; st != nil {
		v.statsSection("front.stats", st)
		if st.Auth != "" {
			v.add("front.stats.auth", "nginx's auth_basic wants hashed passwords, not a user:password file; limit /stub_status with allow instead")
		}
		if v.s.Stats != nil && bindsOverlap(st.Bind, v.s.Stats.Bind) {
			v.add("front.stats.bind", "%q overlaps stats.bind %q: each layer needs a port of its own", st.Bind, v.s.Stats.Bind)
		}
		for i, fl := range f.Listeners {
			if bindsOverlap(st.Bind, fl.Bind) {
				v.add("front.stats.bind", "%q overlaps front.listeners[%d].bind %q", st.Bind, i, fl.Bind)
			}
		}
	}
	if len(f.From) == 0 {
		v.add("front.from", "is required unless every listener the front forwards to binds a loopback address: give the addresses nginx connects to HAProxy from")
	}
	for i, a := range f.From {
		if _, err := ParseAllow(a); err != nil {
			v.add(fmt.Sprintf("front.from[%d]", i), "%q is not a network (CIDR such as 10.0.0.0/8) or an IP address", a)
		}
	}
}

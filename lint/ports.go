package lint

import (
	"fmt"
	"slices"
	"strings"
)

// ephemeralPorts is how many connections one source address holds to one
// server address (IP and port) on Linux: each takes a local port of its
// own from net.ipv4.ip_local_port_range, 32768–60999 by default. The proxy's
// host may be tuned otherwise; lint cannot see it, and names the figure.
const ephemeralPorts = 60999 - 32768 + 1

// serverAddrs counts the server addresses a backend sends new WebSockets to
// and how much is unknown about them.
type serverAddrs struct {
	addrs   []string // distinct, of the servers that take new WebSockets
	sockets bool     // some server is a unix socket: no port is taken
	dynamic bool     // servers are added at runtime (slots, server-template)
}

func (s *serverAddrs) add(addr string) {
	if !slices.Contains(s.addrs, addr) {
		s.addrs = append(s.addrs, addr)
	}
}

// portsFinding says, for what (a backend, an upstream) whose connections
// to its servers all leave from one source address (from names it), what
// the connections wanted cost in local ports, when more than
// ephemeralPorts would go to one server address. Spread evenly, each of n
// addresses takes connections/n. A backend with no address in the config
// (its servers discovered at runtime, or every one disabled) is judged by
// how many addresses the connections need: it is fine only with that many.
func portsFinding(what string, s serverAddrs, from string, connections int) (string, bool) {
	const limit = "Linux gives one source address %s connections to one server address (its default ephemeral port range, 32768-60999, one port each): beyond that connect() fails (EADDRNOTAVAIL) and new WebSockets are refused, and the kernel's search for a free port slows every connect() well before"
	n := len(s.addrs)
	if n == 0 && s.sockets {
		return "", false // unix sockets take no port
	}
	each := (connections + max(n, 1) - 1) / max(n, 1)
	if each <= ephemeralPorts {
		return "", false
	}
	why := fmt.Sprintf(limit, fmtInt(ephemeralPorts))
	if n == 0 {
		need := (connections + ephemeralPorts - 1) / ephemeralPorts
		return fmt.Sprintf("%s has no server address in this config that takes new WebSockets (its servers are discovered at runtime, or every one is disabled or backup), and its connections to them leave from %s: %s WebSockets (--connections) need at least %d server addresses, as %s",
			what, from, fmtInt(connections), need, why), true
	}
	more := ""
	if s.dynamic {
		more = " in this config (more may be added at runtime)"
	}
	spread := fmt.Sprintf("go to its one server address%s", more)
	if n > 1 {
		spread = fmt.Sprintf("spread over its %d server addresses%s are about %s to each", n, more, fmtInt(each))
	}
	return fmt.Sprintf("%s: %s WebSockets (--connections) %s, all from %s; %s",
		what, fmtInt(connections), spread, from, why), true
}

// portsFix is the fix of the ephemeral-ports rules; several is how one
// proxy process uses several source addresses.
func portsFix(several string) string {
	return "spread the WebSockets over more server addresses (more servers, or a second port per server), or over several load balancers, each with a source address of its own (wsctl: source_address on each host); " +
		several + "; or widen net.ipv4.ip_local_port_range on the load balancer (at most 1024-65535, about 64,000 ports)"
}

// lintSourcePorts checks that the source address of be carries the
// WebSockets wanted to each of its servers. A source with usesrc (the
// client's address, transparent) or a port range of its own is not judged,
// and a server line's own source counts as another address.
func (m *hModel) lintSourcePorts(be *hSection) {
	from := "the one source address the kernel picks by route (no source)"
	if l, _, ok := be.lookup("source"); ok {
		if slices.Contains(l.args, "usesrc") || strings.Contains(arg(l.args, 1), "-") {
			return
		}
		from = fmt.Sprintf("source %s (line %d)", arg(l.args, 1), l.line)
	}
	var s serverAddrs
	for _, l := range be.lines {
		switch {
		case l.args[0] == "server-template":
			s.dynamic = true
		case l.args[0] != "server" || len(l.args) < 3:
		case strings.HasPrefix(l.args[2], "/") || strings.Contains(l.args[2], "@") && !strings.HasPrefix(l.args[2], "ipv"):
			s.sockets = true
		case slices.Contains(l.args[3:], "disabled") || slices.Contains(l.args[3:], "backup"):
			// wsctl's spare slots are disabled servers filled at runtime.
			s.dynamic = s.dynamic || strings.HasPrefix(l.args[1], "_slot")
		default:
			addr := l.args[2]
			if i := slices.Index(l.args, "source"); i > 2 {
				addr += " from " + arg(l.args, i+1)
			}
			s.add(addr)
		}
	}
	if msg, ok := portsFinding(be.label(), s, from, m.opt.Connections); ok {
		m.out.addAssuming("haproxy/ephemeral-ports", m.at(be.line), msg,
			portsFix("within one HAProxy, a second server line per extra local address (server s1-b ADDR source 10.0.0.6)"),
			m.opt.assumedConnections)
	}
}

// sourceBind returns the one proxy_bind address of the config ("" with
// none: the kernel's choice) and where it is first set. It is false when
// the config uses several (a variable, transparent, different addresses):
// lint cannot tell which connections share one.
func (m *nModel) sourceBind() (string, pos, bool) {
	var binds []*nDirective
	var walk func(ds []*nDirective)
	walk = func(ds []*nDirective) {
		for _, d := range ds {
			if d.name == "proxy_bind" {
				binds = append(binds, d)
			}
			walk(d.block)
		}
	}
	walk(m.cfg.root)
	addr, at := "", pos{}
	for _, d := range binds {
		a := strings.Join(d.args, " ")
		switch {
		case strings.Contains(a, "$") || strings.Contains(a, " ") || addr != "" && a != "off" && a != addr:
			return "", pos{}, false
		case a != "off" && addr == "":
			addr, at = a, d.at
		}
	}
	return addr, at, true
}

// lintSourcePorts checks that one source address carries the WebSockets
// wanted to each server of upstream u.
func (m *nModel) lintSourcePorts(u *nDirective) {
	bind, at, judged := m.sourceBind()
	if !judged {
		return
	}
	from := "the one source address the kernel picks by route (no proxy_bind)"
	if bind != "" {
		from = fmt.Sprintf("proxy_bind %s (%s)", bind, at.from(u.at))
	}
	var s serverAddrs
	for _, d := range u.block {
		switch {
		case d.name != "server" || len(d.args) == 0:
		case strings.HasPrefix(d.args[0], "unix:"):
			s.sockets = true
		case slices.Contains(d.args, "down") || slices.Contains(d.args, "backup"):
		default:
			s.dynamic = s.dynamic || slices.Contains(d.args, "resolve")
			s.add(d.args[0])
		}
	}
	if msg, ok := portsFinding("upstream "+arg(u.args, 0), s, from, m.opt.Connections); ok {
		m.out.addAssuming("nginx/ephemeral-ports", u.at, msg,
			portsFix("within one nginx, split_clients over several local addresses and proxy_bind $that_variable"),
			m.opt.assumedConnections)
	}
}

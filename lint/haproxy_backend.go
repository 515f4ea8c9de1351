package lint

import (
	"fmt"
	"slices"
	"strings"
)

// hashAlgos are the balance algorithms that hash a request property.
var hashAlgos = []string{"source", "uri", "url_param", "hdr", "rdp-cookie", "hash"}

// lintBalance checks how new WebSockets are spread over the servers of be.
func (m *hModel) lintBalance(be *hSection) {
	algo, at := "roundrobin", m.at(be.line)
	if l, sec, ok := be.lookup("balance"); ok {
		algo = arg(l.args, 1)
		if sec == be {
			at = m.at(l.line)
		}
	}
	base, _, _ := strings.Cut(algo, "(")
	switch {
	case algo == "roundrobin" || algo == "static-rr":
		if _, sticky := be.persistence(); !sticky {
			m.out.add("haproxy/balance", at,
				fmt.Sprintf("%s balances WebSockets %s without stickiness: a reconnecting client lands on any server, and each server gets the same share of arrivals however many long-lived WebSockets it already holds", be.label(), algo),
				"balance leastconn, and cookie SERVERID insert indirect nocache (or stick on) when clients must come back to the same server")
		}
	case slices.Contains(hashAlgos, base):
		if l, _, ok := be.lookup("hash-type"); !ok || arg(l.args, 1) != "consistent" {
			m.out.add("haproxy/hash-type", at,
				fmt.Sprintf("balance %s without hash-type consistent: adding or removing one server moves most clients to another server, and they all reconnect", algo),
				"hash-type consistent")
		}
	}
}

// persistence returns the line that sends a returning client back to its
// server (a cookie or a stick rule), if any.
func (s *hSection) persistence() (hLine, bool) {
	if l, _, ok := s.lookup("cookie"); ok && s.mode() == "http" {
		return l, true
	}
	if ls := s.all("stick"); len(ls) > 0 {
		return ls[0], true
	}
	return hLine{}, false
}

// lintPersistence checks the sticky cookie and what happens when the server
// a client sticks to is down or in maintenance.
func (m *hModel) lintPersistence(be *hSection) {
	if l, _, ok := be.lookup("cookie"); ok && be.mode() != "http" {
		m.out.add("haproxy/cookie-tcp-mode", m.at(l.line),
			fmt.Sprintf("%s runs in mode tcp (the default when no mode is set), where HAProxy ignores the cookie: there is no stickiness", be.label()),
			"mode http in the frontend and backend (or the defaults section), with timeout tunnel for the upgraded WebSockets")
	} else if ok {
		flags := l.args[min(2, len(l.args)):]
		if slices.Contains(flags, "insert") {
			var missing []string
			for _, f := range []string{"indirect", "nocache"} {
				if !slices.Contains(flags, f) {
					missing = append(missing, f)
				}
			}
			if len(missing) > 0 {
				m.out.add("haproxy/cookie-flags", m.at(l.line),
					fmt.Sprintf("the sticky cookie has no %s: %s", strings.Join(missing, " or "), cookieRisk(missing)),
					fmt.Sprintf("cookie %s insert indirect nocache httponly (add secure behind TLS)", arg(l.args, 1)))
			}
		}
		if slices.Contains(flags, "dynamic") {
			if _, _, ok := be.lookup("dynamic-cookie-key"); !ok {
				m.out.add("haproxy/dynamic-cookie-key", m.at(l.line),
					"cookie ... dynamic without dynamic-cookie-key: HAProxy emits no cookie at all (and haproxy -c says nothing), so there is no stickiness",
					"dynamic-cookie-key <secret> in the backend or its defaults section")
			}
		}
	}
	if l, ok := be.persistence(); ok {
		if _, _, ok := be.lookup("option", "redispatch"); !ok {
			m.out.add("haproxy/redispatch", m.at(be.line),
				fmt.Sprintf("%s pins clients to a server (line %d) without option redispatch: while that server is down or in maintenance its clients get 503 instead of another server, so a drain strands them", be.label(), l.line),
				"option redispatch (and retries 3) in the backend or its defaults section")
		}
	}
}

// cookieRisk explains what the missing cookie flags cost.
func cookieRisk(missing []string) string {
	var why []string
	for _, f := range missing {
		switch f {
		case "nocache":
			why = append(why, "a shared cache may store a response with Set-Cookie and pin every client it serves to one server")
		case "indirect":
			why = append(why, "the cookie is passed on to the servers and set again on every response")
		}
	}
	return strings.Join(why, "; ")
}

// hServer is a server or server-template line and its parameters.
type hServer struct {
	line   int
	name   string
	params []string
}

// servers returns the servers of s and the default-server parameters in
// effect for them (from s and its defaults chain).
func (s *hSection) servers() (servers []hServer, defaults []hLine) {
	for sec := s; sec != nil; sec = sec.defaults {
		defaults = append(defaults, sec.all("default-server")...)
	}
	for _, l := range s.lines {
		switch {
		case l.args[0] == "server" && len(l.args) >= 3:
			servers = append(servers, hServer{line: l.line, name: l.args[1], params: l.args[3:]})
		case l.args[0] == "server-template" && len(l.args) >= 4:
			servers = append(servers, hServer{line: l.line, name: l.args[1], params: l.args[4:]})
		}
	}
	return servers, defaults
}

// lintChecks checks the health checks of the servers of be.
func (m *hModel) lintChecks(be *hSection) {
	servers, defaults := be.servers()
	var defParams []string
	for _, d := range defaults {
		defParams = append(defParams, d.args[1:]...)
		m.lintMarkedDown(d.line, d.args)
	}
	var unchecked, untuned []hServer
	for _, s := range servers {
		m.lintMarkedDown(s.line, s.params)
		all := append(slices.Clone(defParams), s.params...)
		if !slices.Contains(s.params, "check") && (!slices.Contains(defParams, "check") || slices.Contains(s.params, "no-check")) {
			unchecked = append(unchecked, s)
			continue
		}
		if !slices.ContainsFunc(all, func(p string) bool { return p == "inter" || p == "fall" || p == "rise" }) {
			untuned = append(untuned, s)
		}
	}
	if len(unchecked) > 0 {
		m.out.add("haproxy/health-check", m.at(unchecked[0].line),
			fmt.Sprintf("%s of %s: no health check, so a dead server keeps getting new WebSockets until connecting to it fails", serverList(unchecked), be.label()),
			"add check to the server lines (or default-server check inter 2s fall 3 rise 2) with option httpchk")
	}
	if len(untuned) > 0 {
		m.out.add("haproxy/check-params", m.at(untuned[0].line),
			fmt.Sprintf("%s of %s: checks run with the defaults inter 2s fall 3 rise 2; state them so the time to take a dead server out is a decision", serverList(untuned), be.label()),
			"default-server inter 2s fall 3 rise 2 (tune to how fast a dead server must leave)")
	}
	m.lintWSCheck(be, len(servers) > len(unchecked))
}

// lintMarkedDown flags on-marked-down shutdown-sessions among params.
func (m *hModel) lintMarkedDown(line int, params []string) {
	if i := slices.Index(params, "on-marked-down"); i >= 0 && arg(params, i+1) == "shutdown-sessions" {
		m.out.add("haproxy/shutdown-sessions", m.at(line),
			"on-marked-down shutdown-sessions: when a check fails or the server is put in maintenance every WebSocket on it is cut at once, and all its clients reconnect together",
			"remove it and drain the server (wsctl drain) so sessions close gradually")
	}
}

// serverList names servers in a message: `server "a"` or `3 servers ("a", "b", "c")`.
func serverList(ss []hServer) string {
	if len(ss) == 1 {
		return fmt.Sprintf("server %q", ss[0].name)
	}
	names := make([]string, len(ss))
	for i, s := range ss {
		names[i] = fmt.Sprintf("%q", s.name)
	}
	return fmt.Sprintf("%d servers (%s)", len(ss), strings.Join(names, ", "))
}

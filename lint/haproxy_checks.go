package lint

import (
	"fmt"
	"strings"
)

// wsCheckFix is a WebSocket handshake check that works on HAProxy 2.6.
const wsCheckFix = "option httpchk + http-check send meth GET uri /ws ver HTTP/1.1 hdr Host example.com hdr Connection Upgrade hdr Upgrade websocket hdr Sec-WebSocket-Key dGhlIHNhbXBsZSBub25jZQ== hdr Sec-WebSocket-Version 13 + http-check expect status 101"

// hCheckRequest is what an HTTP health check sends, as far as the rules care.
type hCheckRequest struct {
	version string // the request line's version
	headers string // every header sent, lower-cased, one per line
	line    int    // where the request is defined
}

// lintWSCheck flags a WebSocket handshake check that can't succeed: every
// server would be marked down. HAProxy and the servers need HTTP/1.1, an
// Upgrade header and a Sec-WebSocket-Key (since 2.4 HAProxy itself rejects an
// upgrade without one). When checked is set (some server of be has check)
// and no check attempts a handshake at all, it notes that the check proves
// the process runs, not that it accepts WebSockets.
func (m *hModel) lintWSCheck(be *hSection, checked bool) {
	handshake := false
	req, ok := be.httpCheck()
	if ok {
		expects101 := false
		expects := be.all("http-check", "expect")
		for sec := be.defaults; len(expects) == 0 && sec != nil; sec = sec.defaults {
			expects = sec.all("http-check", "expect")
		}
		for _, l := range expects {
			expects101 = expects101 || strings.Contains(strings.Join(l.args[2:], " "), "101")
		}
		upgrade := strings.Contains(req.headers, "upgrade: websocket")
		handshake = upgrade
		var why []string
		switch {
		case expects101 && !upgrade:
			why = append(why, "it expects status 101 but sends no Upgrade: websocket header, so servers answer 200 or 404")
		case upgrade && !strings.HasPrefix(req.version, "HTTP/1.1"):
			why = append(why, "it is sent as "+req.version+" (the default), which can't be upgraded")
		}
		if upgrade && !strings.Contains(req.headers, "sec-websocket-key:") {
			why = append(why, "it sends no Sec-WebSocket-Key, so servers refuse the handshake (400)")
		}
		if len(why) > 0 {
			m.out.add("haproxy/ws-check", m.at(req.line),
				"the WebSocket health check of "+be.label()+" always fails: "+strings.Join(why, "; ")+"; every server is marked down",
				wsCheckFix)
		}
	}
	for _, l := range be.all("tcp-check", "send") {
		payload := strings.ToLower(strings.Join(l.args[2:], " "))
		if !strings.Contains(payload, "upgrade: websocket") {
			continue
		}
		handshake = true
		if !strings.Contains(payload, "sec-websocket-key:") || !strings.Contains(payload, "http/1.1") {
			m.out.add("haproxy/ws-check", m.at(l.line),
				"this tcp-check handshake lacks HTTP/1.1 or a Sec-WebSocket-Key: servers refuse it and every server of "+be.label()+" is marked down",
				"send \"GET /ws HTTP/1.1\\r\\nHost: example.com\\r\\nConnection: Upgrade\\r\\nUpgrade: websocket\\r\\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\nSec-WebSocket-Version: 13\\r\\n\\r\\n\" and expect rstring ^HTTP/1\\.1\\ 101")
		}
	}
	if checked && !handshake {
		m.lintReadiness(be, req, ok)
	}
}

// lintReadiness notes that the health check of be proves the server process
// answers, not that it accepts WebSockets: a server whose WebSocket
// endpoint is broken (or still starting) stays up and gets new clients.
func (m *hModel) lintReadiness(be *hSection, req hCheckRequest, httpCheck bool) {
	what, at := "a TCP check (check without option httpchk or a WebSocket tcp-check)", be.line
	if httpCheck {
		what, at = "a plain HTTP request (option httpchk without an Upgrade: websocket header)", req.line
	}
	m.out.add("haproxy/ws-readiness-check", m.at(at),
		fmt.Sprintf("the health check of %s is %s: it proves the server process answers, not that it accepts WebSockets, so a server whose WebSocket endpoint fails stays up and keeps getting clients", be.label(), what),
		"check the handshake itself: "+wsCheckFix)
}

// httpCheck returns the request of the HTTP check of s (option httpchk, then
// http-check send overriding its parts), if s has one.
func (s *hSection) httpCheck() (hCheckRequest, bool) {
	opt, _, ok := s.lookup("option", "httpchk")
	if !ok {
		return hCheckRequest{}, false
	}
	req := hCheckRequest{version: "HTTP/1.0", line: opt.line}
	if len(opt.args) >= 5 {
		// The old trick hides headers after the version: "HTTP/1.1\r\nHost:\ x".
		v, hdrs, _ := strings.Cut(opt.args[4], "\r\n")
		req.version, req.headers = v, strings.ToLower(strings.ReplaceAll(hdrs, "\r\n", "\n"))+"\n"
	}
	send, _, ok := s.lookup("http-check", "send")
	if !ok {
		return req, true
	}
	req.line = send.line
	a := send.args
	for i := 2; i < len(a); i++ {
		switch a[i] {
		case "ver":
			req.version = arg(a, i+1)
			i++
		case "hdr":
			req.headers += strings.ToLower(arg(a, i+1)) + ": " + strings.ToLower(arg(a, i+2)) + "\n"
			i += 2
		case "meth", "uri", "uri-lf", "body", "body-lf":
			i++
		}
	}
	return req, true
}

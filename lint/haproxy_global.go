package lint

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/wsctl/wsctl/model"
)

// lintGlobal checks the process-wide settings WebSockets depend on. A file
// without a global section is a fragment (a defaults or frontend kept in a
// file of its own): its global section lives elsewhere, so nothing missing
// from it is reported.
func (m *hModel) lintGlobal() {
	if len(m.global) == 0 {
		return
	}
	at := m.at(m.global[0].line)
	if _, ok := m.globalLookup("hard-stop-after"); !ok {
		m.out.add("haproxy/hard-stop-after", at,
			"no hard-stop-after: after every reload the old process keeps running for as long as its WebSockets live (one more process and its memory per reload)",
			"hard-stop-after 30m in the global section: old processes then close what is left and exit")
	}
	m.lintStatsSocket(at)
	m.lintMaxconn(at)
}

// lintStatsSocket wants a stats socket at level admin: "set server state
// drain" and "shutdown session" are refused below it.
func (m *hModel) lintStatsSocket(at pos) {
	var sockets []hLine
	for _, g := range m.global {
		sockets = append(sockets, g.all("stats", "socket")...)
	}
	fix := "stats socket /run/haproxy/admin.sock mode 600 level admin expose-fd listeners"
	if len(sockets) == 0 {
		m.out.add("haproxy/stats-socket", at,
			"no stats socket: servers can't be drained or put in maintenance at runtime, so every change cuts WebSockets or needs a reload",
			fix)
		return
	}
	for _, l := range sockets {
		if i := slices.Index(l.args, "level"); i > 0 && arg(l.args, i+1) == "admin" {
			return
		}
	}
	m.out.add("haproxy/stats-socket", m.at(sockets[0].line),
		"no stats socket is at level admin (operator is the default): \"set server state drain\" is refused, so servers can't be drained",
		"add level admin to a stats socket that only trusted users can reach: "+fix)
}

// lintMaxconn compares the global maxconn with the connections wanted and
// with what the file-descriptor hard limit lets one process open.
func (m *hModel) lintMaxconn(at pos) {
	limit := model.HAProxyMaxConnWithin(m.opt.FDLimit) // 0 when unknown
	want := m.opt.Connections
	if l, ok := m.globalLookup("ulimit-n"); ok && m.opt.FDLimit > 0 {
		if n, err := strconv.Atoi(arg(l.args, 1)); err == nil && n > m.opt.FDLimit {
			m.out.addAssuming("haproxy/maxconn-fd-limit", m.at(l.line),
				fmt.Sprintf("ulimit-n %s is above this host's hard limit of %s open files: HAProxy can't raise it and refuses to start", fmtInt(n), fmtInt(m.opt.FDLimit)),
				fmt.Sprintf("remove ulimit-n (HAProxy derives it from maxconn) or set at most %d", m.opt.FDLimit),
				m.opt.assumedFDLimit)
		}
	}
	l, ok := m.globalLookup("maxconn")
	if !ok {
		msg := "no global maxconn: HAProxy derives it from the file-descriptor limit, not from the WebSockets you need"
		stated := model.HAProxyMaxConnWithin(m.opt.statedFDLimit())
		if stated > 0 {
			msg += fmt.Sprintf(" (about %s on this host)", fmtInt(stated))
		}
		m.out.add("haproxy/maxconn-missing", at, msg, m.maxconnFix(stated))
		return
	}
	n, err := strconv.Atoi(arg(l.args, 1))
	if err != nil {
		return
	}
	if limit > 0 && n > limit {
		m.out.addAssuming("haproxy/maxconn-fd-limit", m.at(l.line),
			fmt.Sprintf("maxconn %s needs about %s file descriptors (two per proxied WebSocket); the hard limit here is %s, so HAProxy refuses to start (\"Cannot raise FD limit\")", fmtInt(n), fmtInt(model.HAProxyFDs(n)), fmtInt(m.opt.FDLimit)),
			m.maxconnFix(limit), m.opt.assumedFDLimit)
		return
	}
	if n < want {
		m.out.addAssuming("haproxy/maxconn-low", m.at(l.line),
			fmt.Sprintf("global maxconn %s is below the %s WebSockets wanted (--connections): the rest wait in the kernel's accept queue, then time out", fmtInt(n), fmtInt(want)),
			m.maxconnFix(model.HAProxyMaxConnWithin(m.opt.statedFDLimit())), m.opt.assumedConnections)
	}
}

// maxconnFix proposes a global maxconn: the connections wanted, or as many as
// the stated fd limit allows (limit, 0 when unknown) with a note to spread
// the rest over more processes.
func (m *hModel) maxconnFix(limit int) string {
	want := m.opt.Connections
	if limit > 0 && want > limit {
		return fmt.Sprintf("maxconn %d (the most this host's %s-file limit allows); carry %s WebSockets with several processes or hosts, or raise the hard limit (LimitNOFILE=)", limit, fmtInt(m.opt.FDLimit), fmtInt(want))
	}
	return fmt.Sprintf("maxconn %d in the global section", want)
}

// lintKeywords checks single lines wherever they are: keywords HAProxy 2.6
// refuses, options WebSockets don't need, header rewrites that break the
// upgrade, proxy maxconn below the connections wanted.
func (m *hModel) lintKeywords() {
	for _, s := range m.cfg.sections {
		for _, l := range s.lines {
			a := l.args
			switch {
			case s.kind == "global" && a[0] == "nbproc",
				hasWords(a, []string{"option", "http-tunnel"}),
				hasWords(a, []string{"option", "forceclose"}):
				m.out.add("haproxy/removed-keyword", m.at(l.line),
					fmt.Sprintf("%q was removed: HAProxy 2.6 refuses to start", strings.Join(a[:min(2, len(a))], " ")),
					"delete it: HTTP keep-alive and WebSocket tunnels are the default; use nbthread for more CPUs")
			case hasWords(a, []string{"option", "httpclose"}), hasWords(a, []string{"option", "http-server-close"}):
				m.out.add("haproxy/httpclose", m.at(l.line),
					fmt.Sprintf("option %s doesn't break the WebSocket upgrade on 2.6 but isn't needed either: it only closes plain HTTP connections sooner", a[1]),
					"delete it (keep-alive is the default)")
			case hasWords(a, []string{"option", "httpchk"}) && len(a) > 5:
				m.out.add("haproxy/httpchk-args", m.at(l.line),
					"option httpchk takes at most method, uri and version on 2.6 (the four-argument form is 3.1+): HAProxy refuses to start",
					"option httpchk GET /health HTTP/1.1 and http-check send hdr Host example.com")
			case a[0] == "maxconn" && (s.kind == "frontend" || s.kind == "listen" || s.kind == "defaults"):
				if n, err := strconv.Atoi(arg(a, 1)); err == nil && n > 0 && n < m.opt.Connections {
					m.out.addAssuming("haproxy/maxconn-low", m.at(l.line),
						fmt.Sprintf("maxconn %s in %s is below the %s WebSockets wanted (--connections): the rest wait in the accept queue, then time out", fmtInt(n), s.label(), fmtInt(m.opt.Connections)),
						fmt.Sprintf("maxconn %d, or delete it to use the global maxconn", m.opt.Connections), m.opt.assumedConnections)
				}
			}
			if msg := upgradeRewrite(a); msg != "" {
				m.out.add("haproxy/upgrade-header-removed", m.at(l.line), msg,
					"delete the rule, or make it conditional (unless { hdr(upgrade) -i websocket })")
			}
		}
	}
}

// upgradeRewrite explains how an unconditional http-request rule breaks the
// upgrade, or returns "". Tested on 2.6: deleting Upgrade or Connection, or
// setting Connection to close, makes the server refuse the handshake.
func upgradeRewrite(a []string) string {
	if a[0] != "http-request" || len(a) < 3 || slices.Contains(a, "if") || slices.Contains(a, "unless") {
		return ""
	}
	header, value := strings.ToLower(a[2]), strings.ToLower(arg(a, 3))
	if header != "upgrade" && header != "connection" {
		return ""
	}
	switch a[1] {
	case "del-header":
		return fmt.Sprintf("http-request del-header %s removes it from every request: servers answer the WebSocket handshake with 400", a[2])
	case "set-header":
		dynamic := strings.Contains(value, "%[")
		if header == "connection" && !strings.Contains(value, "upgrade") && !dynamic ||
			header == "upgrade" && !strings.Contains(value, "websocket") && !dynamic {
			return fmt.Sprintf("http-request set-header %s %s replaces it on every request: servers answer the WebSocket handshake with 400", a[2], arg(a, 3))
		}
	}
	return ""
}

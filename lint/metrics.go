package lint

import "slices"

// lintMetrics wants the proxy to show its own counts: where the WebSockets
// are, per server, is an on-call engineer's first question, and the admin
// socket answers only whoever is on the host. Like the global findings, it
// is for a whole config: a fragment may leave the stats frontend to another
// file.
func (m *hModel) lintMetrics() {
	if len(m.global) == 0 {
		return
	}
	for _, s := range m.cfg.sections {
		if !s.isProxy() {
			continue
		}
		for _, l := range s.lines {
			if l.args[0] == "stats" && (arg(l.args, 1) == "enable" || arg(l.args, 1) == "uri") ||
				l.args[0] == "http-request" && arg(l.args, 1) == "use-service" && arg(l.args, 2) == "prometheus-exporter" {
				return
			}
		}
	}
	m.out.add("haproxy/metrics", m.at(m.global[0].line),
		"no stats page and no Prometheus exporter: the per-server WebSocket counts (current sessions) can only be read on the admin socket, and nothing can be scraped or alerted on",
		"a frontend of its own, e.g. frontend stats / bind 127.0.0.1:8404 / http-request use-service prometheus-exporter if { path /metrics } / stats enable / stats uri / (wsctl renders it from the spec's stats:)")
}

// lintStubStatus wants stub_status somewhere in a whole config (a conf.d
// fragment may leave it to another file).
func (m *nModel) lintStubStatus() {
	var found func(ds []*nDirective) bool
	found = func(ds []*nDirective) bool {
		return slices.ContainsFunc(ds, func(d *nDirective) bool { return d.name == "stub_status" || found(d.block) })
	}
	if found(m.cfg.root) {
		return
	}
	m.out.add("nginx/stub-status", m.main[0].at,
		"no stub_status: nginx's active connections (WebSockets included) can't be scraped or alerted on",
		"a server of its own, e.g. server { listen 127.0.0.1:8404; location = /stub_status { stub_status; } } (wsctl renders it from the spec's stats:)")
}

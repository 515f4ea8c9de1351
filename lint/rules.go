package lint

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Rule describes one check: its stable id, its severity and what it finds.
type Rule struct {
	ID       string
	Severity string
	Summary  string
}

// catalog is the one place a rule's severity is decided; README.md lists the
// same table (a test keeps them in step).
var catalog = indexRules([]Rule{
	// HAProxy: timeouts.
	{"haproxy/tunnel-timeout", SeverityError, "idle WebSockets are cut before the heartbeat: timeout tunnel (or, unset, timeout client/server) not above it"},
	{"haproxy/tunnel-timeout-unset", SeverityInfo, "no timeout tunnel: timeout client/server double as the WebSocket idle timeout"},
	{"haproxy/timeout-ignored", SeverityWarning, "a timeout in a section that ignores it (timeout tunnel or server in a frontend, timeout client in a backend)"},
	{"haproxy/fin-timeouts", SeverityWarning, "a tunnel timeout without timeout client-fin/server-fin: half-closed WebSockets linger"},
	{"haproxy/timeout-value", SeverityError, "a time value HAProxy rejects (unparsable or above ~24.8 days)"},
	// HAProxy: process and global.
	{"haproxy/hard-stop-after", SeverityWarning, "no hard-stop-after: old processes keep WebSockets alive after every reload"},
	{"haproxy/stats-socket", SeverityWarning, "no stats socket at level admin: servers can't be drained"},
	{"haproxy/metrics", SeverityInfo, "no stats page and no Prometheus exporter: the per-server counts can't be scraped"},
	{"haproxy/maxconn-missing", SeverityWarning, "no global maxconn: HAProxy derives it from the file-descriptor limit"},
	{"haproxy/maxconn-fd-limit", SeverityError, "maxconn or ulimit-n above what the file-descriptor hard limit allows: HAProxy won't start"},
	{"haproxy/maxconn-low", SeverityWarning, "a maxconn below --connections: excess WebSockets queue or are refused"},
	{"haproxy/removed-keyword", SeverityError, "option http-tunnel, option forceclose or nbproc: fatal on HAProxy 2.6"},
	{"haproxy/httpclose", SeverityInfo, "option httpclose/http-server-close: not needed for WebSockets"},
	{"haproxy/upgrade-header-removed", SeverityError, "an unconditional http-request rule deletes or rewrites the Upgrade or Connection header"},
	// HAProxy: backends.
	{"haproxy/balance", SeverityWarning, "roundrobin/static-rr without stickiness for a WebSocket backend"},
	{"haproxy/hash-type", SeverityInfo, "a hash-based balance without hash-type consistent"},
	{"haproxy/cookie-flags", SeverityWarning, "a sticky insert cookie without nocache or indirect"},
	{"haproxy/dynamic-cookie-key", SeverityError, "cookie ... dynamic without dynamic-cookie-key: no cookie is emitted"},
	{"haproxy/cookie-tcp-mode", SeverityWarning, "a sticky cookie in a mode tcp backend, where HAProxy ignores it"},
	{"haproxy/redispatch", SeverityWarning, "persistence without option redispatch"},
	{"haproxy/health-check", SeverityWarning, "servers of a WebSocket backend without check"},
	{"haproxy/check-params", SeverityInfo, "health-checked servers with none of inter, fall, rise"},
	{"haproxy/httpchk-args", SeverityError, "option httpchk with more than three arguments: fatal on HAProxy 2.6"},
	{"haproxy/ws-check", SeverityError, "a WebSocket health check that can't succeed (no Sec-WebSocket-Key, HTTP/1.0, or 101 expected without an upgrade)"},
	{"haproxy/shutdown-sessions", SeverityWarning, "on-marked-down shutdown-sessions: a failed check cuts every WebSocket at once"},
	{"haproxy/ephemeral-ports", SeverityWarning, "more WebSockets per server address than one source address has local ports for (28,232 with Linux's default range)"},
	{"haproxy/ws-readiness-check", SeverityInfo, "a health check that proves the process runs (TCP connect, plain HTTP) but not that it accepts WebSockets"},

	// nginx: proxied WebSocket locations.
	{"nginx/http-version", SeverityError, "a WebSocket location without proxy_http_version 1.1"},
	{"nginx/upgrade-header", SeverityError, "a WebSocket location that doesn't forward the Upgrade header"},
	{"nginx/connection-header", SeverityError, "a WebSocket location that doesn't send Connection: upgrade"},
	{"nginx/connection-hardcoded", SeverityWarning, "Connection \"upgrade\" hard-coded instead of a map on $http_upgrade"},
	{"nginx/upgrade-whitelist", SeverityWarning, "the Connection map upgrades any Upgrade token (h2c included)"},
	{"nginx/read-timeout", SeverityError, "proxy_read_timeout (60s when unset) not above the heartbeat"},
	{"nginx/send-timeout", SeverityWarning, "proxy_send_timeout (60s when unset) not above the heartbeat"},
	{"nginx/buffering", SeverityInfo, "proxy_buffering left on in a WebSocket location"},
	{"nginx/location-slash", SeverityWarning, "a WebSocket location /ws/ with a trailing slash: a WebSocket to /ws is answered with a 301 redirect"},
	{"nginx/include", SeverityWarning, "an include that matches no file: its directives were not linted"},
	// nginx: main context.
	{"nginx/worker-connections", SeverityError, "worker_connections x workers below 2 x --connections"},
	{"nginx/rlimit-nofile", SeverityWarning, "worker_rlimit_nofile missing, below worker_connections or above the hard limit"},
	{"nginx/shutdown-timeout", SeverityWarning, "no worker_shutdown_timeout: old workers keep WebSockets alive after every reload"},
	{"nginx/stub-status", SeverityInfo, "no stub_status: nginx's active connections can't be scraped"},
	{"nginx/reload-handover", SeverityInfo, "worker_shutdown_timeout set: old workers cut every WebSocket left at once when it ends; nginx cannot pace them"},
	// nginx: upstreams.
	{"nginx/balance", SeverityInfo, "round-robin (the default) or hash without consistent for WebSockets"},
	{"nginx/ip-hash", SeverityWarning, "ip_hash: clients behind one NAT pile onto one server"},
	{"nginx/max-fails", SeverityInfo, "upstream servers without max_fails (or with max_fails=0)"},
	{"nginx/least-conn-zone", SeverityInfo, "least_conn without zone: each worker counts only its own connections"},
	{"nginx/backup-hash", SeverityError, "a backup server with ip_hash or hash: nginx refuses to start"},
	{"nginx/keepalive-order", SeverityWarning, "keepalive before the balancing method: upstream keepalive is silently off"},
	{"nginx/ephemeral-ports", SeverityWarning, "more WebSockets per server address than one source address has local ports for (28,232 with Linux's default range)"},
	{"nginx/keepalive-close", SeverityWarning, "upstream keepalive with a Connection map that sends close for plain requests: keepalive is never used"},
	// Two layers: nginx in front of HAProxy (wsctl lint nginx.conf haproxy.cfg).
	{"chain/http-version", SeverityError, "nginx proxies to an HAProxy frontend without proxy_http_version 1.1"},
	{"chain/upgrade-headers", SeverityError, "nginx proxies to an HAProxy frontend without passing Upgrade and Connection"},
	{"chain/timeout", SeverityWarning, "nginx's proxy_read_timeout/proxy_send_timeout below HAProxy's timeout tunnel: nginx, not HAProxy, cuts idle WebSockets"},
	{"chain/forwarded", SeverityWarning, "X-Forwarded-For/-Proto not set by nginx, or overwritten by HAProxy for nginx's requests too"},
	{"nginx/unused-upstream", SeverityInfo, "an upstream no location proxies to: linted all the same, as WebSockets may be routed to it later"},
})

func indexRules(rs []Rule) map[string]Rule {
	m := make(map[string]Rule, len(rs))
	for _, r := range rs {
		m[r.ID] = r
	}
	return m
}

// Rules returns every rule, sorted by id.
func Rules() []Rule {
	var rs []Rule
	for _, id := range slices.Sorted(maps.Keys(catalog)) {
		rs = append(rs, catalog[id])
	}
	return rs
}

// findings collects what the rules report; the severity comes from the catalog.
type findings []Finding

func (fs *findings) add(id string, p pos, msg, fix string) {
	r, ok := catalog[id]
	if !ok {
		panic(fmt.Sprintf("lint: rule %q is not in the catalog", id))
	}
	*fs = append(*fs, Finding{Rule: id, Severity: r.Severity, File: p.file, Line: p.line, Message: msg, Fix: fix})
}

// addAssuming is add for a finding that rests on assumptions (see
// settings; "" for what was stated): with any, it is info and ends with
// them, since the real host or load may well be fine.
func (fs *findings) addAssuming(id string, p pos, msg, fix string, assumptions ...string) {
	var made []string
	for _, a := range assumptions {
		if a != "" {
			made = append(made, a)
		}
	}
	fs.add(id, p, msg, fix)
	if len(made) > 0 {
		f := &(*fs)[len(*fs)-1]
		f.Severity = SeverityInfo
		f.Message += "; this assumes " + strings.Join(made, "; and ")
	}
}

// pos is where something is written: a file and a 1-based line.
type pos struct {
	file string
	line int
}

// from names p as seen from a finding at rel: "line 12" in the same file,
// "file:12" in another.
func (p pos) from(rel pos) string {
	if p.file == rel.file {
		return fmt.Sprintf("line %d", p.line)
	}
	return fmt.Sprintf("%s:%d", p.file, p.line)
}

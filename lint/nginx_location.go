package lint

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// nginxDefaultTimeout is proxy_read_timeout and proxy_send_timeout when unset.
const nginxDefaultTimeout = 60 * time.Second

// whitelistMap is the Connection map that upgrades WebSockets only.
const whitelistMap = `map $http_upgrade $connection_upgrade { "~*^websocket$" upgrade; default ""; }`

// lintLocation checks one proxied WebSocket location.
func (m *nModel) lintLocation(l *nLocation) {
	if d, ok := l.value("proxy_http_version"); !ok {
		m.out.add("nginx/http-version", l.d.at,
			fmt.Sprintf("%s proxies with HTTP/1.0 (the default before nginx 1.29.7): the upgrade is dropped and WebSocket handshakes fail", l.label()),
			"proxy_http_version 1.1;")
	} else if arg(d.args, 0) != "1.1" {
		m.out.add("nginx/http-version", d.at,
			fmt.Sprintf("proxy_http_version %s can't carry a WebSocket upgrade", arg(d.args, 0)),
			"proxy_http_version 1.1;")
	}
	m.lintHeaders(l)
	m.lintSlash(l)
	m.lintTimeout(l, "proxy_read_timeout", "nginx/read-timeout",
		"nginx closes a WebSocket that stays quiet that long, and its client reconnects")
	m.lintTimeout(l, "proxy_send_timeout", "nginx/send-timeout",
		"nginx closes a WebSocket whose server stops reading for that long")
	if d, ok := l.value("proxy_buffering"); !ok {
		m.out.add("nginx/buffering", l.d.at,
			fmt.Sprintf("%s leaves proxy_buffering on: upgraded WebSockets are not buffered, but SSE or long-polling fallbacks through it are held back until a buffer fills", l.label()),
			"proxy_buffering off;")
	} else if arg(d.args, 0) == "on" {
		m.out.add("nginx/buffering", d.at,
			"proxy_buffering on: upgraded WebSockets are not buffered, but SSE or long-polling fallbacks through it are held back until a buffer fills",
			"proxy_buffering off;")
	}
}

// lintSlash flags a prefix location ending in "/" with proxy_pass: nginx
// answers the path without the slash with a 301 to it (checked on 1.22:
// location /ws/, GET /ws → 301), and WebSocket clients don't follow
// redirects, so a client connecting to /ws fails. A location for the path
// without the slash takes that request instead.
func (m *nModel) lintSlash(l *nLocation) {
	path := arg(l.d.args, len(l.d.args)-1)
	if len(l.d.args) > 2 || len(l.d.args) == 2 && l.d.args[0] != "^~" && l.d.args[0] != "=" ||
		len(path) < 2 || !strings.HasSuffix(path, "/") || !slices.ContainsFunc(l.d.block, named("proxy_pass")) {
		return
	}
	bare := strings.TrimSuffix(path, "/")
	if hasLocation(m.cfg.root, bare) {
		return
	}
	m.out.add("nginx/location-slash", l.d.at,
		fmt.Sprintf("%s ends in a slash: a WebSocket to %s is answered with a 301 redirect to %s, which WebSocket clients don't follow, so the handshake fails", l.label(), bare, path),
		fmt.Sprintf("location %s (matches %s and everything under it) or add location = %s with the same proxy settings", bare, bare, bare))
}

// hasLocation reports whether ds holds (at any depth) a prefix or exact
// location for path.
func hasLocation(ds []*nDirective, path string) bool {
	for _, d := range ds {
		if d.name == "location" && len(d.args) > 0 && d.args[len(d.args)-1] == path &&
			(len(d.args) == 1 || d.args[0] == "=" || d.args[0] == "^~") {
			return true
		}
		if hasLocation(d.block, path) {
			return true
		}
	}
	return false
}

// lintTimeout checks that an idle timeout of l is above the heartbeat.
func (m *nModel) lintTimeout(l *nLocation, name, rule, effect string) {
	hb := m.opt.Heartbeat
	d, ok := l.value(name)
	if !ok {
		if nginxDefaultTimeout <= hb {
			m.out.add(rule, l.d.at,
				fmt.Sprintf("%s has no %s, and the default 60s is not above the %s heartbeat: %s", l.label(), name, fmtDur(hb), effect),
				fmt.Sprintf("%s %s;", name, suggestIdle(hb)))
		}
		return
	}
	t, err := parseNginxTime(strings.Join(d.args, " "))
	if err != nil || t > hb {
		return // nginx -t reports a malformed time
	}
	m.out.add(rule, d.at,
		fmt.Sprintf("%s %s is not above the %s heartbeat: %s", name, fmtDur(t), fmtDur(hb), effect),
		fmt.Sprintf("%s %s;", name, suggestIdle(hb)))
}

// lintHeaders checks the Upgrade and Connection headers l sends upstream,
// resolving proxy_set_header inheritance.
func (m *nModel) lintHeaders(l *nLocation) {
	hs, level := l.headers()
	find := func(name string) *nDirective {
		i := slices.IndexFunc(hs, func(d *nDirective) bool { return strings.EqualFold(d.args[0], name) })
		if i < 0 {
			return nil
		}
		return hs[i]
	}
	upgrade, connection := find("Upgrade"), find("Connection")
	if upgrade == nil {
		m.out.add("nginx/upgrade-header", l.d.at,
			l.missingHeader("Upgrade", level, "the server never sees a WebSocket handshake and answers it as plain HTTP"),
			"proxy_set_header Upgrade $http_upgrade; (set every proxy_set_header at one level)")
	}
	switch {
	case connection == nil:
		m.out.add("nginx/connection-header", l.d.at,
			l.missingHeader("Connection", level, "nginx sends Connection: close and the server refuses the upgrade"),
			"proxy_set_header Connection $connection_upgrade; with "+whitelistMap)
	case strings.EqualFold(connection.args[1], "upgrade"):
		m.out.add("nginx/connection-hardcoded", connection.at,
			"Connection \"upgrade\" is sent on every request, plain HTTP included, and with Upgrade $http_upgrade any protocol a client names (h2c too) reaches the server as an upgrade",
			"proxy_set_header Connection $connection_upgrade; with "+whitelistMap)
	case !strings.Contains(connection.args[1], "$") && !strings.Contains(strings.ToLower(connection.args[1]), "upgrade"):
		m.out.add("nginx/connection-header", connection.at,
			fmt.Sprintf("Connection %q tells the server not to upgrade: WebSocket handshakes fail", connection.args[1]),
			"proxy_set_header Connection $connection_upgrade; with "+whitelistMap)
	case upgrade != nil && strings.Contains(upgrade.args[1], "$http_upgrade"):
		m.lintWhitelist(connection)
	}
	if connection != nil {
		m.lintKeepaliveClose(l, connection)
	}
}

// lintKeepaliveClose flags a Connection map that sends "close" on requests
// without Upgrade to an upstream with keepalive: nginx keeps an upstream
// connection only when the request doesn't ask to close it, so plain
// requests never reuse one and the keepalive pool stays empty.
func (m *nModel) lintKeepaliveClose(l *nLocation, connection *nDirective) {
	mp := m.maps[connection.args[1]]
	if mp == nil {
		return
	}
	i := slices.IndexFunc(mp.block, func(e *nDirective) bool { return e.name == "" && strings.EqualFold(arg(e.args, 0), "close") })
	if i < 0 {
		return
	}
	for _, d := range l.d.block {
		if d.name != "proxy_pass" || len(d.args) == 0 {
			continue
		}
		u := m.upstreams[proxyHost(d.args[0])]
		if u == nil {
			continue
		}
		if k := slices.IndexFunc(u.block, named("keepalive")); k >= 0 {
			m.out.add("nginx/keepalive-close", mp.block[i].at,
				fmt.Sprintf("map %s sends Connection: close on every request without Upgrade, so upstream %s never reuses a connection: its keepalive (%s) is never used", connection.args[1], u.args[0], u.block[k].at.from(mp.block[i].at)),
				"'' \"\"; in the map (an empty Connection header lets nginx keep the upstream connection)")
		}
	}
}

// missingHeader explains why header is not sent, naming the
// proxy_set_header that hides an inherited one.
func (l *nLocation) missingHeader(header string, level int, effect string) string {
	if level >= 0 {
		if d := l.dropped(header, level); d != nil {
			hs, _ := l.headers()
			return fmt.Sprintf("%s doesn't send %s: the proxy_set_header at %s replaces every inherited one, including %s at %s; %s",
				l.label(), header, hs[0].at.from(l.d.at), header, d.at.from(l.d.at), effect)
		}
	}
	return fmt.Sprintf("%s doesn't set the %s header: %s", l.label(), header, effect)
}

// lintWhitelist checks that the Connection value turns only WebSocket
// upgrades into Connection: upgrade.
func (m *nModel) lintWhitelist(connection *nDirective) {
	value := connection.args[1]
	if strings.EqualFold(value, "$http_connection") {
		m.out.add("nginx/upgrade-whitelist", connection.at,
			"Connection $http_connection forwards the client's Connection header: any protocol a client names in Upgrade (h2c too) reaches the server as an upgrade",
			"proxy_set_header Connection $connection_upgrade; with "+whitelistMap)
		return
	}
	mp := m.maps[value]
	if mp == nil {
		return
	}
	for _, e := range mp.block {
		key, val := e.name, arg(e.args, 0)
		if strings.EqualFold(val, "upgrade") && !strings.Contains(strings.ToLower(key), "websocket") {
			m.out.add("nginx/upgrade-whitelist", e.at,
				fmt.Sprintf("map $http_upgrade %s maps %q to upgrade: any protocol a client names in Upgrade (h2c too) reaches the server as an upgrade, past nginx's location rules", value, key),
				whitelistMap)
			return
		}
	}
}

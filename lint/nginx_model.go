package lint

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// nModel is what the nginx rules read: the contexts of the config, its
// proxied locations with their inheritance chains, the maps on
// $http_upgrade, and which locations carry WebSockets.
type nModel struct {
	cfg       *nConfig
	opt       settings
	main      []*nDirective // the main context; nil for an http- or server-level fragment
	upstreams map[string]*nDirective
	maps      map[string]*nDirective // "$var" → the map $http_upgrade $var block
	locations []*nLocation           // proxied locations, in file order
	ws        []*nLocation           // the WebSocket ones among them
	out       findings
}

// nLocation is a location with proxy_pass and the levels it inherits from,
// outermost (http) first, itself last.
type nLocation struct {
	d     *nDirective
	chain [][]*nDirective
}

// label names the location in messages: `location /ws/`.
func (l *nLocation) label() string { return "location " + strings.Join(l.d.args, " ") }

// lintNginx runs every nginx rule over cfg.
func lintNginx(cfg *nConfig, opt settings) []Finding {
	m := newNModel(cfg, opt)
	for _, inc := range cfg.missing {
		m.out.add("nginx/include", inc.at,
			fmt.Sprintf("include %s matches no file: its directives were not linted, and nginx refuses to start when a plain path is missing", inc.pattern),
			"fix the path or create the file; relative paths resolve against the main config's directory, so lint the main nginx.conf")
	}
	if m.main != nil {
		m.lintMain()
		m.lintStubStatus()
	}
	for _, l := range m.ws {
		m.lintLocation(l)
	}
	m.lintUpstreams()
	return m.out
}

// newNModel finds the contexts and decides which locations are WebSocket
// locations. A proxied location is one when it, or a level it inherits
// from, sets an Upgrade header; when its Connection header comes from a map
// on $http_upgrade; or when its path looks like WebSockets (wsName: /ws,
// /socket.io, /websocket, ...). When no location in the file shows any of
// these signs, every proxied location is linted as a WebSocket location: in
// doubt, a file given to a WebSocket linter carries WebSockets.
func newNModel(cfg *nConfig, opt settings) *nModel {
	m := &nModel{cfg: cfg, opt: opt, upstreams: map[string]*nDirective{}, maps: map[string]*nDirective{}}
	var https [][]*nDirective
	for _, d := range cfg.root {
		if d.name == "http" && d.isBlock {
			https = append(https, d.block)
		}
		if d.name == "events" || d.name == "http" || strings.HasPrefix(d.name, "worker_") {
			m.main = cfg.root
		}
	}
	switch {
	case len(https) > 0:
	case slices.ContainsFunc(cfg.root, named("server", "upstream", "map")):
		https = [][]*nDirective{cfg.root} // a conf.d file at http level
	default:
		m.walkLocations([][]*nDirective{cfg.root}, cfg.root) // a snippet at server level
	}
	for _, http := range https {
		for _, d := range http {
			switch {
			case d.name == "upstream" && len(d.args) == 1:
				m.upstreams[d.args[0]] = d
			case d.name == "map" && len(d.args) == 2 && strings.EqualFold(d.args[0], "$http_upgrade"):
				m.maps[d.args[1]] = d
			case d.name == "server" && d.isBlock:
				m.walkLocations([][]*nDirective{http, d.block}, d.block)
			}
		}
	}
	for _, l := range m.locations {
		if m.wsSigns(l) {
			m.ws = append(m.ws, l)
		}
	}
	if len(m.ws) == 0 {
		m.ws = m.locations
	}
	return m
}

// named returns a predicate matching directives with one of names.
func named(names ...string) func(*nDirective) bool {
	return func(d *nDirective) bool { return slices.Contains(names, d.name) }
}

// walkLocations collects the proxied locations among ds (nested ones too).
func (m *nModel) walkLocations(chain [][]*nDirective, ds []*nDirective) {
	for _, d := range ds {
		if d.name != "location" || !d.isBlock {
			continue
		}
		c := append(slices.Clone(chain), d.block)
		if slices.ContainsFunc(d.block, proxies) {
			m.locations = append(m.locations, &nLocation{d: d, chain: c})
		}
		m.walkLocations(c, d.block)
	}
}

// proxies reports whether d is proxy_pass, or an if or limit_except block
// holding one.
func proxies(d *nDirective) bool {
	return d.name == "proxy_pass" || (d.name == "if" || d.name == "limit_except") && slices.ContainsFunc(d.block, proxies)
}

// wsSigns reports whether l shows it carries WebSockets.
func (m *nModel) wsSigns(l *nLocation) bool {
	for _, level := range l.chain {
		for _, d := range level {
			if d.name == "proxy_set_header" && len(d.args) == 2 &&
				(strings.EqualFold(d.args[0], "upgrade") || strings.EqualFold(d.args[0], "connection") && m.maps[d.args[1]] != nil) {
				return true
			}
		}
	}
	return wsName.MatchString(arg(l.d.args, len(l.d.args)-1))
}

// value returns the directive name in effect for l: the last one at the
// innermost level that has it.
func (l *nLocation) value(name string) (*nDirective, bool) {
	for i := len(l.chain) - 1; i >= 0; i-- {
		for j := len(l.chain[i]) - 1; j >= 0; j-- {
			if l.chain[i][j].name == name {
				return l.chain[i][j], true
			}
		}
	}
	return nil, false
}

// headers returns the proxy_set_header directives in effect for l: those of
// the innermost level that has any (nginx inherits them only into a level
// that defines none), and the index of that level in the chain.
func (l *nLocation) headers() ([]*nDirective, int) {
	for i := len(l.chain) - 1; i >= 0; i-- {
		var hs []*nDirective
		for _, d := range l.chain[i] {
			if d.name == "proxy_set_header" && len(d.args) == 2 {
				hs = append(hs, d)
			}
		}
		if len(hs) > 0 {
			return hs, i
		}
	}
	return nil, -1
}

// dropped returns a proxy_set_header of header set at a level outside
// level, which the headers of level hide.
func (l *nLocation) dropped(header string, level int) *nDirective {
	for i := level - 1; i >= 0; i-- {
		for _, d := range l.chain[i] {
			if d.name == "proxy_set_header" && len(d.args) == 2 && strings.EqualFold(d.args[0], header) {
				return d
			}
		}
	}
	return nil
}

// upstreamsOf returns the upstreams the WebSocket locations proxy to. A
// proxy_pass through a map on $http_upgrade counts the upstreams the
// map gives a websocket Upgrade, and marks the ones it gives every other
// request as plain HTTP: those are left out even when a location names them
// directly. A proxy_pass through any other variable counts every upstream.
func (m *nModel) upstreamsOf() []*nDirective {
	ws, plain := map[string]bool{}, map[string]bool{}
	for _, l := range m.ws {
		for _, d := range l.d.block {
			if d.name != "proxy_pass" || len(d.args) == 0 {
				continue
			}
			host := proxyHost(d.args[0])
			switch mp := m.maps[host]; {
			case mp != nil:
				for _, e := range mp.block {
					if strings.Contains(strings.ToLower(e.name), "websocket") {
						ws[arg(e.args, 0)] = true
					} else {
						plain[arg(e.args, 0)] = true
					}
				}
			case strings.Contains(host, "$"):
				for name := range m.upstreams {
					ws[name] = true
				}
			default:
				ws[host] = true
			}
		}
	}
	var us []*nDirective
	for name := range ws {
		if u := m.upstreams[name]; u != nil && !plain[name] {
			us = append(us, u)
		}
	}
	sortByPos(us)
	return us
}

// unusedUpstreams returns the upstreams no *_pass directive names, directly
// or through a map on $http_upgrade, sorted by position. A pass through any
// other variable may reach every upstream: then none is unused.
func (m *nModel) unusedUpstreams() []*nDirective {
	used := map[string]bool{}
	anyVar := false
	var walk func(ds []*nDirective)
	walk = func(ds []*nDirective) {
		for _, d := range ds {
			walk(d.block)
			if !strings.HasSuffix(d.name, "_pass") || len(d.args) == 0 {
				continue
			}
			host := proxyHost(d.args[0])
			switch mp := m.maps[host]; {
			case mp != nil:
				for _, e := range mp.block {
					used[arg(e.args, 0)] = true
				}
			case strings.Contains(host, "$"):
				anyVar = true
			default:
				used[host] = true
			}
		}
	}
	walk(m.cfg.root)
	var us []*nDirective
	for name, u := range m.upstreams {
		if !anyVar && !used[name] {
			us = append(us, u)
		}
	}
	sortByPos(us)
	return us
}

// sortByPos orders directives by file and line.
func sortByPos(ds []*nDirective) {
	slices.SortFunc(ds, func(a, b *nDirective) int {
		return cmp.Or(strings.Compare(a.at.file, b.at.file), cmp.Compare(a.at.line, b.at.line))
	})
}

// proxyHost returns the upstream name or host of a *_pass address, with or
// without a scheme: "http://chat:8080/ws" → "chat", "php:9000" → "php".
func proxyHost(u string) string {
	rest := u
	if _, r, ok := strings.Cut(u, "://"); ok {
		rest = r
	}
	host, _, _ := strings.Cut(rest, "/")
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.HasSuffix(host, "]") {
		host = host[:i]
	}
	return host
}

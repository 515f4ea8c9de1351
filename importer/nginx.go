package importer

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wsctl/wsctl/lint"
	"github.com/wsctl/wsctl/model"
	"github.com/wsctl/wsctl/spec"
)

// nImporter maps nginx blocks onto the spec.
type nImporter struct {
	*builder
	upstreams map[string]bool
	maps      map[string]lint.Directive // "$var" → map $http_upgrade $var
	tunnel    *lint.Directive           // the proxy_read_timeout carried
	ports     map[string]int
	unbound   []lint.Directive // proxied locations with no proxy_bind in effect
}

func importNginx(cfg *lint.NginxConfig) *builder {
	n := &nImporter{builder: newBuilder(), upstreams: map[string]bool{}, maps: map[string]lint.Directive{}, ports: map[string]int{}}
	var walkKeys func(ds []lint.Directive)
	walkKeys = func(ds []lint.Directive) {
		for _, d := range ds {
			n.keys[d.Name] = true
			walkKeys(d.Block)
		}
	}
	walkKeys(cfg.Root)
	for _, m := range cfg.Missing {
		n.note(m, true, "not carried: matches no file, so its directives were not read")
	}
	var https [][]lint.Directive
	for _, d := range cfg.Root {
		switch {
		case d.Name == "http" && d.IsBlock:
			n.carry(d)
			https = append(https, d.Block)
		case d.Name == "events" && d.IsBlock:
			n.carry(d)
			n.events(d.Block)
		default:
			n.main(d)
		}
	}
	if len(https) == 0 {
		https = [][]lint.Directive{cfg.Root} // a conf.d file at http level
	}
	for _, http := range https {
		for _, d := range http {
			switch {
			case d.Name == "upstream" && d.IsBlock && len(d.Args) == 1:
				n.upstreams[d.Args[0]] = true
			case d.Name == "map" && len(d.Args) == 2 && strings.EqualFold(d.Args[0], "$http_upgrade"):
				n.maps[d.Args[1]] = d
			}
		}
	}
	for _, http := range https {
		for _, d := range http {
			switch {
			case d.Name == "upstream" && d.IsBlock && len(d.Args) == 1:
				n.upstream(d)
			case d.Name == "map" && n.maps[arg(d.Args, 1)].Line == d.Line && d.Line > 0:
				n.mapBlock(d)
			case d.Name == "server" && d.IsBlock:
				n.server(http, d)
			}
		}
	}
	n.proxyBind(https)
	if n.tunnel == nil && len(n.s.Listeners) > 0 {
		n.setTunnel(60*time.Second, lint.Directive{File: cfg.File, Line: 1, Name: "proxy_read_timeout"})
		n.notes = append(n.notes, Note{File: cfg.File, Line: 1, Directive: "proxy_read_timeout", Why: "changed: absent, so nginx cut idle WebSockets after its default 60s; the spec sets tunnel 60s to keep that"})
	}
	n.restTree(cfg.Root)
	return n.builder
}

func arg(args []string, i int) string {
	if i < len(args) {
		return args[i]
	}
	return ""
}

// restTree notes what nothing dealt with; a block noted as a whole is one
// note, its inside is not listed line by line.
func (n *nImporter) restTree(ds []lint.Directive) {
	for _, d := range ds {
		if !n.done[pos{d.File, d.Line}] {
			why, important := nWhy(d)
			n.note(d, important, "%s", why)
			continue
		}
		n.restTree(d.Block)
	}
}

// nWhy says why a directive nothing carried is dropped.
func nWhy(d lint.Directive) (string, bool) {
	switch {
	case d.Name == "location":
		return "not carried: only prefix locations that proxy_pass become routes", true
	case d.Name == "proxy_pass":
		return "not carried: proxy_pass to something other than an upstream, a host:port or a map on $http_upgrade", true
	case strings.HasPrefix(d.Name, "ssl_"):
		return "not carried: wsctl renders TLS from the certificate and key only", false
	case d.Name == "server_name":
		return "not carried: wsctl's listeners answer every host name on their address", false
	case d.IsBlock:
		return "not carried: the spec has no equivalent block", false
	}
	return "not carried: the spec has no equivalent", false
}

// nSame are directives wsctl renders the same way: carried as they are.
var nSame = map[string]bool{
	"proxy_http_version 1.1": true, "proxy_buffering off": true,
	"proxy_set_header Host $host": true, "proxy_set_header X-Real-IP $remote_addr": true,
	"proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for": true,
	"proxy_set_header Upgrade $http_upgrade":                      true, "proxy_set_header X-Forwarded-Proto $scheme": true,
}

func (n *nImporter) main(d lint.Directive) {
	switch {
	case d.Name == "worker_processes" && len(d.Args) == 1:
		if d.Args[0] == "auto" {
			n.carry(d)
		} else if w, err := strconv.Atoi(d.Args[0]); err == nil {
			n.s.Nginx.WorkerProcesses = w
			n.carry(d)
		}
	case d.Name == "worker_shutdown_timeout" && len(d.Args) == 1:
		if t, err := lint.ParseNginxTime(d.Args[0]); err == nil && t > 0 {
			n.s.Nginx.WorkerShutdownTimeout = spec.Duration(t)
			n.carry(d)
		}
	case d.Name == "pid" && len(d.Args) == 1:
		n.s.Nginx.PidFile = d.Args[0]
		n.carry(d)
	case d.Name == "error_log" && len(d.Args) >= 1:
		n.s.Nginx.ErrorLog = d.Args[0]
		if len(d.Args) > 1 && d.Args[1] != "warn" {
			n.note(d, false, "changed: wsctl logs at level warn")
		} else {
			n.carry(d)
		}
	case d.Name == "worker_rlimit_nofile":
		n.note(d, false, "changed: wsctl sizes worker_rlimit_nofile from connections")
	}
}

func (n *nImporter) events(ds []lint.Directive) {
	for _, d := range ds {
		if d.Name == "worker_connections" && len(d.Args) == 1 {
			if w, err := strconv.Atoi(d.Args[0]); err == nil && w >= 2 {
				n.s.Connections = w / 2
				n.note(d, false, "changed: connections %d (each WebSocket holds two connections); wsctl renders worker_connections %d", w/2, 2*model.MaxConn(w/2)+1024)
			}
		}
	}
}

func (n *nImporter) mapBlock(d lint.Directive) {
	n.carry(d)
	for _, e := range d.Block {
		n.carry(e)
	}
	if _, _, routes := n.routeMap(d); routes {
		return
	}
	n.note(d, false, "changed: wsctl renders its own maps on $http_upgrade, forwarding only Upgrade: websocket (never h2c or other tokens)")
}

// routeMap returns the upstreams a map on $http_upgrade picks: for a
// websocket upgrade and for everything else; ok when it picks upstreams.
func (n *nImporter) routeMap(d lint.Directive) (ws, plain string, ok bool) {
	for _, e := range d.Block {
		if len(e.Args) != 1 || !n.upstreams[e.Args[0]] {
			continue
		}
		if strings.Contains(strings.ToLower(e.Name), "websocket") {
			ws = e.Args[0]
		} else if e.Name == "default" {
			plain = e.Args[0]
		}
	}
	return ws, plain, ws != ""
}

func (n *nImporter) upstream(d lint.Directive) {
	n.carry(d)
	b := spec.Backend{Name: d.Args[0], Balance: "roundrobin"}
	first := true
	for _, c := range d.Block {
		switch c.Name {
		case "least_conn":
			b.Balance = "leastconn"
			n.carry(c)
		case "ip_hash":
			b.Balance = "source"
			n.note(c, true, "changed: balance source hashes the full client address consistently (ip_hash hashed the first three octets, piling a /24 onto one server)")
		case "hash":
			n.hash(c, &b)
		case "server":
			n.upstreamServer(c, &b, first)
			first = false
		case "keepalive":
			if arg(c.Args, 0) == "32" {
				n.carry(c)
			} else {
				n.note(c, false, "changed: wsctl keeps 32 idle upstream connections per worker")
			}
		}
	}
	if t := b.Health.Interval.D(); t > 0 {
		fall := b.Health.Fall
		if fall == 0 {
			fall = 1 // nginx's default max_fails
			b.Health.Fall = fall
		}
		// wsctl renders fail_timeout as interval × fall, and nginx reads
		// it in whole seconds.
		iv := (t / time.Duration(fall)).Round(time.Millisecond)
		if iv*time.Duration(fall) != t || t%time.Second != 0 {
			iv = (t + time.Duration(fall)*time.Second - 1).Truncate(time.Duration(fall)*time.Second) / time.Duration(fall)
			n.note(d, false, "changed: fail_timeout %s becomes %s (wsctl renders health.interval × max_fails, in whole seconds)", model.Duration(t), model.Duration(iv*time.Duration(fall)))
		}
		b.Health.Interval = spec.Duration(max(iv, 100*time.Millisecond))
	}
	if len(b.Servers) == 0 {
		n.note(d, true, "carried without servers: add them under servers or consul")
	}
	n.s.Backends = append(n.s.Backends, b)
}

func (n *nImporter) hash(c lint.Directive, b *spec.Backend) {
	key := arg(c.Args, 0)
	consistent := arg(c.Args, 1) == "consistent"
	switch {
	case key == "$remote_addr" || key == "$binary_remote_addr":
		b.Balance = "source"
	case strings.HasPrefix(key, "$cookie_"):
		b.Balance, b.HashKey = "hash", "cookie:"+strings.TrimPrefix(key, "$cookie_")
	case strings.HasPrefix(key, "$arg_"):
		b.Balance, b.HashKey = "hash", "url_param:"+strings.TrimPrefix(key, "$arg_")
	case strings.HasPrefix(key, "$http_"):
		b.Balance, b.HashKey = "hash", "header:"+strings.ReplaceAll(strings.TrimPrefix(key, "$http_"), "_", "-")
	default:
		b.Balance = "leastconn"
		n.note(c, true, "changed: balance leastconn (the spec hashes on the client address, a cookie, a header or an argument)")
		return
	}
	if consistent {
		n.carry(c)
	} else {
		n.note(c, true, "changed: wsctl hashes consistently, so a server coming or going moves only its own share")
	}
}

func (n *nImporter) upstreamServer(c lint.Directive, b *spec.Backend, first bool) {
	addr := arg(c.Args, 0)
	var changed []string
	important := false
	if strings.HasPrefix(addr, "unix:") {
		n.note(c, true, "not carried: a unix socket is not a host:port")
		return
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr = net.JoinHostPort(strings.Trim(addr, "[]"), "80")
		changed = append(changed, "port 80 (nginx's default) written out")
	}
	srv := spec.Server{Name: addr, Address: addr, Weight: 1}
	for _, name := range b.Servers {
		if name.Name == srv.Name {
			srv.Name = fmt.Sprintf("%s-%d", addr, len(b.Servers)+1)
		}
	}
	for _, o := range c.Args[1:] {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "weight":
			w, err := strconv.Atoi(v)
			if err != nil || w < 1 || w > 256 {
				changed = append(changed, o+" (the spec's range is 1 to 256)")
				important = true
				continue
			}
			srv.Weight = w
		case "max_fails", "fail_timeout", "max_conns":
			if !first {
				continue
			}
			if !n.passive(k, v, b) {
				changed = append(changed, o+" (not readable)")
			}
		default:
			changed = append(changed, o)
			important = important || k == "backup" || k == "down"
		}
	}
	b.Servers = append(b.Servers, srv)
	if !first && len(b.Servers) > 1 && passiveDiffers(c.Args[1:], b) {
		changed = append(changed, "max_fails, fail_timeout, max_conns: the upstream's first server's values apply")
	}
	if len(changed) > 0 {
		n.note(c, important, "changed: %s", strings.Join(changed, "; "))
	} else {
		n.carry(c)
	}
}

// passive reads the passive-check settings into the backend: max_fails is
// fall, fail_timeout is interval × fall, max_conns is server_maxconn.
func (n *nImporter) passive(k, v string, b *spec.Backend) bool {
	switch k {
	case "max_fails":
		f, err := strconv.Atoi(v)
		if err != nil || f < 1 {
			return false
		}
		b.Health.Fall = f
	case "fail_timeout":
		t, err := lint.ParseNginxTime(v)
		if err != nil || t <= 0 {
			return false
		}
		b.Health.Interval = spec.Duration(t) // divided by fall once both are read
	case "max_conns":
		m, err := strconv.Atoi(v)
		if err != nil || m < 0 {
			return false
		}
		b.ServerMaxConn = m
	}
	return true
}

// passiveDiffers reports whether a later server's passive-check words
// differ from what the backend took from its first server.
func passiveDiffers(opts []string, b *spec.Backend) bool {
	for _, o := range opts {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "max_fails":
			if strconv.Itoa(b.Health.Fall) != v {
				return true
			}
		case "max_conns":
			if strconv.Itoa(b.ServerMaxConn) != v {
				return true
			}
		}
	}
	return false
}

// server turns a server block into a listener: one bind per listen line,
// TLS from the block's certificate on the ssl ones.
func (n *nImporter) server(http []lint.Directive, d lint.Directive) {
	n.carry(d)
	var l spec.Listener
	type listen struct {
		addr       string
		ssl, http2 bool
		at         lint.Directive
	}
	var listens []listen
	http2 := false // `http2 on` (nginx 1.25.1+): every ssl listen
	var cert, key lint.Directive
	listenLines := false
	for _, c := range d.Block {
		switch c.Name {
		case "listen":
			listenLines = true
			addr, ssl, h2, dropped := listenAddr(c.Args)
			if addr == "" {
				n.note(c, true, "not carried: %q is not an address:port a listener can hold", arg(c.Args, 0))
				continue
			}
			if !n.bindOnce(c, addr) {
				continue
			}
			listens = append(listens, listen{addr, ssl, h2, c})
			if len(dropped) > 0 {
				n.note(c, false, "changed: not carried: %s", strings.Join(dropped, ", "))
			} else {
				n.carry(c)
			}
		case "http2":
			http2 = arg(c.Args, 0) == "on"
			n.carry(c)
		case "ssl_certificate":
			cert = c
			n.carry(c)
		case "ssl_certificate_key":
			key = c
			n.carry(c)
		}
	}
	switch {
	case len(listens) == 0 && listenLines:
		return // every listen line is noted: nothing left to listen on
	case len(listens) == 0:
		if !n.bindOnce(d, ":80") {
			return
		}
		listens = append(listens, listen{addr: ":80", at: d}) // nginx's default listen
		n.note(d, false, "changed: no listen; nginx's default *:80 written out")
	}
	var binds []spec.Bind
	anySSL := false
	for _, ln := range listens {
		b := spec.Bind{Address: ln.addr}
		anySSL = anySSL || ln.ssl
		switch {
		case ln.ssl && cert.Name == "":
			n.note(ln.at, true, "changed: TLS needs both listen … ssl and ssl_certificate; this address serves plain HTTP")
		case ln.ssl:
			b.TLS = &spec.TLS{Cert: arg(cert.Args, 0), Key: arg(key.Args, 0)}
			if ln.http2 || http2 {
				b.TLS.ALPN = []string{spec.ALPNHTTP2, spec.ALPNHTTP11}
			}
		case ln.http2:
			n.note(ln.at, false, "changed: HTTP/2 without TLS (h2c) is not carried; wsctl offers h2 through tls.alpn only")
		}
		binds = append(binds, b)
	}
	if cert.Name != "" && !anySSL {
		n.note(cert, false, "not carried: no listen … ssl uses it (nginx served plain HTTP here too)")
	}
	setBinds(&l, binds)
	first := binds[0]
	proto := "http"
	if first.TLS != nil {
		proto = "https"
	}
	_, port, _ := net.SplitHostPort(first.Address)
	l.Name = proto + "_" + port
	if k := n.ports[l.Name]; k > 0 {
		l.Name = fmt.Sprintf("%s_%d", l.Name, k+1)
	}
	n.ports[proto+"_"+port]++
	var routes []spec.Route
	n.locations([][]lint.Directive{http, d.Block}, d.Block, &l, &routes)
	// nginx picks the longest prefix; routes are tried in order.
	slices.SortStableFunc(routes, func(a, b spec.Route) int { return len(b.Path) - len(a.Path) })
	l.Routes = routes
	n.s.Listeners = append(n.s.Listeners, l)
}

// listenAddr reads a listen directive: the address, whether it is ssl and
// http2, and the words not carried.
func listenAddr(args []string) (addr string, ssl, http2 bool, dropped []string) {
	a := arg(args, 0)
	if _, err := strconv.Atoi(a); err == nil {
		a = ":" + a
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil || strings.Contains(host, ":") {
		return "", false, false, nil
	}
	if host != "" && host != "*" && net.ParseIP(host) == nil {
		return "", false, false, nil
	}
	for _, o := range args[1:] {
		switch o {
		case "ssl":
			ssl = true
		case "http2":
			http2 = true
		case "default_server", "default":
		default:
			dropped = append(dropped, o)
		}
	}
	return net.JoinHostPort(host, port), ssl, http2, dropped
}

// locations turns proxied prefix locations into routes.
func (n *nImporter) locations(chain [][]lint.Directive, ds []lint.Directive, l *spec.Listener, routes *[]spec.Route) {
	for _, d := range ds {
		if d.Name != "location" || !d.IsBlock {
			continue
		}
		path, exact := locationPath(d.Args)
		inner := append(slices.Clone(chain), d.Block)
		if path == "" {
			continue // noted by restTree with everything inside
		}
		n.carry(d)
		if exact {
			n.note(d, false, "changed: an exact location becomes a prefix route")
		}
		for _, c := range d.Block {
			if c.Name == "proxy_pass" {
				n.proxyPass(c, path, l, routes)
				if inherited(inner, "proxy_bind") == nil {
					n.unbound = append(n.unbound, d)
				}
			}
		}
		n.locationSettings(inner)
		n.locations(inner, d.Block, l, routes)
	}
}

// locationPath returns the prefix a location matches ("" for a regex or
// named location) and whether it was an exact match.
func locationPath(args []string) (string, bool) {
	p, exact := arg(args, 0), false
	switch p {
	case "=":
		p, exact = arg(args, 1), true
	case "^~":
		p = arg(args, 1)
	}
	if !routePath.MatchString(p) {
		return "", false
	}
	return p, exact
}

func (n *nImporter) proxyPass(c lint.Directive, path string, l *spec.Listener, routes *[]spec.Route) {
	u := arg(c.Args, 0)
	rest, ok := strings.CutPrefix(u, "http://")
	if !ok {
		n.note(c, true, "not carried: only http:// upstreams are carried")
		return
	}
	host, uri, hasURI := strings.Cut(rest, "/")
	var why []string
	if hasURI {
		why = append(why, fmt.Sprintf("the URI part /%s is not carried: wsctl passes the request URI unchanged", uri))
	}
	add := func(r spec.Route) {
		if r.Path == "/" && !r.WebSocket && l.DefaultBackend == "" {
			l.DefaultBackend = r.Backend
			return
		}
		*routes = append(*routes, r)
	}
	switch mp, isMap := n.maps[host]; {
	case isMap:
		ws, plain, ok := n.routeMap(mp)
		if !ok {
			n.note(c, true, "not carried: the map %s picks no upstream for a websocket upgrade", host)
			return
		}
		add(spec.Route{Path: path, WebSocket: true, Backend: ws})
		if plain != "" {
			add(spec.Route{Path: path, Backend: plain})
		}
	case n.upstreams[host]:
		add(spec.Route{Path: path, Backend: host})
	case !strings.Contains(host, "$"):
		be := n.literalBackend(host)
		if be == "" {
			n.note(c, true, "not carried: %s is neither an upstream nor host:port", host)
			return
		}
		add(spec.Route{Path: path, Backend: be})
		why = append(why, "a backend "+be+" holds the address")
	default:
		n.note(c, true, "not carried: proxy_pass through a variable other than a map on $http_upgrade")
		return
	}
	if len(why) > 0 {
		n.note(c, hasURI, "changed: %s", strings.Join(why, "; "))
	} else {
		n.carry(c)
	}
}

// literalBackend makes a one-server backend for proxy_pass http://host:port.
func (n *nImporter) literalBackend(host string) string {
	if _, _, err := net.SplitHostPort(host); err != nil {
		return ""
	}
	name := "pass_" + strings.NewReplacer(".", "_", ":", "_", "[", "", "]", "").Replace(host)
	if !n.upstreams[name] {
		n.upstreams[name] = true
		n.s.Backends = append(n.s.Backends, spec.Backend{Name: name, Balance: "roundrobin", Servers: []spec.Server{{Name: host, Address: host, Weight: 1}}})
	}
	return name
}

// locationSettings carries the proxy settings of a location and the levels
// it inherits from: the tunnel from proxy_read_timeout, connect.
func (n *nImporter) locationSettings(chain [][]lint.Directive) {
	for _, level := range chain[1:] { // the http level is read by servers that carry nothing
		for _, c := range level {
			if nSame[strings.Join(c.Words(), " ")] {
				n.carry(c)
			}
			if c.Name == "proxy_set_header" && len(c.Args) == 2 && strings.EqualFold(c.Args[0], "connection") {
				n.carry(c) // wsctl renders its own Connection map
			}
		}
	}
	read := inherited(chain, "proxy_read_timeout")
	if read != nil {
		if t, err := lint.ParseNginxTime(arg(read.Args, 0)); err == nil && t > 0 {
			switch {
			case n.tunnel == nil:
				n.tunnel = read
				n.setTunnel(t, *read)
			case n.tunnel.Line != read.Line || n.tunnel.File != read.File:
				if t != n.s.Timeouts.Tunnel.D() {
					n.note(*read, true, "changed: the spec has one tunnel timeout: %s (from %s:%d)", model.Duration(n.s.Timeouts.Tunnel.D()), n.tunnel.File, n.tunnel.Line)
				} else {
					n.carry(*read)
				}
			}
		}
	}
	if send := inherited(chain, "proxy_send_timeout"); send != nil {
		if t, err := lint.ParseNginxTime(arg(send.Args, 0)); err == nil && n.s.Timeouts.Tunnel.D() == t {
			n.carry(*send)
		} else {
			n.note(*send, false, "changed: wsctl sets proxy_send_timeout to the tunnel timeout")
		}
	}
	if conn := inherited(chain, "proxy_connect_timeout"); conn != nil {
		if t, err := lint.ParseNginxTime(arg(conn.Args, 0)); err == nil && t > 0 {
			n.s.Timeouts.Connect = spec.Duration(t)
			n.carry(*conn)
		}
	}
}

// proxyBind carries proxy_bind (http, server or location level) into
// source_address when every one is the same unicast address: the spec has
// one source address, rendered for every proxied location.
func (n *nImporter) proxyBind(https [][]lint.Directive) {
	var binds []lint.Directive
	var walk func(ds []lint.Directive)
	walk = func(ds []lint.Directive) {
		for _, d := range ds {
			if d.Name == "proxy_bind" {
				binds = append(binds, d)
			}
			walk(d.Block)
		}
	}
	for _, http := range https {
		walk(http)
	}
	if len(binds) == 0 {
		return
	}
	addr, same := sourceAddr(binds[0].Args)
	for _, d := range binds[1:] {
		if a, ok := sourceAddr(d.Args); !ok || a != addr {
			same = false
		}
	}
	if !same {
		for _, d := range binds {
			a, ok := sourceAddr(d.Args)
			if !ok {
				n.note(d, false, "not carried: the spec's source_address is one unicast address (no variable, transparent or off)")
				continue
			}
			other := slices.DeleteFunc(slices.Clone(binds), func(o lint.Directive) bool {
				b, ok := sourceAddr(o.Args)
				return ok && b == a
			})
			n.note(d, false, "not carried: the spec's source_address is one address for every location, and proxy_bind differs at %s", elsewhere(d, other))
		}
		return
	}
	n.s.SourceAddress = addr
	for _, d := range binds {
		n.carry(d)
	}
	if len(n.unbound) > 0 {
		n.note(binds[0], false, "changed: source_address applies to every proxied location, and %s had none", elsewhere(binds[0], n.unbound))
	}
}

// elsewhere lists where the directives of ds other than d are: "line 12",
// or "FILE:12" in another file.
func elsewhere(d lint.Directive, ds []lint.Directive) string {
	var at []string
	for _, o := range ds {
		switch {
		case o.File == d.File && o.Line == d.Line:
		case o.File == d.File:
			at = append(at, fmt.Sprintf("%s (line %d)", directiveText(o), o.Line))
		default:
			at = append(at, fmt.Sprintf("%s (%s:%d)", directiveText(o), o.File, o.Line))
		}
	}
	return strings.Join(at, ", ")
}

// inherited returns the directive name in effect at the innermost level of
// chain that has it.
func inherited(chain [][]lint.Directive, name string) *lint.Directive {
	for i := len(chain) - 1; i >= 0; i-- {
		for j := len(chain[i]) - 1; j >= 0; j-- {
			if chain[i][j].Name == name {
				return &chain[i][j]
			}
		}
	}
	return nil
}

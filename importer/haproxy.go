package importer

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wsctl/wsctl/lint"
	"github.com/wsctl/wsctl/model"
	"github.com/wsctl/wsctl/spec"
)

// hImporter maps HAProxy sections onto the spec.
type hImporter struct {
	*builder
	cfg      *lint.HAProxyConfig
	backends map[string]bool
	wsBack   map[string]bool // backends a WebSocket route sends to
}

func importHAProxy(cfg *lint.HAProxyConfig) *builder {
	h := &hImporter{builder: newBuilder(), cfg: cfg, backends: map[string]bool{}, wsBack: map[string]bool{}}
	for _, s := range cfg.Sections {
		for _, d := range s.Lines {
			h.keys[hKey(d.Words())] = true
		}
		if s.Kind == "backend" || s.Kind == "listen" {
			h.backends[s.Name] = true
		}
	}
	for _, s := range cfg.Sections {
		switch s.Kind {
		case "global":
			h.global(s)
		case "defaults":
			h.defaults(s)
		case "frontend", "listen":
			h.frontend(s)
		}
	}
	for _, s := range cfg.Sections {
		if s.Kind == "backend" || s.Kind == "listen" {
			h.backend(s)
		}
	}
	h.timeouts()
	for _, s := range cfg.Sections {
		if s.Kind != "global" && s.Kind != "defaults" && s.Kind != "frontend" && s.Kind != "backend" && s.Kind != "listen" {
			h.notes = append(h.notes, Note{File: cfg.File, Line: s.Line, Directive: strings.TrimSpace(s.Kind + " " + s.Name), Why: "section not carried: the spec describes frontends, backends and their servers only"})
		}
		for _, d := range s.Lines {
			if hSame[strings.Join(d.Words(), " ")] {
				h.carry(d)
			}
		}
		h.rest(s.Lines, hWhy)
	}
	return h.builder
}

// hKey is how Explain compares directives: the keyword, and for the
// keywords that take a sub-keyword (option, timeout, http-check) the
// sub-keyword too.
func hKey(words []string) string {
	if len(words) > 1 && slices.Contains([]string{"option", "timeout", "http-check", "http-request", "no", "stats"}, words[0]) {
		return words[0] + " " + words[1]
	}
	return words[0]
}

// hSame are directives wsctl renders the same way in every config: carried
// as they are.
var hSame = map[string]bool{
	"mode http": true, "option forwardfor": true, "option redispatch": true, "master-worker": true,
	"option dontlognull": true, "log global": true, "option httplog": true, "retries 3": true,
	"hash-type consistent": true, "http-check expect status 200": true, "load-server-state-from-file global": true,
}

// hWhy says why a directive nothing carried is dropped.
func hWhy(d lint.Directive) (string, bool) {
	words := d.Words()
	switch k := hKey(words); {
	case strings.HasPrefix(k, "option http-server-close"), k == "option httpclose", k == "option http-keep-alive":
		return "not carried: wsctl keeps HAProxy's default keep-alive; the upgrade works either way", false
	case k == "maxconn":
		return "changed: wsctl sizes every frontend's maxconn from connections", false
	case k == "http-request", k == "http-response", k == "tcp-request", k == "tcp-response":
		return "not carried: the spec has no request or response rules", d.Name == "tcp-request"
	case strings.HasPrefix(k, "tune"):
		return "not carried: the spec's only tuning setting is tune.bufsize; HAProxy's default applies", false
	case strings.HasPrefix(k, "timeout "):
		return "not carried: HAProxy does not read it here (client-side timeouts count in frontends, server-side ones in backends)", false
	case k == "mode":
		return "not carried: wsctl balances in mode http only", true
	}
	return "not carried: the spec has no equivalent", false
}

func (h *hImporter) global(s *lint.HAProxySection) {
	for _, d := range s.Lines {
		switch {
		case hSame[strings.Join(d.Words(), " ")]:
			h.carry(d)
		case d.Name == "maxconn" && len(d.Args) == 1:
			if n, err := strconv.Atoi(d.Args[0]); err == nil && n > 0 {
				h.s.Connections = n
				h.note(d, false, "changed: connections %d; wsctl renders maxconn %d (+%d%% headroom)", n, model.MaxConn(n), model.HeadroomPercent)
			}
		case d.Name == "log" && len(d.Args) >= 1:
			h.s.HAProxy.Log = d.Args[0]
			if len(d.Args) > 1 && strings.Join(d.Args[1:], " ") != "local0 info" {
				h.note(d, false, "changed: wsctl logs to %s with facility local0, level info", d.Args[0])
			} else {
				h.carry(d)
			}
		case d.Name == "stats" && len(d.Args) >= 2 && d.Args[0] == "socket" && slices.Contains(d.Args, "admin"):
			h.s.HAProxy.AdminSocket = d.Args[1]
			h.carry(d)
		case d.Name == "hard-stop-after" && len(d.Args) == 1:
			h.duration(d, d.Args[0], &h.s.HAProxy.HardStopAfter)
		case d.Name == "tune.bufsize" && len(d.Args) == 1:
			n, err := strconv.Atoi(d.Args[0])
			if err != nil || n < spec.MinTuneBufsize || n > spec.MaxTuneBufsize {
				h.note(d, false, "not carried: the spec's tune_bufsize is %d to %d bytes; HAProxy's default 16384 applies", spec.MinTuneBufsize, spec.MaxTuneBufsize)
				continue
			}
			h.s.HAProxy.TuneBufsize = n
			h.carry(d)
		case d.Name == "server-state-file" && len(d.Args) == 1:
			h.s.HAProxy.StateFile = d.Args[0]
			h.carry(d)
		}
	}
}

// defaults carries what a defaults section holds beyond timeouts (read
// with the sections that use them): the source address.
func (h *hImporter) defaults(s *lint.HAProxySection) {
	for _, d := range s.Lines {
		if d.Name != "source" {
			continue
		}
		addr, ok := sourceAddr(d.Args)
		if !ok {
			h.note(d, false, "not carried: the spec's source_address is one unicast address (no port range, usesrc or interface)")
			continue
		}
		h.s.SourceAddress = addr
		h.carry(d)
	}
}

// duration sets *dst from the HAProxy time word, noting what is unparsable.
func (h *hImporter) duration(d lint.Directive, word string, dst *spec.Duration) bool {
	v, err := lint.ParseHAProxyTime(word)
	if err != nil || v == 0 {
		h.note(d, false, "not carried: %q is not a duration wsctl reads", word)
		return false
	}
	*dst = spec.Duration(v)
	h.carry(d)
	return true
}

// hACL is what an ACL tests, as far as routes can say it.
type hACL struct {
	ws    bool     // Upgrade: websocket (or Connection: upgrade)
	paths []string // path prefixes
	why   string   // set when routes cannot say it
}

var routePath = regexp.MustCompile(`^/[A-Za-z0-9._~%/-]*$`)

// classify reads an ACL criterion: fetch, flags, patterns.
func classify(words []string) (hACL, string) {
	fetch := strings.ToLower(words[0])
	var pats []string
	match := ""
	for i := 1; i < len(words); i++ {
		switch w := words[i]; {
		case w == "-i" || w == "--":
		case w == "-m" && i+1 < len(words):
			match = words[i+1]
			i++
		case strings.HasPrefix(w, "-"):
			return hACL{why: "the flag " + w + " has no route equivalent"}, ""
		default:
			pats = append(pats, w)
		}
	}
	base, kind, _ := strings.Cut(fetch, "_")
	if match != "" {
		kind = match
	}
	header := ""
	if i := strings.Index(base, "("); i >= 0 && strings.HasSuffix(base, ")") {
		header = strings.ToLower(base[i+1 : len(base)-1])
		base = base[:i]
	}
	if j := strings.Index(kind, "("); j >= 0 && strings.HasSuffix(kind, ")") {
		header = strings.ToLower(kind[j+1 : len(kind)-1])
		kind = kind[:j]
	}
	lower := strings.ToLower(strings.Join(pats, " "))
	switch {
	case (base == "hdr" || base == "req.hdr") && header == "upgrade" && lower == "websocket":
		return hACL{ws: true}, ""
	case (base == "hdr" || base == "req.hdr") && header == "connection" && lower == "upgrade":
		return hACL{ws: true}, "changed: matched as Upgrade: websocket (wsctl's WebSocket test) instead of Connection: upgrade"
	case base == "path" || base == "url":
		for _, p := range pats {
			if !routePath.MatchString(p) {
				return hACL{why: fmt.Sprintf("the pattern %q is not a path prefix a route can hold", p)}, ""
			}
		}
		switch kind {
		case "beg":
			return hACL{paths: pats}, ""
		case "", "sub", "dir":
			return hACL{paths: pats}, fmt.Sprintf("changed: %s matched as a path prefix (routes match prefixes only)", words[0])
		}
	}
	return hACL{why: fmt.Sprintf("%s is not a test routes can hold (path prefix or Upgrade header)", words[0])}, ""
}

func (h *hImporter) frontend(s *lint.HAProxySection) {
	l := spec.Listener{Name: s.Name}
	var binds []spec.Bind
	acls := map[string]hACL{}
	for _, d := range s.Lines {
		switch {
		case hSame[strings.Join(d.Words(), " ")]:
			h.carry(d)
		case d.Name == "bind":
			if b, ok := h.bind(d); ok {
				binds = append(binds, b)
			}
		case d.Name == "acl" && len(d.Args) >= 2:
			a, change := classify(d.Args[1:])
			prev, seen := acls[d.Args[0]]
			if seen { // several lines of one ACL name are ORed
				a.paths = append(prev.paths, a.paths...)
				a.ws = a.ws && prev.ws
				a.why = firstOf(prev.why, a.why)
			}
			acls[d.Args[0]] = a
			if a.why != "" {
				h.note(d, false, "not carried: %s", a.why)
			} else if change != "" {
				h.note(d, false, "%s", change)
			} else {
				h.carry(d)
			}
		case d.Name == "use_backend" && len(d.Args) >= 1:
			h.useBackend(d, acls, &l)
		case d.Name == "default_backend" && len(d.Args) == 1:
			if h.backends[d.Args[0]] {
				l.DefaultBackend = d.Args[0]
				h.carry(d)
			}
		case d.Name == "http-request" && len(d.Args) >= 3 && d.Args[0] == "set-header" && strings.EqualFold(d.Args[1], "X-Forwarded-Proto"):
			h.note(d, false, "changed: wsctl sets X-Forwarded-Proto itself, https when the listener terminates TLS")
		}
	}
	if s.Kind == "listen" {
		l.DefaultBackend = s.Name
	}
	if mode := s.Mode(); mode != "http" {
		h.notes = append(h.notes, Note{File: h.cfg.File, Line: s.Line, Directive: s.Kind + " " + s.Name, Why: "changed: mode " + mode + " becomes mode http (the spec balances HTTP and WebSockets)", Important: true})
	}
	if len(binds) == 0 {
		h.notes = append(h.notes, Note{File: h.cfg.File, Line: s.Line, Directive: s.Kind + " " + s.Name, Why: "listener not carried: no bind wsctl can render", Important: true})
		return
	}
	setBinds(&l, binds)
	h.s.Listeners = append(h.s.Listeners, l)
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// bind reads a bind line: its address and TLS.
func (h *hImporter) bind(d lint.Directive) (spec.Bind, bool) {
	if len(d.Args) == 0 {
		return spec.Bind{}, false
	}
	addr, ok := bindAddr(d.Args[0])
	if !ok {
		h.note(d, true, "not carried: %q is not an address:port a listener can hold", d.Args[0])
		return spec.Bind{}, false
	}
	if !h.bindOnce(d, addr) {
		return spec.Bind{}, false
	}
	l := spec.Bind{Address: addr}
	var dropped, alpn []string
	for i := 1; i < len(d.Args); i++ {
		switch w := d.Args[i]; {
		case w == "ssl":
			if l.TLS == nil {
				l.TLS = &spec.TLS{}
			}
		case w == "crt" && i+1 < len(d.Args):
			if l.TLS == nil {
				l.TLS = &spec.TLS{}
			}
			l.TLS.Cert = d.Args[i+1]
			i++
		case w == "alpn" && i+1 < len(d.Args):
			var why string
			if alpn, why = importALPN(d.Args[i+1]); why != "" {
				dropped = append(dropped, why)
			}
			i++
		default:
			dropped = append(dropped, w)
		}
	}
	important := false
	if l.TLS != nil && l.TLS.Cert == "" {
		l.TLS = nil
		dropped = append(dropped, "ssl without crt")
		important = true
	}
	if l.TLS != nil && !slices.Equal(alpn, []string{spec.DefaultALPN}) {
		l.TLS.ALPN = alpn
	}
	if len(dropped) > 0 {
		h.note(d, important || slices.Contains(dropped, "accept-proxy"), "changed: not carried: %s", strings.Join(dropped, ", "))
	} else {
		h.carry(d)
	}
	return l, true
}

// importALPN maps a bind's alpn list onto the spec's: h2 first when offered,
// then http/1.1, which the spec requires (a client offering only http/1.1
// got no ALPN answer before and spoke HTTP/1.1 anyway). why says what
// changed ("" when nothing did).
func importALPN(word string) (alpn []string, why string) {
	orig := strings.Split(word, ",")
	if slices.Contains(orig, spec.ALPNHTTP2) {
		alpn = append(alpn, spec.ALPNHTTP2)
	}
	alpn = append(alpn, spec.ALPNHTTP11)
	if slices.Equal(alpn, orig) {
		return alpn, ""
	}
	return alpn, fmt.Sprintf("alpn %s becomes %s (the spec offers h2 first when at all, and always http/1.1, where WebSockets upgrade)", word, strings.Join(alpn, ","))
}

// bindAddr turns an HAProxy bind address into the spec's address:port.
func bindAddr(a string) (string, bool) {
	a = strings.TrimPrefix(strings.TrimPrefix(a, "ipv4@"), "ipv6@")
	i := strings.LastIndexByte(a, ':')
	if i < 0 {
		return "", false
	}
	host, port := a[:i], a[i+1:]
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", false
	}
	switch {
	case host == "" || host == "*":
	case net.ParseIP(host) != nil:
	default:
		return "", false
	}
	return net.JoinHostPort(host, port), true
}

// useBackend turns `use_backend B if A B || C` into one route per
// alternative and path.
func (h *hImporter) useBackend(d lint.Directive, acls map[string]hACL, l *spec.Listener) {
	be := d.Args[0]
	if !h.backends[be] {
		h.note(d, true, "not carried: %s is not a backend of this file", be)
		return
	}
	cond := d.Args[1:]
	if len(cond) == 0 {
		l.Routes = append(l.Routes, spec.Route{Path: "/", Backend: be})
		h.note(d, false, "changed: a route on path / (every request)")
		return
	}
	if cond[0] != "if" {
		h.note(d, true, "not carried: only `if` conditions become routes")
		return
	}
	var routes []spec.Route
	for _, alt := range splitOr(cond[1:]) {
		ws, paths, why := h.alternative(alt, acls)
		if why != "" {
			h.note(d, true, "not carried: %s", why)
			return
		}
		if len(paths) == 0 {
			paths = []string{""}
		}
		for _, p := range paths {
			routes = append(routes, spec.Route{Path: p, WebSocket: ws, Backend: be})
		}
		if ws {
			h.wsBack[be] = true
		}
	}
	l.Routes = append(l.Routes, routes...)
	h.carry(d)
}

// splitOr splits a condition at "||" and "or".
func splitOr(cond []string) [][]string {
	var alts [][]string
	start := 0
	for i, w := range cond {
		if w == "||" || w == "or" {
			alts = append(alts, cond[start:i])
			start = i + 1
		}
	}
	return append(alts, cond[start:])
}

// alternative reads ANDed terms: ACL names and anonymous { … } ACLs.
func (h *hImporter) alternative(terms []string, acls map[string]hACL) (ws bool, paths []string, why string) {
	for i := 0; i < len(terms); i++ {
		t := terms[i]
		var a hACL
		switch {
		case t == "!" || strings.HasPrefix(t, "!"):
			return false, nil, "a negated test has no route equivalent"
		case t == "{":
			end := slices.Index(terms[i:], "}")
			if end < 2 {
				return false, nil, "an unclosed { } test"
			}
			a, _ = classify(terms[i+1 : i+end])
			i += end
		default:
			var ok bool
			if a, ok = acls[t]; !ok {
				return false, nil, fmt.Sprintf("ACL %s is not defined before it", t)
			}
		}
		if a.why != "" {
			return false, nil, a.why
		}
		ws = ws || a.ws
		if len(a.paths) > 0 {
			if paths != nil {
				return false, nil, "two path tests in one condition"
			}
			paths = a.paths
		}
	}
	return ws, paths, ""
}

// hValueKeywords are server keywords that take a value.
var hValueKeywords = []string{
	"weight", "inter", "fastinter", "downinter", "fall", "rise", "slowstart", "maxconn", "maxqueue",
	"minconn", "cookie", "port", "addr", "resolvers", "init-addr", "on-marked-down", "on-marked-up",
	"on-error", "error-limit", "observe", "ca-file", "crt", "verify", "sni", "alpn", "check-alpn",
	"proto", "id", "track", "agent-port", "agent-inter", "agent-send", "redir", "source",
	"max-reuse", "pool-max-conn", "pool-purge-delay", "resolve-prefer", "resolve-net", "namespace",
	"ws", "check-sni", "pool-low-conn", "tcp-ut", "log-proto", "ciphers", "ciphersuites",
}

// serverOpts parses server (or default-server) keywords after the address.
func serverOpts(words []string) map[string]string {
	o := map[string]string{}
	for i := 0; i < len(words); i++ {
		if slices.Contains(hValueKeywords, words[i]) && i+1 < len(words) {
			o[words[i]] = words[i+1]
			i++
		} else {
			o[words[i]] = ""
		}
	}
	return o
}

func (h *hImporter) backend(s *lint.HAProxySection) {
	b := spec.Backend{Name: s.Name}
	ws := h.wsBack[s.Name] || s.Kind == "listen"
	if d, ok := s.Lookup("balance"); ok {
		h.balance(d, &b)
	} else {
		b.Balance = "roundrobin" // HAProxy's default; wsctl's is leastconn
	}
	if d, ok := s.Lookup("hash-type"); ok && strings.Join(d.Args, " ") != "consistent" {
		h.note(d, b.Balance == "hash" || b.Balance == "source", "changed: wsctl hashes consistently, so a server coming or going moves only its own share")
	}
	if d, ok := s.Lookup("cookie"); ok {
		h.cookie(d, &b)
	}
	h.health(s, &b)
	var defaults map[string]string
	if d, ok := s.Lookup("default-server"); ok {
		defaults = serverOpts(d.Args)
		h.carry(d)
	}
	first := map[string]string{}
	for _, d := range s.Lines {
		if d.Name != "server" || len(d.Args) < 2 {
			continue
		}
		opts := serverOpts(d.Args[2:])
		for k, v := range defaults {
			if _, ok := opts[k]; !ok {
				opts[k] = v
			}
		}
		h.server(d, opts, first, &b)
	}
	if !slices.ContainsFunc(s.Lines, func(d lint.Directive) bool { return d.Name == "server" && slices.Contains(d.Args, "weight") }) && defaults["weight"] == "" {
		for i := range b.Servers {
			b.Servers[i].Weight = 0 // all equal: wsctl's default keeps the ratios
		}
	}
	if len(b.Servers) == 0 {
		h.notes = append(h.notes, Note{File: h.cfg.File, Line: s.Line, Directive: s.Kind + " " + s.Name, Why: "carried without servers: add them under servers or consul", Important: ws})
	}
	h.s.Backends = append(h.s.Backends, b)
}

func (h *hImporter) balance(d lint.Directive, b *spec.Backend) {
	arg := strings.Join(d.Args, " ")
	switch {
	case arg == "leastconn" || arg == "roundrobin":
		b.Balance = arg
		h.carry(d)
	case arg == "source":
		b.Balance = "source"
		h.carry(d)
	case strings.HasPrefix(arg, "url_param ") && len(d.Args) == 2:
		b.Balance, b.HashKey = "hash", "url_param:"+d.Args[1]
		h.carry(d)
	case strings.HasPrefix(arg, "hdr(") && strings.HasSuffix(arg, ")"):
		b.Balance, b.HashKey = "hash", "header:"+arg[4:len(arg)-1]
		h.carry(d)
	case strings.HasPrefix(arg, "hash req.cook(") && strings.HasSuffix(arg, ")"):
		b.Balance, b.HashKey = "hash", "cookie:"+strings.TrimSuffix(strings.TrimPrefix(arg, "hash req.cook("), ")")
		h.carry(d)
	default:
		b.Balance = "leastconn"
		h.note(d, true, "changed: balance leastconn (the spec balances by leastconn, roundrobin, source or a hash on a cookie, header or URL parameter)")
	}
}

func (h *hImporter) cookie(d lint.Directive, b *spec.Backend) {
	if len(d.Args) == 0 {
		return
	}
	b.Sticky.Cookie = d.Args[0]
	opts := d.Args[1:]
	if !slices.Contains(opts, "insert") {
		h.note(d, true, "changed: wsctl inserts the cookie (insert indirect nocache httponly); %s mode is not carried", strings.Join(opts, " "))
		return
	}
	if !slices.Contains(opts, "httponly") {
		off := false
		b.Sticky.HTTPOnly = &off
	}
	var changed []string
	for _, o := range []string{"indirect", "nocache"} {
		if !slices.Contains(opts, o) {
			changed = append(changed, "adds "+o)
		}
	}
	for _, o := range opts {
		if !slices.Contains([]string{"insert", "indirect", "nocache", "httponly", "secure", "dynamic"}, o) {
			changed = append(changed, "drops "+o)
		}
	}
	if len(changed) > 0 {
		h.note(d, false, "changed: %s; secure is set when every listener routing here terminates TLS", strings.Join(changed, ", "))
	} else {
		h.carry(d)
	}
}

// health reads option httpchk and http-check lines.
func (h *hImporter) health(s *lint.HAProxySection, b *spec.Backend) {
	d, ok := s.Lookup("option", "httpchk")
	if !ok {
		h.notes = append(h.notes, Note{File: h.cfg.File, Line: s.Line, Directive: s.Kind + " " + s.Name, Why: fmt.Sprintf("changed: no HTTP health check; wsctl checks GET %s expecting 200 on every server: set health.path to a URL the servers answer, or they are all marked down", spec.DefaultHealthPath), Important: true})
		return
	}
	send := slices.ContainsFunc(s.Lines, func(c lint.Directive) bool { return c.Name == "http-check" && arg(c.Args, 0) == "send" })
	switch args := d.Args[1:]; {
	case len(args) == 0 && send:
		h.carry(d) // http-check send says what is sent
	case len(args) == 0:
		h.note(d, true, "changed: option httpchk checked OPTIONS /; wsctl checks GET %s", spec.DefaultHealthPath)
	case len(args) == 1:
		h.checkPath(d, args[0], b)
	default:
		h.checkPath(d, args[1], b)
	}
	for _, c := range s.Lines {
		if c.Name != "http-check" || len(c.Args) == 0 {
			continue
		}
		words := strings.Join(c.Args, " ")
		switch {
		case hSame[strings.Join(c.Words(), " ")]:
			h.carry(c)
		case words == "expect status 101":
			b.Health.WebSocket = true
			h.carry(c)
		case c.Args[0] == "send":
			h.checkPath(c, arg(c.Args, slices.Index(c.Args, "uri")+1), b)
			if hdrHost := hostHeader(c.Args); hdrHost != "" {
				b.Health.Host = hdrHost
			}
		default:
			h.note(c, false, "changed: wsctl expects status 200 (or 101 with health.websocket)")
		}
	}
}

func hostHeader(args []string) string {
	for i := 0; i+2 < len(args); i++ {
		if args[i] == "hdr" && strings.EqualFold(args[i+1], "host") {
			return args[i+2]
		}
	}
	return ""
}

func (h *hImporter) checkPath(d lint.Directive, uri string, b *spec.Backend) {
	if routePath.MatchString(uri) {
		b.Health.Path = uri
		h.carry(d)
		return
	}
	h.note(d, true, "changed: check path %q is not one the spec holds; wsctl checks %s", uri, spec.DefaultHealthPath)
}

// server carries one server line; the backend-wide settings (check
// timing, slowstart, maxconn) come from the first server.
func (h *hImporter) server(d lint.Directive, opts, first map[string]string, b *spec.Backend) {
	name, addr := d.Args[0], d.Args[1]
	if _, _, err := net.SplitHostPort(addr); err != nil {
		h.note(d, true, "not carried: %q has no port", addr)
		return
	}
	srv := spec.Server{Name: name, Address: addr}
	var changed []string
	important := false
	perBackend := map[string]bool{"inter": true, "fall": true, "rise": true, "slowstart": true, "maxconn": true}
	for k, v := range opts {
		switch {
		case k == "check" || k == "weight":
		case k == "cookie":
			if b.Sticky.Cookie != "" && v != name {
				changed = append(changed, fmt.Sprintf("cookie value %s becomes %s (wsctl uses the server name)", v, name))
			}
		case perBackend[k]:
			if len(first) < len(perBackend) && !h.setPerBackend(k, v, b) {
				changed = append(changed, k+" "+v+" (not readable)")
			}
		default:
			changed = append(changed, strings.TrimSpace(k+" "+v))
			important = important || k == "backup" || k == "ssl" || k == "send-proxy" || k == "send-proxy-v2"
		}
	}
	for k := range perBackend {
		if f, seen := first[k]; seen && f != opts[k] {
			changed = append(changed, fmt.Sprintf("%s: the backend's first server's value applies", k))
		}
	}
	if len(first) == 0 {
		for k := range perBackend {
			first[k] = opts[k]
		}
	}
	if _, ok := opts["check"]; !ok {
		changed = append(changed, "wsctl checks every server")
	}
	if w, ok := opts["weight"]; ok {
		n, err := strconv.Atoi(w)
		if err != nil || n < 1 || n > 256 {
			changed = append(changed, "weight "+w+" (the spec's range is 1 to 256)")
			important = true
		} else {
			srv.Weight = n
		}
	} else {
		srv.Weight = 1 // HAProxy's default; wsctl's is 100
	}
	b.Servers = append(b.Servers, srv)
	if len(changed) > 0 {
		slices.Sort(changed)
		h.note(d, important, "changed: %s", strings.Join(changed, "; "))
	} else {
		h.carry(d)
	}
}

// setPerBackend sets a backend-wide server setting; false when v does not
// read.
func (h *hImporter) setPerBackend(k, v string, b *spec.Backend) bool {
	var err error
	var t time.Duration
	n, nerr := strconv.Atoi(v)
	switch k {
	case "inter":
		t, err = lint.ParseHAProxyTime(v)
		b.Health.Interval = spec.Duration(t)
	case "slowstart":
		t, err = lint.ParseHAProxyTime(v)
		ss := spec.Duration(t)
		b.Slowstart = &ss
	case "fall":
		b.Health.Fall, err = n, nerr
	case "rise":
		b.Health.Rise, err = n, nerr
	case "maxconn":
		b.ServerMaxConn, err = n, nerr
	}
	return err == nil
}

// hTimeouts are the timeouts the spec holds and which side reads them.
var hTimeouts = []struct {
	name     string
	frontend bool
	field    func(*spec.Timeouts) *spec.Duration
}{
	{"connect", false, func(t *spec.Timeouts) *spec.Duration { return &t.Connect }},
	{"client", true, func(t *spec.Timeouts) *spec.Duration { return &t.Client }},
	{"server", false, func(t *spec.Timeouts) *spec.Duration { return &t.Server }},
	{"http-request", true, func(t *spec.Timeouts) *spec.Duration { return &t.HTTPRequest }},
	{"queue", false, func(t *spec.Timeouts) *spec.Duration { return &t.Queue }},
	{"tunnel", false, func(t *spec.Timeouts) *spec.Duration { return &t.Tunnel }},
	{"client-fin", true, func(t *spec.Timeouts) *spec.Duration { return &t.ClientFin }},
	{"server-fin", false, func(t *spec.Timeouts) *spec.Duration { return &t.ServerFin }},
}

// timeouts sets each spec timeout from the value in effect for the proxies
// that read it (WebSocket backends first); the spec has one value for all,
// so lines saying otherwise are noted.
func (h *hImporter) timeouts() {
	var fronts, backs []*lint.HAProxySection
	for _, s := range h.cfg.Sections {
		if s.Kind == "frontend" || s.Kind == "listen" {
			fronts = append(fronts, s)
		}
		if s.Kind == "backend" || s.Kind == "listen" {
			if h.wsBack[s.Name] {
				backs = append([]*lint.HAProxySection{s}, backs...)
			} else {
				backs = append(backs, s)
			}
		}
	}
	for _, t := range hTimeouts {
		secs := backs
		if t.frontend {
			secs = fronts
		}
		var chosen *lint.Directive
		var value time.Duration
		for _, s := range secs {
			d, ok := s.Lookup("timeout", t.name)
			if !ok || len(d.Args) < 2 {
				continue
			}
			v, err := lint.ParseHAProxyTime(d.Args[1])
			switch {
			case err != nil || v == 0:
				h.note(d, t.name == "tunnel", "not carried: %q is not a timeout wsctl reads", d.Args[1])
			case chosen == nil:
				chosen, value = &d, v
				*t.field(&h.s.Timeouts) = spec.Duration(v)
				h.carry(d)
			case v != value:
				h.note(d, t.name == "tunnel", "changed: the spec has one %s timeout for every proxy: %s (from line %d)", t.name, model.Duration(value), chosen.Line)
			default:
				h.carry(d)
			}
		}
		if t.name == "tunnel" && chosen != nil {
			h.setTunnel(value, *chosen)
		}
	}
	// Every timeout line written outside what the proxies read (a
	// frontend's timeout server, a tunnel in a frontend) is noted by rest.
	if h.s.Timeouts.Tunnel == 0 {
		h.inheritTunnel(backs)
	}
}

// inheritTunnel keeps the idle timeout of upgraded connections when no
// `timeout tunnel` is set: HAProxy then cuts them at the smaller of timeout
// client and server.
func (h *hImporter) inheritTunnel(backs []*lint.HAProxySection) {
	t := h.s.Timeouts
	at := lint.Directive{File: h.cfg.File, Name: "timeout", Args: []string{"tunnel"}}
	if len(backs) > 0 {
		at.Line = backs[0].Line
	}
	if t.Client == 0 && t.Server == 0 {
		h.notes = append(h.notes, Note{File: at.File, Line: at.Line, Directive: "timeout tunnel", Why: "changed: no tunnel, client or server timeout bounded idle WebSockets; wsctl's default tunnel (three heartbeats) does", Important: true})
		return
	}
	// The side with a timeout cuts the tunnel; with both, the shorter.
	tunnel := max(t.Client.D(), t.Server.D())
	if t.Client != 0 && t.Server != 0 {
		tunnel = min(t.Client.D(), t.Server.D())
	}
	h.setTunnel(tunnel, at)
	h.notes = append(h.notes, Note{File: at.File, Line: at.Line, Directive: "timeout tunnel", Why: fmt.Sprintf("changed: absent, so idle WebSockets were cut at timeout client/server; the spec sets tunnel %s to keep that", model.Duration(tunnel))})
}

package lint

import (
	"regexp"
	"slices"
	"strings"
	"time"
)

// hModel is what the HAProxy rules read: the parsed sections plus who routes
// to whom and which backends carry WebSockets.
type hModel struct {
	cfg     *hConfig
	opt     settings
	global  []*hSection               // every global section (HAProxy merges them)
	routers map[*hSection][]*hSection // backend → the frontends routing to it
	ws      []*hSection               // WebSocket backends and listens, in file order
	out     findings
}

// wsName matches names and paths that suggest WebSockets: ws, wss,
// websocket(s), socket(s), socket.io, socketio, sockjs, cable, realtime as a
// word of their own ("ws_cluster", "/ws/", "websocket_nodes"; not "news").
var wsName = regexp.MustCompile(`(?i)(^|[^a-z0-9])(wss?|websockets?|sockets?|socket\.?io|sockjs|cable|realtime)([^a-z0-9]|$)`)

// newHModel resolves routes and decides which backends are WebSocket
// backends. A backend is one when a frontend routes to it under a condition
// on the Upgrade or Connection header or on a WebSocket-looking path or ACL
// name, or when its own name looks like WebSockets (wsName). When no backend
// in the file shows any of these signs, every "mode http" backend and listen
// is linted as a WebSocket backend (every backend when none is in mode http:
// WebSockets balanced at layer 4): a file given to a WebSocket linter is
// assumed to carry WebSockets unless it says which backends do.
func newHModel(cfg *hConfig, opt settings) *hModel {
	m := &hModel{cfg: cfg, opt: opt, routers: map[*hSection][]*hSection{}}
	byName := map[string]*hSection{}
	for _, s := range cfg.sections {
		switch {
		case s.kind == "global":
			m.global = append(m.global, s)
		case s.hasBackend():
			byName[s.name] = s
		}
	}
	signalled := map[*hSection]bool{}
	for _, fe := range cfg.sections {
		if !fe.hasFrontend() {
			continue
		}
		if fe.kind == "listen" {
			m.routers[fe] = append(m.routers[fe], fe)
		}
		wsACLs := fe.wsACLs()
		for _, l := range fe.lines {
			if (l.args[0] != "use_backend" && l.args[0] != "default_backend") || len(l.args) < 2 {
				continue
			}
			be, ok := byName[l.args[1]]
			if !ok {
				continue
			}
			if !slices.Contains(m.routers[be], fe) {
				m.routers[be] = append(m.routers[be], fe)
			}
			if l.args[0] == "use_backend" && wsCondition(l.args[2:], wsACLs) {
				signalled[be] = true
			}
		}
	}
	var backends, httpBackends []*hSection
	for _, s := range cfg.sections {
		if !s.hasBackend() {
			continue
		}
		backends = append(backends, s)
		if s.mode() == "http" {
			httpBackends = append(httpBackends, s)
		}
		if wsName.MatchString(s.name) {
			signalled[s] = true
		}
	}
	switch {
	case len(signalled) > 0:
		m.ws = slices.DeleteFunc(backends, func(s *hSection) bool { return !signalled[s] })
	case len(httpBackends) > 0:
		m.ws = httpBackends
	default:
		m.ws = backends // WebSockets balanced at layer 4
	}
	return m
}

// mode is the effective proxy mode; HAProxy's default is tcp.
func (s *hSection) mode() string {
	if l, _, ok := s.lookup("mode"); ok && len(l.args) > 1 {
		return l.args[1]
	}
	return "tcp"
}

// wsACLs returns the names of the ACLs of s that test for a WebSocket.
func (s *hSection) wsACLs() map[string]bool {
	acls := map[string]bool{}
	for _, l := range s.all("acl") {
		if len(l.args) > 2 && (wsName.MatchString(l.args[1]) || wsCriterion(l.args[2:])) {
			acls[l.args[1]] = true
		}
	}
	return acls
}

// wsCriterion reports whether an ACL criterion and its patterns test for a
// WebSocket: a header fetch on Upgrade or Connection, or a path or URL fetch
// with a WebSocket-looking pattern.
func wsCriterion(words []string) bool {
	fetch := strings.ToLower(words[0])
	if strings.Contains(fetch, "hdr") && (strings.Contains(fetch, "(upgrade") || strings.Contains(fetch, "(connection")) {
		return true
	}
	if strings.HasPrefix(fetch, "path") || strings.HasPrefix(fetch, "url") {
		return slices.ContainsFunc(words[1:], wsName.MatchString)
	}
	return false
}

// wsCondition reports whether a use_backend condition ("if is_ws", "if {
// hdr(upgrade) -i websocket }") selects WebSockets. Negated terms and
// "unless" conditions select everything else and don't count.
func wsCondition(cond []string, wsACLs map[string]bool) bool {
	if len(cond) == 0 || cond[0] != "if" {
		return false
	}
	for i := 1; i < len(cond); i++ {
		w := cond[i]
		if w == "{" {
			end := slices.Index(cond[i:], "}")
			if end < 0 {
				end = len(cond) - i
			}
			if end > 1 && cond[i-1] != "!" && wsCriterion(cond[i+1:i+end]) {
				return true
			}
			i += end
			continue
		}
		if wsACLs[w] { // a negated "!is_ws" is not in wsACLs
			return true
		}
	}
	return false
}

// timeout returns the effective "timeout name" of s and the line setting it;
// set is false when it is absent, zero (HAProxy's "unset") or unparsable
// (haproxy/timeout-value reports that).
func (s *hSection) timeout(name string) (d time.Duration, l hLine, set bool) {
	l, _, ok := s.lookup("timeout", name)
	if !ok || len(l.args) < 3 {
		return 0, hLine{}, false
	}
	d, err := parseHAProxyTime(l.args[2])
	if err != nil || d == 0 {
		return 0, hLine{}, false
	}
	return d, l, true
}

// clientSide returns the sections whose client-side timeouts apply to the
// WebSockets of backend be: the frontends routing to it, or be itself (its
// defaults hold what an unknown frontend most likely inherits).
func (m *hModel) clientSide(be *hSection) []*hSection {
	if fes := m.routers[be]; len(fes) > 0 {
		return fes
	}
	return []*hSection{be}
}

// at is the position of line l of the config.
func (m *hModel) at(line int) pos { return pos{file: m.cfg.file, line: line} }

// globalLookup returns the last global line starting with key.
func (m *hModel) globalLookup(key ...string) (hLine, bool) {
	for i := len(m.global) - 1; i >= 0; i-- {
		if l, ok := m.global[i].own(key...); ok {
			return l, true
		}
	}
	return hLine{}, false
}

// lintHAProxy runs every HAProxy rule over cfg.
func lintHAProxy(cfg *hConfig, opt settings) []Finding {
	m := newHModel(cfg, opt)
	m.lintGlobal()
	m.lintMetrics()
	m.lintKeywords()
	m.lintTimeouts()
	for _, be := range m.ws {
		m.lintBalance(be)
		m.lintPersistence(be)
		m.lintChecks(be)
		m.lintSourcePorts(be)
	}
	return m.out
}

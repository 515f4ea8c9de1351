package model

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/wsctl/wsctl/discovery"
	"github.com/wsctl/wsctl/spec"
)

// Targets wsctl renders for: the spec's proxy values.
const (
	TargetHAProxy = spec.ProxyHAProxy
	TargetNginx   = spec.ProxyNginx
)

// SlotPrefix starts the names of spare slots; spec server names cannot start
// with '_', so a slot never collides with a real server.
const SlotPrefix = "_slot"

// slotAddr is where a spare slot points until it is filled: a disabled server
// never receives traffic or checks.
var slotHost = discovery.MustParseIP("127.0.0.1")

const slotPort = 1

// nginxSlack is descriptors beyond the proxied connections: listeners, log
// files, upstream keepalive, health and plain HTTP traffic.
const nginxSlack = 1024

// Build joins the spec with a discovery snapshot into the desired state for
// target. It fails when the target cannot do what the spec asks.
func Build(s *spec.Spec, target string, snap discovery.Snapshot) (*Model, error) {
	if target != TargetHAProxy && target != TargetNginx {
		return nil, fmt.Errorf("model: unknown target %q (want haproxy or nginx)", target)
	}
	maxConn := MaxConn(s.Connections)
	workerConns := 2*maxConn + nginxSlack
	m := &Model{
		Target:      target,
		Connections: s.Connections,
		MaxConn:     maxConn,
		Heartbeat:   Duration(s.Heartbeat.D()),
		Timeouts: Timeouts{
			Connect:     Duration(s.Timeouts.Connect.D()),
			Client:      Duration(s.Timeouts.Client.D()),
			Server:      Duration(s.Timeouts.Server.D()),
			HTTPRequest: Duration(s.Timeouts.HTTPRequest.D()),
			Queue:       Duration(s.Timeouts.Queue.D()),
			Tunnel:      Duration(s.Timeouts.Tunnel.D()),
			ClientFin:   Duration(s.Timeouts.ClientFin.D()),
			ServerFin:   Duration(s.Timeouts.ServerFin.D()),
		},
		HAProxy: HAProxy{
			AdminSocket:   s.HAProxy.AdminSocket,
			MasterSocket:  s.HAProxy.MasterSocket,
			HardStopAfter: Duration(s.HAProxy.HardStopAfter.D()),
			StateFile:     s.HAProxy.StateFile,
			Log:           s.HAProxy.Log,
			TuneBufsize:   s.HAProxy.TuneBufsize,
		},
		Nginx: Nginx{
			WorkerProcesses:       "auto",
			WorkerConnections:     workerConns,
			RlimitNofile:          workerConns + nginxSlack,
			WorkerShutdownTimeout: Duration(s.Nginx.WorkerShutdownTimeout.D()),
			PidFile:               s.Nginx.PidFile,
			ErrorLog:              s.Nginx.ErrorLog,
			TempDir:               s.Nginx.TempDir,
			ProxyTimeout:          Duration(s.Timeouts.Tunnel.D()),
		},
		TrustedFront: trustedFront(s),
	}
	if s.Nginx.WorkerProcesses > 0 {
		m.Nginx.WorkerProcesses = strconv.Itoa(s.Nginx.WorkerProcesses)
	}
	if target == TargetNginx && s.Front != nil {
		if err := frontLayer(s, m); err != nil {
			return nil, err
		}
	} else {
		if err := balancingLayer(s, target, snap, m); err != nil {
			return nil, err
		}
		m.SourceAddress = s.SourceAddress
	}
	statsSpec := s.Stats
	if target == TargetNginx && s.Front != nil {
		statsSpec = s.Front.Stats // the top-level one is HAProxy's
	}
	st, err := stats(s, statsSpec, target)
	if err != nil {
		return nil, err
	}
	m.Stats = st
	return m, nil
}

// balancingLayer fills m with the listeners and backends of s: the one
// layer, or HAProxy behind a front layer.
func balancingLayer(s *spec.Spec, target string, snap discovery.Snapshot, m *Model) error {
	for i := range s.Listeners {
		f, err := frontend(s, i, target)
		if err != nil {
			return err
		}
		m.Frontends = append(m.Frontends, f)
	}
	sort.Slice(m.Frontends, func(i, j int) bool { return m.Frontends[i].Name < m.Frontends[j].Name })
	for i, b := range s.Backends {
		mb, err := backend(s, i, target, snap.Backends[b.Name])
		if err != nil {
			return err
		}
		mb.Cookie = cookie(s, b)
		m.Backends = append(m.Backends, mb)
	}
	sort.Slice(m.Backends, func(i, j int) bool { return m.Backends[i].Name < m.Backends[j].Name })
	return nil
}

// statsRefresh is how often the HAProxy stats page reloads itself.
const statsRefresh = "10s"

// stats derives the metrics endpoint; reading the auth file is the only
// input it takes beyond the spec.
func stats(s *spec.Spec, in *spec.Stats, target string) (*Stats, error) {
	if in == nil {
		return nil, nil
	}
	st := &Stats{Name: spec.StatsName, Bind: everyAddress(in.Bind), Refresh: statsRefresh}
	for _, a := range in.Allow {
		p, _ := spec.ParseAllow(a) // validated by spec
		st.Allow = append(st.Allow, p.String())
	}
	if in.Auth == "" {
		return st, nil
	}
	if target == TargetNginx {
		return nil, s.Errorf("stats.auth", "nginx's auth_basic wants hashed passwords, not the user:password file HAProxy reads; limit /stub_status with stats.allow instead, or render for haproxy")
	}
	user, password, err := s.StatsAuth()
	if err != nil {
		return nil, err
	}
	st.Userlist, st.User, st.Password = "wsctl_stats", user, password
	return st, nil
}

// everyAddress writes a bind on every address as "*:port": nginx wants a
// host, and both read "*" as every address.
func everyAddress(bind string) string {
	if strings.HasPrefix(bind, ":") {
		return "*" + bind
	}
	return bind
}

// modelTLS is t for the templates (nil: plain HTTP).
func modelTLS(t *spec.TLS) *TLS {
	if t == nil {
		return nil
	}
	return &TLS{Cert: t.Cert, Key: cmp.Or(t.Key, t.Cert), ALPN: strings.Join(t.ALPN, ","), HTTP2: slices.Contains(t.ALPN, spec.ALPNHTTP2)}
}

func frontend(s *spec.Spec, i int, target string) (Frontend, error) {
	l := &s.Listeners[i]
	f := Frontend{Name: l.Name, ForwardedFor: forwardedAppend, DefaultBackend: l.DefaultBackend}
	tls, plain := false, false
	for j, b := range l.AllBinds() {
		mb := Bind{Addr: everyAddress(b.Address), TLS: modelTLS(b.TLS)}
		plain = plain || b.TLS == nil
		if b.TLS != nil {
			tls = true
			_, tlsField := l.BindFields(j)
			field := fmt.Sprintf("listeners[%d].%s", i, tlsField)
			switch {
			case target == TargetHAProxy && b.TLS.Key != "" && b.TLS.Key != b.TLS.Cert+".key":
				return Frontend{}, s.Errorf(field+".key", "HAProxy loads the key from the certificate PEM or from %s.key; put it there", b.TLS.Cert)
			case target == TargetNginx && f.NginxCert != nil && (f.NginxCert.Cert != mb.TLS.Cert || f.NginxCert.Key != mb.TLS.Key):
				return Frontend{}, s.Errorf(field+".cert", "nginx takes one certificate per server block and this listener's TLS binds name two (%s, %s); use the same cert and key on each, split the listener in two, or render for haproxy", f.NginxCert.Cert, mb.TLS.Cert)
			case f.NginxCert == nil:
				f.NginxCert = mb.TLS
			}
		}
		f.Binds = append(f.Binds, mb)
	}
	switch {
	case tls && !plain:
		f.Proto = "https"
	case plain && !tls:
		f.Proto = "http"
	}
	for i, r := range l.Routes {
		mr := Route{Path: r.Path, WebSocket: r.WebSocket, Backend: r.Backend}
		if r.Path != "" {
			mr.PathACL = fmt.Sprintf("route%d_path", i)
		}
		f.WebSocketACL = f.WebSocketACL || r.WebSocket
		f.Routes = append(f.Routes, mr)
	}
	f.Locations = locations(*l)
	return f, nil
}

// locations turns ordered routes into nginx locations with the same outcome.
// spec.Validate rejects routes shadowed by an earlier one, so for every
// location the first matching route is also the longest-prefix one nginx
// picks.
func locations(l spec.Listener) []Location {
	paths := map[string]bool{"/": true}
	for _, r := range l.Routes {
		if r.Path != "" {
			paths[r.Path] = true
		}
	}
	sorted := make([]string, 0, len(paths))
	for p := range paths {
		sorted = append(sorted, p)
	}
	sort.Strings(sorted)
	var locs []Location
	for i, p := range sorted {
		loc := Location{Path: p, Upgrade: resolve(l, p, true), Plain: resolve(l, p, false)}
		// A location that routes exactly like the one nginx would pick
		// without it is noise: leave it out.
		if parent := longestPrefix(locs, p); parent != nil && parent.Upgrade == loc.Upgrade && parent.Plain == loc.Plain {
			continue
		}
		if loc.Upgrade != loc.Plain && loc.Upgrade != "" && loc.Plain != "" {
			loc.Map = fmt.Sprintf("wsctl_%s_%d", strings.NewReplacer("-", "_", ".", "_").Replace(l.Name), i)
		}
		locs = append(locs, loc)
	}
	return locs
}

func longestPrefix(locs []Location, path string) *Location {
	var best *Location
	for i := range locs {
		if strings.HasPrefix(path, locs[i].Path) && (best == nil || len(locs[i].Path) > len(best.Path)) {
			best = &locs[i]
		}
	}
	return best
}

// resolve returns the backend HAProxy would pick for a request at path.
func resolve(l spec.Listener, path string, upgrade bool) string {
	for _, r := range l.Routes {
		if strings.HasPrefix(path, r.Path) && (!r.WebSocket || upgrade) {
			return r.Backend
		}
	}
	return l.DefaultBackend
}

func backend(s *spec.Spec, i int, target string, instances []discovery.Instance) (Backend, error) {
	b := s.Backends[i]
	field := fmt.Sprintf("backends[%d]", i)
	mb := Backend{
		Name: b.Name,
		Health: Health{
			Path:        b.Health.Path,
			Host:        b.Health.Host,
			WebSocket:   b.Health.WebSocket,
			Interval:    Duration(b.Health.Interval.D()),
			Fall:        b.Health.Fall,
			Rise:        b.Health.Rise,
			FailTimeout: Duration(b.Health.Interval.D() * time.Duration(b.Health.Fall)),
		},
	}
	mb.DefaultServer = ServerDefaults{
		Weight: spec.DefaultWeight,
		Inter:  mb.Health.Interval, Fall: mb.Health.Fall, Rise: mb.Health.Rise,
		MaxConn: b.ServerMaxConn,
	}
	if d := b.Slowstart.D(); d > 0 {
		mb.DefaultServer.Slowstart = Duration(d)
	}
	if err := balance(s, field, b, target, &mb); err != nil {
		return Backend{}, err
	}
	for _, in := range instances {
		srv, err := NewServer(b, in)
		if err != nil {
			return Backend{}, err
		}
		mb.Servers = append(mb.Servers, srv)
	}
	sort.Slice(mb.Servers, func(i, j int) bool { return mb.Servers[i].Name < mb.Servers[j].Name })
	mb.NoneEnabled = true
	for _, srv := range mb.Servers {
		if !srv.Disabled {
			mb.NoneEnabled = false
		}
	}
	for n := 1; n <= b.Slots; n++ {
		mb.Servers = append(mb.Servers, Server{Name: fmt.Sprintf("%s%d", SlotPrefix, n), Host: slotHost, Port: slotPort, Weight: spec.DefaultWeight, Disabled: true, Slot: true})
	}
	return mb, nil
}

// NewServer is the server of backend b for instance in, as Build makes
// it: the agent makes the server of a registration with it before the
// whole model is built.
func NewServer(b spec.Backend, in discovery.Instance) (Server, error) {
	// Sources validate their instances; one that is not valid here is
	// a bug, and nothing is rendered from it.
	if err := in.Validate(); err != nil {
		return Server{}, fmt.Errorf("model: backend %s: %w", b.Name, err)
	}
	// An instance discovery reports failing is kept, disabled, so its
	// line (and its sticky cookie value) survive until it recovers.
	srv := Server{Name: in.ID, Host: in.Host, Port: in.Port, Weight: in.Weight, Disabled: !in.Healthy}
	if srv.Weight == 0 {
		srv.Weight = spec.DefaultWeight
	}
	if b.Sticky.Cookie != "" && !dynamicMembership(b) {
		srv.Cookie = srv.Name
	}
	return srv, nil
}

func balance(s *spec.Spec, field string, b spec.Backend, target string, mb *Backend) error {
	switch b.Balance {
	case "leastconn":
		mb.Balance, mb.NginxBalance = "leastconn", "least_conn"
	case "roundrobin":
		mb.Balance = "roundrobin"
	case "source":
		// nginx's ip_hash hashes only the first three octets, piling a whole
		// /24 onto one server; hashing the full address avoids that.
		mb.Balance, mb.HashConsistent, mb.NginxBalance = "source", true, "hash $remote_addr consistent"
	case "hash":
		kind, name, _ := b.ParseHashKey()
		mb.HashConsistent = true
		switch kind {
		case spec.HashCookie:
			mb.Balance, mb.NginxBalance = "hash req.cook("+name+")", "hash $cookie_"+name+" consistent"
		case spec.HashHeader:
			mb.Balance = "hdr(" + name + ")"
			mb.NginxBalance = "hash $http_" + strings.ReplaceAll(strings.ToLower(name), "-", "_") + " consistent"
		case spec.HashURLParam:
			mb.Balance, mb.NginxBalance = "url_param "+name, "hash $arg_"+name+" consistent"
		}
		if target == TargetNginx && !nginxVarName(name) && kind != spec.HashHeader {
			return s.Errorf(field+".hash_key", "nginx cannot hash on %q: its variable names allow only letters, digits and '_'", name)
		}
	}
	if target == TargetNginx && b.Sticky.Cookie != "" {
		if b.Sticky.NginxFallback == "" {
			return s.Errorf(field+".sticky", "open-source nginx cannot insert a sticky cookie; set sticky.nginx_fallback: hash to hash on the %s cookie instead (the application must set it), or render for haproxy", b.Sticky.Cookie)
		}
		if !nginxVarName(b.Sticky.Cookie) {
			return s.Errorf(field+".sticky.cookie", "nginx cannot hash on cookie %q: its variable names allow only letters, digits and '_'", b.Sticky.Cookie)
		}
		if b.Balance == "hash" {
			return s.Errorf(field+".sticky.nginx_fallback", "nginx can hash on one key only and balance is already hash on %s", b.HashKey)
		}
		mb.NginxBalance = "hash $cookie_" + b.Sticky.Cookie + " consistent"
	}
	return nil
}

func nginxVarName(s string) bool {
	for _, r := range s {
		if !(r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

func cookie(s *spec.Spec, b spec.Backend) *Cookie {
	if b.Sticky.Cookie == "" {
		return nil
	}
	c := &Cookie{Name: b.Sticky.Cookie, Secure: routedOnlyOverTLS(s, b.Name), HTTPOnly: b.Sticky.IsHTTPOnly()}
	if dynamicMembership(b) {
		c.Dynamic = true
		c.Key = b.Sticky.DynamicKey
		if c.Key == "" {
			c.Key = "wsctl-" + b.Name
		}
	}
	return c
}

// dynamicMembership reports whether servers come and go at runtime (spare
// slots, Consul): their sticky cookies must then be dynamic, derived from the
// address, since HAProxy 2.6 refuses `cookie` on `add server` and a refilled
// slot must not inherit the cookie of its previous address.
func dynamicMembership(b spec.Backend) bool { return b.Slots > 0 || b.Consul != nil }

// routedOnlyOverTLS reports whether every listener sending requests to the
// backend terminates TLS, or sits behind front listeners that all do: only then may its cookie be `secure`, or clients on
// plain HTTP would never send it back.
func routedOnlyOverTLS(s *spec.Spec, backend string) bool {
	used := false
	for _, l := range s.Listeners {
		routes := l.DefaultBackend == backend
		for _, r := range l.Routes {
			routes = routes || r.Backend == backend
		}
		if routes {
			used = true
			if l.TLSBinds() < len(l.AllBinds()) && !frontedOverTLS(s, l.Name) {
				return false
			}
		}
	}
	return used
}

// Duration formats d in the largest unit that keeps it exact; both HAProxy and
// nginx read h, m, s and ms.
func Duration(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	case d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	default:
		return strconv.FormatInt(int64(d/time.Millisecond), 10) + "ms"
	}
}

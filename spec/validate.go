package spec

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/wsctl/wsctl/discovery"
)

// The name patterns keep every name safe to place in a proxy config and in a
// runtime command: no whitespace, newline, ';', '#', quotes or braces can
// reach either.
var (
	proxyName  = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,62}$`)
	serverName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}$`)
	cookieName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	urlPath    = regexp.MustCompile(`^/[A-Za-z0-9._~%/-]*$`)
	hostName   = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$`)
	filePath   = regexp.MustCompile(`^[^\s;#{}"'\\$]+$`)
	keyToken   = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	consulName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)
)

// The range of close rates, in sessions per second: below the minimum a
// pacer's interval stops being meaningful, above the maximum it would be
// shorter than a runtime command.
const (
	MinCloseRate = 0.01
	MaxCloseRate = 100_000.0
)

// The range of haproxy.tune_bufsize, in bytes. HAProxy 2.6 rounds the value
// up to a multiple of 16 and refuses 256 MB or more in HTTP mode, so the
// maximum is the largest value it accepts; below the minimum, the 1024 bytes
// HAProxy reserves for header rewrites leave too little for an upgrade
// request with its cookies (and tune.bufsize 1 crashes `haproxy -c`).
const (
	MinTuneBufsize = 4096
	MaxTuneBufsize = 256<<20 - 16
)

// The range of consul.agent_ttl. Below the minimum (Consul's shortest
// check interval) the agent would renew several times a second and any
// pause of the machine would end its session; above the maximum a dead
// agent would still count in the fleet after a drain's default timeout.
const (
	MinAgentTTL = time.Second
	MaxAgentTTL = 10 * time.Minute
)

// maxTimeout is HAProxy's largest timeout (2^31-1 ms, about 24.8 days).
const maxTimeout = 24 * 24 * time.Hour

// Balance algorithms.
var balances = []string{"leastconn", "roundrobin", "source", "hash"}

// ParseSourceAddress reads s as what source_address takes: one unicast IP
// address, without zone, neither unspecified nor multicast. The address
// is in canonical form.
func ParseSourceAddress(s string) (netip.Addr, bool) {
	ip, err := netip.ParseAddr(s)
	if err != nil || ip.Zone() != "" || ip.IsUnspecified() || ip.IsMulticast() {
		return netip.Addr{}, false
	}
	return ip, true
}

// Validate checks the defaulted spec and returns every problem found, each
// naming the file, line and field.
func (s *Spec) Validate() error {
	v := &validator{s: s}
	v.oneOf("proxy", s.Proxy, ProxyHAProxy, ProxyNginx)
	if s.Connections < 1 || s.Connections > 10_000_000 {
		v.add("connections", "%d is out of range (1 to 10000000)", s.Connections)
	}
	if a := s.SourceAddress; a != "" {
		if _, ok := ParseSourceAddress(a); !ok {
			v.add("source_address", "%q is not a unicast IP address of this host (no zone, not 0.0.0.0 or ::)", a)
		}
	}
	v.timeouts()
	backends := map[string]bool{}
	for i, b := range s.Backends {
		p := fmt.Sprintf("backends[%d]", i)
		if backends[b.Name] {
			v.add(p+".name", "duplicate backend name %q", b.Name)
		}
		backends[b.Name] = true
		v.backend(p, &b)
	}
	if len(s.Backends) == 0 {
		v.add("backends", "at least one backend is required")
	}
	listeners := map[string]bool{}
	binds := map[string]bool{}
	for i, l := range s.Listeners {
		p := fmt.Sprintf("listeners[%d]", i)
		if listeners[l.Name] {
			v.add(p+".name", "duplicate listener name %q", l.Name)
		}
		listeners[l.Name] = true
		for j, b := range l.AllBinds() {
			field, _ := l.BindFields(j)
			if binds[b.Address] {
				v.add(p+"."+field, "%q is bound twice (by this or another listener)", b.Address)
			}
			binds[b.Address] = true
		}
		v.listener(p, &l, backends)
	}
	if len(s.Listeners) == 0 {
		v.add("listeners", "at least one listener is required")
	}
	v.stats()
	v.front()
	v.path("haproxy.admin_socket", s.HAProxy.AdminSocket)
	v.path("haproxy.master_socket", s.HAProxy.MasterSocket)
	if s.HAProxy.Log != "" {
		v.path("haproxy.log", s.HAProxy.Log)
	}
	if w := s.Consul.WaitTime.D(); w < time.Second || w > 10*time.Minute {
		v.add("consul.wait_time", "%s is out of range (1s to 10m, Consul's maximum)", s.Consul.WaitTime)
	}
	if d := s.Consul.AgentTTL.D(); d < MinAgentTTL || d > MaxAgentTTL {
		v.add("consul.agent_ttl", "%s is out of range (%s to %s)", s.Consul.AgentTTL, MinAgentTTL, MaxAgentTTL)
	}
	v.match("consul.kv_prefix", s.Consul.KVPrefix, regexp.MustCompile(`^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*/$`), "KV prefix (path segments ending in '/')")
	v.timeout("haproxy.hard_stop_after", s.HAProxy.HardStopAfter)
	v.timeout("haproxy.handover_after", s.HAProxy.HandoverAfter)
	if s.HAProxy.HandoverAfter >= s.HAProxy.HardStopAfter {
		v.add("haproxy.handover_after", "%s must be below hard_stop_after (%s): the hand-over would begin after hard-stop-after cut everyone", s.HAProxy.HandoverAfter, s.HAProxy.HardStopAfter)
	}
	v.path("haproxy.state_file", s.HAProxy.StateFile)
	if n := s.HAProxy.TuneBufsize; n != 0 && (n < MinTuneBufsize || n > MaxTuneBufsize) {
		v.add("haproxy.tune_bufsize", "%d is out of range (0 for HAProxy's default, or %d to %d bytes, HAProxy's limit in HTTP mode)", n, MinTuneBufsize, MaxTuneBufsize)
	}
	v.timeout("nginx.worker_shutdown_timeout", s.Nginx.WorkerShutdownTimeout)
	if s.Nginx.WorkerProcesses < 0 || s.Nginx.WorkerProcesses > 1024 {
		v.add("nginx.worker_processes", "%d is out of range (0 for auto, up to 1024)", s.Nginx.WorkerProcesses)
	}
	v.path("nginx.pid_file", s.Nginx.PidFile)
	v.path("nginx.error_log", s.Nginx.ErrorLog)
	if s.Nginx.TempDir != "" {
		v.path("nginx.temp_dir", s.Nginx.TempDir)
	}
	if s.Templates.HAProxy != "" {
		v.path("templates.haproxy", s.Templates.HAProxy)
	}
	if s.Templates.Nginx != "" {
		v.path("templates.nginx", s.Templates.Nginx)
	}
	return errors.Join(v.errs...)
}

type validator struct {
	s    *Spec
	errs []error
}

func (v *validator) add(field, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{File: v.s.File, Line: v.s.doc.line(field), Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) oneOf(field, got string, want ...string) bool {
	for _, w := range want {
		if got == w {
			return true
		}
	}
	v.add(field, "unknown value %q (want %s)", got, strings.Join(want, ", "))
	return false
}

func (v *validator) match(field, got string, re *regexp.Regexp, what string) bool {
	if re.MatchString(got) {
		return true
	}
	if got == "" {
		v.add(field, "is required")
	} else {
		v.add(field, "%q is not a valid %s", got, what)
	}
	return false
}

func (v *validator) path(field, got string) {
	v.match(field, got, filePath, "path (no spaces, quotes, braces, '$', ';' or '#')")
}

func (v *validator) timeout(field string, d Duration) {
	if d.D() < time.Millisecond || d.D() > maxTimeout {
		v.add(field, "%s is out of range (1ms to 24d, HAProxy's limit)", d)
	}
}

func (v *validator) timeouts() {
	t := v.s.Timeouts
	for _, f := range []struct {
		name string
		d    Duration
	}{
		{"connect", t.Connect}, {"client", t.Client}, {"server", t.Server},
		{"http_request", t.HTTPRequest}, {"queue", t.Queue}, {"tunnel", t.Tunnel},
		{"client_fin", t.ClientFin}, {"server_fin", t.ServerFin},
	} {
		v.timeout("timeouts."+f.name, f.d)
	}
	if t.Tunnel <= v.s.Heartbeat {
		v.add("timeouts.tunnel", "%s must be above the heartbeat (%s): idle WebSockets would be cut between two heartbeats", t.Tunnel, v.s.Heartbeat)
	}
}

func (v *validator) listener(p string, l *Listener, backends map[string]bool) {
	v.match(p+".name", l.Name, proxyName, "listener name (letters, digits, '_', '.', '-'; starting with a letter)")
	if len(l.Binds) > 0 {
		if l.Bind != "" {
			v.add(p+".binds", "set bind (with tls) or binds, not both")
		}
		if l.TLS != nil {
			v.add(p+".tls", "with binds, set tls on each bind that terminates TLS")
		}
	}
	for i, b := range l.AllBinds() {
		field, tlsField := l.BindFields(i)
		v.bind(p+"."+field, b.Address)
		if b.TLS == nil {
			continue
		}
		v.tls(p+"."+tlsField, b.TLS)
	}
	if l.DefaultBackend != "" && !backends[l.DefaultBackend] {
		v.add(p+".default_backend", "unknown backend %q", l.DefaultBackend)
	}
	for i, r := range l.Routes {
		rp := fmt.Sprintf("%s.routes[%d]", p, i)
		if r.Path == "" && !r.WebSocket {
			v.add(rp, "a route needs a path, websocket: true, or both")
		}
		if r.Path != "" {
			v.match(rp+".path", r.Path, urlPath, "path prefix (starting with '/'; letters, digits and ._~%/-)")
		}
		if !backends[r.Backend] {
			v.add(rp+".backend", "unknown backend %q", r.Backend)
		}
		for j, prev := range l.Routes[:i] {
			if covers(prev, r) && prev.Backend != r.Backend {
				v.add(rp, "never matches: routes[%d] (path %q, websocket %t) catches all its requests first", j, prev.Path, prev.WebSocket)
				break
			}
		}
	}
}

// tls validates a TLS section at field.
func (v *validator) tls(field string, t *TLS) {
	v.path(field+".cert", t.Cert)
	if t.Key != "" {
		v.path(field+".key", t.Key)
	}
	if err := ValidALPN(t.ALPN); err != nil {
		v.add(field+".alpn", "%v", err)
	}
}

// covers reports whether every request matching b also matches a.
func covers(a, b Route) bool {
	return strings.HasPrefix(b.Path, a.Path) && (!a.WebSocket || b.WebSocket)
}

func (v *validator) bind(field, bind string) {
	host, port, err := net.SplitHostPort(bind)
	if err != nil {
		v.add(field, "%q is not address:port", bind)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		v.add(field, "port %q is not a number from 1 to 65535", port)
	}
	if host != "" && host != "*" && net.ParseIP(host) == nil {
		v.add(field, "%q is not an IP address (use an address, '*' or nothing for all)", host)
	}
}

func (v *validator) backend(p string, b *Backend) {
	v.match(p+".name", b.Name, proxyName, "backend name (letters, digits, '_', '.', '-'; starting with a letter)")
	if v.oneOf(p+".balance", b.Balance, balances...) {
		if b.Balance == "hash" {
			if _, _, err := b.ParseHashKey(); err != nil {
				v.add(p+".hash_key", "%v", err)
			}
		} else if b.HashKey != "" {
			v.add(p+".hash_key", "only used with balance: hash")
		}
	}
	if b.Sticky.Cookie != "" {
		v.match(p+".sticky.cookie", b.Sticky.Cookie, cookieName, "cookie name (letters, digits, '_', '-')")
	}
	if b.Sticky.Cookie == "" && !b.Sticky.IsHTTPOnly() {
		v.add(p+".sticky.httponly", "only used with sticky.cookie")
	}
	if b.Sticky.DynamicKey != "" {
		v.match(p+".sticky.dynamic_key", b.Sticky.DynamicKey, keyToken, "key (letters, digits, '_', '.', '-')")
	}
	if b.Sticky.NginxFallback != "" {
		v.oneOf(p+".sticky.nginx_fallback", b.Sticky.NginxFallback, "hash")
	}
	h := b.Health
	v.match(p+".health.path", h.Path, urlPath, "path (starting with '/'; letters, digits and ._~%/-)")
	v.match(p+".health.host", h.Host, hostName, "host name")
	if h.Interval.D() < 100*time.Millisecond || h.Interval.D() > time.Hour {
		v.add(p+".health.interval", "%s is out of range (100ms to 1h)", h.Interval)
	}
	if h.Fall < 1 || h.Fall > 100 {
		v.add(p+".health.fall", "%d is out of range (1 to 100)", h.Fall)
	}
	if h.Rise < 1 || h.Rise > 100 {
		v.add(p+".health.rise", "%d is out of range (1 to 100)", h.Rise)
	}
	v.timeout(p+".drain_timeout", b.DrainTimeout)
	if b.CloseRate < MinCloseRate || b.CloseRate > MaxCloseRate {
		v.add(p+".close_rate", "%g is out of range (%g to %g sessions per second)", b.CloseRate, MinCloseRate, MaxCloseRate)
	}
	if b.Rebalance && b.Balance != "leastconn" && b.Balance != "roundrobin" {
		// A client's server is its hash's: a rebalance would cut clients
		// that come straight back to the server they left.
		v.add(p+".rebalance", "needs balance leastconn or roundrobin, not %s", b.Balance)
	}
	if b.Slowstart.D() > time.Hour {
		v.add(p+".slowstart", "%s is out of range (0s to 1h)", b.Slowstart)
	}
	if b.Slots < 0 || b.Slots > 10000 {
		v.add(p+".slots", "%d is out of range (0 to 10000)", b.Slots)
	}
	if b.ServerMaxConn < 0 {
		v.add(p+".server_maxconn", "%d is negative", b.ServerMaxConn)
	}
	if c := b.Consul; c != nil {
		if len(b.Servers) > 0 {
			v.add(p+".consul", "a backend takes its servers from servers or from consul, not both")
		}
		v.match(p+".consul.service", c.Service, consulName, "Consul service name (letters, digits, '_', '.', '-')")
		for j, tag := range c.Tags {
			v.match(fmt.Sprintf("%s.consul.tags[%d]", p, j), tag, consulName, "Consul tag (letters, digits, '_', '.', '-')")
		}
		if c.Datacenter != "" {
			v.match(p+".consul.datacenter", c.Datacenter, consulName, "datacenter name")
		}
	}
	names := map[string]bool{}
	for i, srv := range b.Servers {
		sp := fmt.Sprintf("%s.servers[%d]", p, i)
		if v.match(sp+".name", srv.Name, serverName, "server name (letters, digits, '_', '.', ':', '-'; starting with a letter or digit)") && names[srv.Name] {
			v.add(sp+".name", "duplicate server name %q in backend %q", srv.Name, b.Name)
		}
		names[srv.Name] = true
		v.address(sp+".address", srv.Address)
		if srv.Weight < 1 || srv.Weight > 256 {
			v.add(sp+".weight", "%d is out of range (1 to 256)", srv.Weight)
		}
	}
}

func (v *validator) address(field, addr string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.add(field, "%q is not host:port", addr)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		v.add(field, "port %q is not a number from 1 to 65535", port)
	}
	switch _, err := discovery.ParseHost(host); {
	case errors.Is(err, discovery.ErrNotServerAddr):
		v.add(field, "%v", err)
	case err != nil:
		v.add(field, "%q is not an IP address (without zone) or host name", host)
	}
}

// Hash key kinds for balance: hash.
const (
	HashCookie   = "cookie"
	HashHeader   = "header"
	HashURLParam = "url_param"
)

var hashKeyName = map[string]*regexp.Regexp{
	HashCookie:   cookieName,
	HashHeader:   regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`),
	HashURLParam: regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`),
}

// ParseHashKey splits HashKey into its kind (cookie, header, url_param) and
// name.
func (b *Backend) ParseHashKey() (kind, name string, err error) {
	kind, name, ok := strings.Cut(b.HashKey, ":")
	re := hashKeyName[kind]
	if !ok || re == nil {
		return "", "", fmt.Errorf("%q: want cookie:NAME, header:NAME or url_param:NAME", b.HashKey)
	}
	if !re.MatchString(name) {
		return "", "", fmt.Errorf("%q: %q is not a valid %s name", b.HashKey, name, kind)
	}
	return kind, name, nil
}

// Package spec loads wsctl.yaml: the declarative description of a WebSocket
// load-balancing setup. Load decodes it strictly (an unknown key is an error
// with its line), expands ${VAR} and ${VAR:-default} in values, applies the
// defaults (defaults.go is the one place they live) and validates it, so every
// error names the file, the line and the field.
package spec

import (
	"fmt"
	"strings"
)

// The proxies wsctl renders for and drives (the values of Spec.Proxy).
const (
	ProxyHAProxy = "haproxy"
	ProxyNginx   = "nginx"
)

// Spec is a whole wsctl.yaml.
type Spec struct {
	// Proxy is the default render target: "haproxy" (default) or "nginx".
	Proxy string `yaml:"proxy"`
	// Heartbeat is how often clients or servers send traffic (ping/pong or
	// messages) on an idle WebSocket. Idle timeouts derive from it and must
	// exceed it.
	Heartbeat Duration `yaml:"heartbeat"`
	// Connections is the expected number of concurrent WebSockets across all
	// listeners. It sizes maxconn, worker_connections and the fd limits.
	Connections int `yaml:"connections"`
	// SourceAddress is the local address connections to servers leave
	// from ("": the kernel's choice). Each load balancer has its own: a
	// source address holds one ephemeral port per WebSocket to a given
	// server (HAProxy `source`, nginx `proxy_bind`).
	SourceAddress string     `yaml:"source_address"`
	Timeouts      Timeouts   `yaml:"timeouts"`
	Listeners     []Listener `yaml:"listeners"`
	Backends      []Backend  `yaml:"backends"`
	HAProxy       HAProxy    `yaml:"haproxy"`
	Nginx         Nginx      `yaml:"nginx"`
	// Consul is how to reach Consul for backends discovered there.
	Consul Consul `yaml:"consul"`
	// Templates overrides the embedded templates; empty fields keep them.
	Templates Templates `yaml:"templates"`
	// Stats exposes the proxy's own view of its connections: HAProxy's
	// stats page and Prometheus exporter, nginx's stub_status (nil: off).
	Stats *Stats `yaml:"stats"`
	// Front is nginx in front of HAProxy, rendered from the same spec
	// (nil: one layer).
	Front *Front `yaml:"front"`

	// File is the path the spec was loaded from ("" when parsed from memory).
	File string `yaml:"-"`
	// doc locates fields for error messages.
	doc *document
}

// Timeouts are the proxy's timeouts. Zero values are derived from Heartbeat.
type Timeouts struct {
	Connect     Duration `yaml:"connect"`      // TCP connect to a backend (default 5s)
	Client      Duration `yaml:"client"`       // client idle during the HTTP phase (default 30s)
	Server      Duration `yaml:"server"`       // server idle during the HTTP phase (default 30s)
	HTTPRequest Duration `yaml:"http_request"` // whole request headers, incl. the upgrade (default 10s)
	Queue       Duration `yaml:"queue"`        // waiting for a server slot (default 30s)
	// Tunnel is the idle timeout of an upgraded connection (HAProxy
	// `timeout tunnel`, nginx `proxy_read_timeout`/`proxy_send_timeout`).
	// Default: three heartbeats, so one lost heartbeat does not cut anyone.
	Tunnel    Duration `yaml:"tunnel"`
	ClientFin Duration `yaml:"client_fin"` // half-closed client side (default 30s)
	ServerFin Duration `yaml:"server_fin"` // half-closed server side (default 30s)
}

// Listener is where clients connect: an HAProxy frontend, an nginx server.
type Listener struct {
	Name string `yaml:"name"`
	// Bind is "address:port" ("*:443" or ":443" for every address).
	Bind string `yaml:"bind"`
	// TLS terminates TLS on Bind when set.
	TLS *TLS `yaml:"tls"`
	// Binds are several addresses, each with its own TLS (plain HTTP on
	// :80 and HTTPS on :443, say), instead of Bind and TLS.
	Binds []Bind `yaml:"binds"`
	// Routes are tried in order; the first match wins.
	Routes []Route `yaml:"routes"`
	// DefaultBackend serves requests no route matched (plain HTTP). Empty:
	// HAProxy answers 503, nginx 404.
	DefaultBackend string `yaml:"default_backend"`
}

// Bind is one address a listener accepts connections on.
type Bind struct {
	// Address is "address:port" ("*:443" or ":443" for every address).
	Address string `yaml:"address"`
	// TLS terminates TLS on this address when set.
	TLS *TLS `yaml:"tls"`
}

// AllBinds returns the listener's addresses: Binds, or Bind with TLS when
// Binds is empty. The TLS pointers are the listener's own.
func (l *Listener) AllBinds() []Bind {
	if len(l.Binds) > 0 {
		return l.Binds
	}
	return []Bind{{Address: l.Bind, TLS: l.TLS}}
}

// TLSBinds counts the listener's binds that terminate TLS.
func (l *Listener) TLSBinds() int {
	n := 0
	for _, b := range l.AllBinds() {
		if b.TLS != nil {
			n++
		}
	}
	return n
}

// BindFields are the spec fields of AllBinds()[i], relative to the
// listener: "bind" and "tls", or "binds[i].address" and "binds[i].tls".
func (l *Listener) BindFields(i int) (address, tls string) {
	if len(l.Binds) > 0 {
		return fmt.Sprintf("binds[%d].address", i), fmt.Sprintf("binds[%d].tls", i)
	}
	return "bind", "tls"
}

// TLS is a certificate the proxy terminates TLS with.
type TLS struct {
	// Cert is a PEM file. HAProxy wants the key in it (or beside it as
	// Cert+".key"); nginx uses Key when set, else Cert for both.
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// ALPN are the protocols offered in the TLS handshake, in order of
	// preference (default [http/1.1]): [h2, http/1.1] adds HTTP/2, over
	// which HAProxy 2.4+ carries WebSockets too (RFC 8441).
	ALPN []string `yaml:"alpn"`
}

// The ALPN protocols a listener may offer.
const (
	ALPNHTTP2  = "h2"
	ALPNHTTP11 = "http/1.1"
)

// ValidALPN checks an ALPN list: known protocols, each once, http/1.1
// among them (WebSocket clients that do not speak RFC 8441 upgrade over
// HTTP/1.1), and h2 before it, since HAProxy picks the first protocol of
// its own list the client offers: h2 listed after http/1.1 would never be
// chosen.
func ValidALPN(alpn []string) error {
	seen := map[string]bool{}
	for _, p := range alpn {
		switch {
		case p != ALPNHTTP2 && p != ALPNHTTP11:
			return fmt.Errorf("unknown protocol %q (want %s, %s)", p, ALPNHTTP2, ALPNHTTP11)
		case seen[p]:
			return fmt.Errorf("%s is listed twice", p)
		case p == ALPNHTTP2 && seen[ALPNHTTP11]:
			return fmt.Errorf("%s after %s would never be chosen (the first protocol the client also offers wins): list %s first", ALPNHTTP2, ALPNHTTP11, ALPNHTTP2)
		}
		seen[p] = true
	}
	if !seen[ALPNHTTP11] {
		return fmt.Errorf("%s is required: WebSocket clients that do not speak RFC 8441 upgrade over HTTP/1.1", ALPNHTTP11)
	}
	return nil
}

// Route sends matching requests to a backend. With both Path and WebSocket
// set, only WebSocket upgrades under Path match.
type Route struct {
	// Path is a path prefix, matched like nginx `location /p` and HAProxy
	// `path_beg /p`.
	Path string `yaml:"path"`
	// WebSocket matches requests carrying `Upgrade: websocket`.
	WebSocket bool   `yaml:"websocket"`
	Backend   string `yaml:"backend"`
}

// Backend is a pool of servers.
type Backend struct {
	Name string `yaml:"name"`
	// Balance is leastconn (default), roundrobin, source (client address,
	// consistent hashing) or hash (consistent hashing on HashKey).
	Balance string `yaml:"balance"`
	// HashKey is what balance hash hashes: "cookie:NAME", "header:NAME" or
	// "url_param:NAME" (a chat room id, say).
	HashKey string `yaml:"hash_key"`
	Sticky  Sticky `yaml:"sticky"`
	Health  Health `yaml:"health"`
	// DrainTimeout bounds how long a removed server keeps its WebSockets
	// before the rest are closed (default 10m).
	DrainTimeout Duration `yaml:"drain_timeout"`
	// CloseRate is how many sessions per second one load balancer closes
	// when a drain_timeout passes with sessions left (default 10): the
	// clients reconnect spread over time instead of in one wave.
	CloseRate float64 `yaml:"close_rate"`
	// Rebalance makes the agent even out the backend's WebSockets at
	// CloseRate after it adds a server (package rebalance); off by
	// default: it closes WebSockets that were doing nothing wrong.
	Rebalance bool `yaml:"rebalance"`
	// Slowstart ramps a returning server's weight up over this time so the
	// reconnect wave does not stampede it (default 30s; 0s disables).
	Slowstart *Duration `yaml:"slowstart"`
	// Slots is the number of spare server slots rendered disabled, which the
	// runtime API can fill without a reload.
	Slots int `yaml:"slots"`
	// ServerMaxConn caps the WebSockets per server (0: no cap). A WebSocket
	// counts for its whole life; the excess queues, then gets 503.
	ServerMaxConn int `yaml:"server_maxconn"`
	// Servers are the statically known servers (static discovery).
	Servers []Server `yaml:"servers"`
	// Consul discovers the servers from a Consul service instead; it
	// excludes Servers.
	Consul *ConsulService `yaml:"consul"`
}

// Backend returns the backend named name; one the spec does not have is
// an error naming the file and the backends it has.
func (s *Spec) Backend(name string) (*Backend, error) {
	names := make([]string, len(s.Backends))
	for i := range s.Backends {
		if s.Backends[i].Name == name {
			return &s.Backends[i], nil
		}
		names[i] = s.Backends[i].Name
	}
	return nil, fmt.Errorf("backend %q is not in %s (it has %s)", name, s.File, strings.Join(names, ", "))
}

// ConsulService selects the instances of a Consul service.
type ConsulService struct {
	Service string `yaml:"service"`
	// Tags an instance must all carry.
	Tags []string `yaml:"tags"`
	// AllowWarning keeps instances whose checks are warning (default: passing
	// only).
	AllowWarning bool `yaml:"allow_warning"`
	// Datacenter to query (default: the agent's).
	Datacenter string `yaml:"datacenter"`
}

// Sticky is session affinity.
type Sticky struct {
	// Cookie is the name of the cookie HAProxy inserts (empty: no
	// stickiness). It is rendered `insert indirect nocache`, plus
	// `httponly` unless HTTPOnly is false, and `secure` when every listener
	// routing here terminates TLS.
	Cookie string `yaml:"cookie"`
	// HTTPOnly hides the cookie from page scripts (nil: the default, true).
	// False is for applications whose JavaScript reads the cookie, e.g. to
	// send it again on a WebSocket reconnect that does not carry cookies.
	HTTPOnly *bool `yaml:"httponly"`
	// DynamicKey seeds dynamic cookies for slots (default: derived from the
	// backend name). Dynamic cookies follow a server's address, not its slot.
	DynamicKey string `yaml:"dynamic_key"`
	// NginxFallback is what nginx renders instead, since open-source nginx
	// cannot insert a cookie: "hash" hashes on the cookie (`hash
	// $cookie_NAME consistent`; the application must set it). Empty: render
	// for nginx fails with an error saying so.
	NginxFallback string `yaml:"nginx_fallback"`
}

// IsHTTPOnly reports whether the cookie is rendered httponly (nil HTTPOnly:
// DefaultCookieHTTPOnly).
func (s Sticky) IsHTTPOnly() bool {
	if s.HTTPOnly == nil {
		return DefaultCookieHTTPOnly
	}
	return *s.HTTPOnly
}

// Health is the active health check (HAProxy; nginx open source only has
// passive checks: max_fails/fail_timeout).
type Health struct {
	Path string `yaml:"path"` // default /health
	// WebSocket makes the check a real WebSocket handshake expecting 101
	// instead of a GET expecting 200.
	WebSocket bool     `yaml:"websocket"`
	Host      string   `yaml:"host"`     // Host header sent (default localhost)
	Interval  Duration `yaml:"interval"` // default 5s
	Fall      int      `yaml:"fall"`     // failures before down (default 3)
	Rise      int      `yaml:"rise"`     // successes before up (default 2)
}

// Server is one backend server.
type Server struct {
	// Name is the server's name in the proxy and on the runtime socket.
	Name    string `yaml:"name"`
	Address string `yaml:"address"` // host:port
	Weight  int    `yaml:"weight"`  // 1–256 (default 100)
}

// HAProxy holds HAProxy's process settings.
type HAProxy struct {
	// AdminSocket is the stats socket at level admin that wsctl drives.
	AdminSocket string `yaml:"admin_socket"`
	// MasterSocket is the master CLI, enabled on HAProxy's command line
	// (`haproxy -W -S PATH`); wsctl reloads through it.
	MasterSocket string `yaml:"master_socket"`
	// HardStopAfter bounds how long old workers keep WebSockets after a
	// reload (default 30m).
	HardStopAfter Duration `yaml:"hard_stop_after"`
	// HandoverAfter is the grace period after a reload before wsctl closes
	// the old workers' WebSockets at each backend's close_rate, so they
	// exit long before HardStopAfter cuts everyone at once (default 1m, or
	// half of HardStopAfter when that is shorter; must be below it).
	HandoverAfter Duration `yaml:"handover_after"`
	// StateFile is HAProxy's server-state-file: wsctl writes `show servers
	// state` to it before reloads and at shutdown, and HAProxy loads it at
	// start, so DRAIN/MAINT, weights and addresses survive (default:
	// server-state beside AdminSocket).
	StateFile string `yaml:"state_file"`
	// Log is a log target ("stderr", "/dev/log", "127.0.0.1:514");
	// empty: no logging.
	Log string `yaml:"log"`
	// TuneBufsize is HAProxy's global tune.bufsize in bytes: the size of
	// each buffer, so the largest request headers (the upgrade with its
	// cookies) and the largest chunk a WebSocket forwards at once (0:
	// HAProxy's own 16384, not rendered). Each active WebSocket may hold a
	// buffer per direction, so memory grows with it.
	TuneBufsize int `yaml:"tune_bufsize"`
}

// Nginx holds nginx's process settings.
type Nginx struct {
	// WorkerProcesses is the number of workers (0: auto).
	WorkerProcesses int `yaml:"worker_processes"`
	// WorkerShutdownTimeout bounds how long old workers keep WebSockets
	// after a reload (default 30m).
	WorkerShutdownTimeout Duration `yaml:"worker_shutdown_timeout"`
	PidFile               string   `yaml:"pid_file"`  // default /run/nginx.pid
	ErrorLog              string   `yaml:"error_log"` // default stderr
	// TempDir holds nginx's temp files (default: nginx's compiled-in
	// paths). It must exist: nginx creates the subdirectories, not it.
	TempDir string `yaml:"temp_dir"`
}

// Consul is the Consul agent wsctl talks to. The standard CONSUL_*
// environment (CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN, CONSUL_CACERT, …) applies;
// fields set here win over it.
type Consul struct {
	// Address is host:port or a URL (default: CONSUL_HTTP_ADDR, else
	// 127.0.0.1:8500).
	Address string `yaml:"address"`
	// WaitTime is the longest a blocking query waits for a change
	// (default 5m, Consul's maximum 10m).
	WaitTime Duration `yaml:"wait_time"`
	// Stale allows any server to answer, not only the leader.
	Stale bool `yaml:"stale"`
	// KVPrefix is where operator intents (drain, maint) are kept
	// (default wsctl/).
	KVPrefix string `yaml:"kv_prefix"`
	// AgentTTL is the TTL of the check a fleet agent's session is bound
	// to: how long a wedged or killed agent (its host alive) still counts
	// in the fleet, and how long a stall of the agent or of Consul may
	// last before the agent drops out (nil: DefaultAgentTTL; set by
	// Default).
	AgentTTL *Duration `yaml:"agent_ttl"`
	// TokenFile holds the ACL token (default: CONSUL_HTTP_TOKEN_FILE or
	// CONSUL_HTTP_TOKEN).
	TokenFile string `yaml:"token_file"`
	// CAFile, CertFile and KeyFile are TLS files for an https address
	// (default: CONSUL_CACERT, CONSUL_CLIENT_CERT, CONSUL_CLIENT_KEY).
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Stats is the proxy's own metrics endpoint, on a port of its own.
type Stats struct {
	// Bind is "address:port" (a loopback address unless Allow limits who
	// may connect).
	Bind string `yaml:"bind"`
	// Auth is a file (relative to the spec) holding one line
	// "user:password", read at render time so the secret stays out of the
	// spec; HAProxy only (nginx's auth_basic wants hashed passwords).
	Auth string `yaml:"auth"`
	// Allow lists the client networks (CIDRs or addresses) that may
	// connect; empty: any.
	Allow []string `yaml:"allow"`
}

// Templates points at user templates that replace the embedded ones. They get
// the same model and the same sprig functions.
type Templates struct {
	HAProxy string `yaml:"haproxy"`
	Nginx   string `yaml:"nginx"`
}

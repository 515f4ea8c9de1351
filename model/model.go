// Package model is the desired state: the spec joined with discovered
// instances, normalised, sorted and with every derived value computed, so the
// templates only read fields and the same input always renders the same bytes.
package model

import "github.com/wsctl/wsctl/discovery"

// Model is the whole desired state of one proxy.
type Model struct {
	// Target is the proxy the model was built for: "haproxy" or "nginx".
	Target string
	// Connections is the expected concurrent WebSockets; MaxConn adds
	// headroom to it and is HAProxy's global and per-frontend maxconn.
	Connections int
	MaxConn     int
	// SourceAddress is where connections to servers leave from ("": the
	// kernel's choice); not the front layer's connections to HAProxy.
	SourceAddress string
	Heartbeat     string
	Timeouts      Timeouts
	HAProxy       HAProxy
	Nginx         Nginx
	Frontends     []Frontend // sorted by name
	Backends      []Backend  // sorted by name
	// Stats is the proxy's own metrics endpoint (nil: off).
	Stats *Stats
	// TrustedFront are the networks of the front layer (nginx in front of
	// HAProxy), masked: HAProxy keeps X-Forwarded-For, X-Forwarded-Proto
	// and X-Real-IP only from them. Nil: one layer, HAProxy adds its own.
	TrustedFront []string
}

// Stats is where the proxy shows its own counts: HAProxy's stats page at
// "/" and its Prometheus exporter at /metrics, nginx's stub_status at
// /stub_status.
type Stats struct {
	// Name is the HAProxy frontend's (spec.StatsName; no listener takes it).
	Name string
	Bind string // address:port (":8404" becomes "*:8404")
	// Refresh is how often the stats page reloads itself.
	Refresh string
	// Userlist names HAProxy's userlist of the one user ("": no auth);
	// User and Password come from the spec's auth file.
	Userlist, User, Password string
	// Allow are the networks that may connect, masked (empty: any).
	Allow []string
}

// Timeouts are formatted for both proxies ("90s", "1h", "500ms").
type Timeouts struct {
	Connect, Client, Server, HTTPRequest, Queue, Tunnel, ClientFin, ServerFin string
}

// HAProxy holds HAProxy's global settings.
type HAProxy struct {
	AdminSocket   string
	MasterSocket  string
	HardStopAfter string
	// StateFile is the server-state-file HAProxy loads at start.
	StateFile string
	Log       string // empty: no log line
	// TuneBufsize is tune.bufsize in bytes (0: not rendered).
	TuneBufsize int
}

// Nginx holds nginx's main-context settings.
type Nginx struct {
	WorkerProcesses string // "auto" or a number
	// WorkerConnections counts both sides of every proxied WebSocket: each
	// worker may end up holding all of them, so each is sized for all.
	WorkerConnections     int
	RlimitNofile          int
	WorkerShutdownTimeout string
	PidFile               string
	ErrorLog              string
	TempDir               string // empty: nginx's compiled-in paths
	// ProxyTimeout is proxy_read_timeout and proxy_send_timeout: the
	// tunnel timeout, or above HAProxy's behind a front layer.
	ProxyTimeout string
	// TunnelBehind is HAProxy's tunnel timeout when nginx is the front
	// layer ("": one layer).
	TunnelBehind string
	// UpstreamKeepaliveTimeout closes idle upstream connections before
	// HAProxy does ("": nginx's default).
	UpstreamKeepaliveTimeout string
}

// Frontend is a listener: an HAProxy frontend, an nginx server block.
type Frontend struct {
	Name  string
	Binds []Bind
	// Proto is sent as X-Forwarded-Proto: "https" when every bind
	// terminates TLS, "http" when none does, "" when some do: the
	// connection then tells (HAProxy ssl_fc, nginx $scheme).
	Proto string
	// NginxCert is the server block's certificate (nil: no TLS bind);
	// nginx takes one per server block, so every TLS bind shares it.
	NginxCert *TLS
	// ForwardedFor is the X-Forwarded-For value nginx sends: the client
	// appended to what it was given, or, at the front layer, the client
	// alone.
	ForwardedFor string
	// Routes in match order (HAProxy use_backend rules).
	Routes         []Route
	DefaultBackend string
	// WebSocketACL is true when a route matches on the Upgrade header.
	WebSocketACL bool
	// Locations are the same routes as nginx locations, longest path last.
	Locations []Location
}

// Addrs are the addresses of the frontend's binds, in order.
func (f Frontend) Addrs() []string {
	addrs := make([]string, len(f.Binds))
	for i, b := range f.Binds {
		addrs[i] = b.Addr
	}
	return addrs
}

// Bind is one address a frontend listens on.
type Bind struct {
	Addr string // address:port (":443" becomes "*:443")
	TLS  *TLS   // nil: plain HTTP
}

// TLS is a certificate the frontend terminates TLS with.
type TLS struct {
	Cert, Key string
	// ALPN is HAProxy's alpn argument ("h2,http/1.1").
	ALPN string
	// HTTP2 renders nginx's `listen … http2` (h2 is offered).
	HTTP2 bool
}

// Route is one use_backend rule.
type Route struct {
	// PathACL names the ACL matching Path ("" when the route has no path).
	PathACL   string
	Path      string
	WebSocket bool
	Backend   string
}

// Location is an nginx location and where its requests go.
type Location struct {
	Path string
	// Upgrade serves WebSocket upgrades, Plain every other request; ""
	// answers 404.
	Upgrade, Plain string
	// Map is the variable (without $) holding the upstream when Upgrade and
	// Plain differ; "" when they are the same.
	Map string
}

// Backend is a pool of servers.
type Backend struct {
	Name string
	// Balance is HAProxy's `balance` argument ("leastconn", "source",
	// "hash req.cook(room)", "url_param room", "hdr(X-Room)").
	Balance string
	// HashConsistent renders `hash-type consistent`.
	HashConsistent bool
	// NginxBalance is the upstream's balancing directive ("least_conn",
	// "hash $remote_addr consistent"); "" is nginx's round-robin.
	NginxBalance string
	Cookie       *Cookie // nil: no stickiness
	Health       Health
	// DefaultServer is what every server of the backend gets: HAProxy's
	// default-server line, and the keywords the agent gives a server it
	// adds at runtime (which does not inherit default-server).
	DefaultServer ServerDefaults
	// Servers are the discovered servers sorted by name, then the spare
	// slots, disabled.
	Servers []Server
	// NoneEnabled is set when no server can take traffic: nginx refuses an
	// empty upstream, so it gets a placeholder marked down (clients get 502,
	// as HAProxy answers 503).
	NoneEnabled bool
}

// ServerDefaults are the keywords every server of a backend gets.
type ServerDefaults struct {
	// Weight is wsctl's default weight (HAProxy's own is 1).
	Weight int
	// Inter, Fall and Rise time the health check every server runs.
	Inter      string
	Fall, Rise int
	// Slowstart ramps a returning server's weight up ("": none).
	Slowstart string
	// MaxConn caps WebSockets per server (0: no cap).
	MaxConn int
}

// Cookie is HAProxy's sticky cookie.
type Cookie struct {
	Name string
	// Secure is set when every listener routing to the backend uses TLS.
	Secure bool
	// HTTPOnly hides the cookie from page scripts.
	HTTPOnly bool
	// Dynamic cookies are derived from the server's address (with Key), so
	// the cookie follows an address when slots are refilled at runtime.
	Dynamic bool
	Key     string
}

// Health is the active check.
type Health struct {
	Path      string
	Host      string
	WebSocket bool
	Interval  string
	Fall      int
	Rise      int
	// FailTimeout is nginx's passive-check window (interval × fall).
	FailTimeout string
}

// Server is one server line.
type Server struct {
	Name string
	// Host and Port come validated from discovery: Host can only be an IP
	// address or a host name.
	Host   discovery.Host
	Port   uint16
	Weight int
	// Cookie is the server's sticky cookie value ("" with dynamic cookies
	// or no stickiness).
	Cookie string
	// Disabled servers are spare slots or instances discovery reports
	// failing: rendered `disabled` in HAProxy, absent in nginx.
	Disabled bool
	// Slot marks a spare slot.
	Slot bool
}

// Addr is host:port.
func (s Server) Addr() string { return s.Host.JoinPort(s.Port) }

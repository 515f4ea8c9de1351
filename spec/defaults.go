package spec

import (
	"path"
	"time"
)

// Defaults, in one place. Durations derived from the heartbeat are computed in
// Default.
const (
	DefaultProxy          = ProxyHAProxy
	DefaultHeartbeat      = 30 * time.Second
	DefaultConnections    = 5000
	DefaultBalance        = "leastconn"
	DefaultHealthPath     = "/health"
	DefaultHealthHost     = "localhost"
	DefaultHealthInterval = 5 * time.Second
	DefaultHealthFall     = 3
	DefaultHealthRise     = 2
	DefaultDrainTimeout   = 10 * time.Minute
	DefaultSlowstart      = 30 * time.Second
	DefaultCloseRate      = 10.0
	DefaultCookieHTTPOnly = true
	// DefaultALPN is what a TLS listener offers: HTTP/1.1, where every
	// WebSocket client upgrades.
	DefaultALPN           = ALPNHTTP11
	DefaultWeight         = 100
	DefaultHardStopAfter  = 30 * time.Minute
	DefaultNginxPidFile   = "/run/nginx.pid"
	DefaultNginxErrorLog  = "stderr"
	DefaultAdminSocket    = "/run/haproxy/admin.sock"
	DefaultConsulWaitTime = 5 * time.Minute
	DefaultConsulKVPrefix = "wsctl/"
	// DefaultAgentTTL is consul.agent_ttl: long enough that a stall of a
	// loaded machine or Consul does not end an agent's session (Consul's
	// own session TTLs start at 10s), short enough that a fleet drain names
	// a dead agent well within its timeout. docs/operations.md says why.
	DefaultAgentTTL      = 15 * time.Second
	DefaultMasterSocket  = "/run/haproxy/master.sock"
	DefaultHandoverAfter = time.Minute
	// DefaultStateFileName is the state file's name, in the admin
	// socket's directory unless haproxy.state_file says otherwise.
	DefaultStateFileName = "server-state"
	// tunnelHeartbeats is how many heartbeats an idle tunnel survives: one
	// lost or late heartbeat must not cut anyone.
	tunnelHeartbeats = 3
)

// Default fills every unset field with its default.
func (s *Spec) Default() {
	setString(&s.Proxy, DefaultProxy)
	setDuration(&s.Heartbeat, DefaultHeartbeat)
	if s.Connections == 0 {
		s.Connections = DefaultConnections
	}
	t := &s.Timeouts
	setDuration(&t.Connect, 5*time.Second)
	setDuration(&t.Client, 30*time.Second)
	setDuration(&t.Server, 30*time.Second)
	setDuration(&t.HTTPRequest, 10*time.Second)
	setDuration(&t.Queue, 30*time.Second)
	setDuration(&t.Tunnel, tunnelHeartbeats*s.Heartbeat.D())
	setDuration(&t.ClientFin, 30*time.Second)
	setDuration(&t.ServerFin, 30*time.Second)
	for i := range s.Listeners {
		for _, b := range s.Listeners[i].AllBinds() {
			b.TLS.defaults()
		}
	}
	for i := range s.Backends {
		s.Backends[i].defaults()
	}
	if s.Front != nil {
		s.Front.defaults(s.Listeners)
	}
	setDuration(&s.Consul.WaitTime, DefaultConsulWaitTime)
	setString(&s.Consul.KVPrefix, DefaultConsulKVPrefix)
	if s.Consul.AgentTTL == nil {
		d := Duration(DefaultAgentTTL)
		s.Consul.AgentTTL = &d
	}
	setString(&s.HAProxy.AdminSocket, DefaultAdminSocket)
	setString(&s.HAProxy.MasterSocket, DefaultMasterSocket)
	setDuration(&s.HAProxy.HardStopAfter, DefaultHardStopAfter)
	// A short hard_stop_after (a test, a benchmark) gets a hand-over that
	// begins well before it; an explicit handover_after is validated.
	setDuration(&s.HAProxy.HandoverAfter, min(DefaultHandoverAfter, s.HAProxy.HardStopAfter.D()/2))
	setString(&s.HAProxy.StateFile, path.Join(path.Dir(s.HAProxy.AdminSocket), DefaultStateFileName))
	setDuration(&s.Nginx.WorkerShutdownTimeout, DefaultHardStopAfter)
	setString(&s.Nginx.PidFile, DefaultNginxPidFile)
	setString(&s.Nginx.ErrorLog, DefaultNginxErrorLog)
}

// defaults fills a TLS section's unset fields (nil: no TLS, nothing to do).
func (t *TLS) defaults() {
	if t != nil && len(t.ALPN) == 0 {
		t.ALPN = []string{DefaultALPN}
	}
}

func (b *Backend) defaults() {
	setString(&b.Balance, DefaultBalance)
	setString(&b.Health.Path, DefaultHealthPath)
	setString(&b.Health.Host, DefaultHealthHost)
	setDuration(&b.Health.Interval, DefaultHealthInterval)
	if b.Health.Fall == 0 {
		b.Health.Fall = DefaultHealthFall
	}
	if b.Health.Rise == 0 {
		b.Health.Rise = DefaultHealthRise
	}
	setDuration(&b.DrainTimeout, DefaultDrainTimeout)
	if b.CloseRate == 0 {
		b.CloseRate = DefaultCloseRate
	}
	if b.Sticky.HTTPOnly == nil {
		v := DefaultCookieHTTPOnly
		b.Sticky.HTTPOnly = &v
	}
	if b.Slowstart == nil {
		d := Duration(DefaultSlowstart)
		b.Slowstart = &d
	}
	for i := range b.Servers {
		if b.Servers[i].Weight == 0 {
			b.Servers[i].Weight = DefaultWeight
		}
	}
}

func setString(p *string, def string) {
	if *p == "" {
		*p = def
	}
}

func setDuration(p *Duration, def time.Duration) {
	if *p == 0 {
		*p = Duration(def)
	}
}

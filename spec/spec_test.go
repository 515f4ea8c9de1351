package spec

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const validSpec = `proxy: haproxy
heartbeat: 20s
connections: 1000
listeners:
  - name: front
    bind: 127.0.0.1:8080
    routes:
      - path: /ws
        backend: ws
    default_backend: ws
backends:
  - name: ws
    sticky:
      cookie: SERVERID
    servers:
      - name: s1
        address: 127.0.0.1:9001
      - name: s2
        address: 127.0.0.1:9002
        weight: 50
haproxy:
  admin_socket: ${RUN:-/tmp/run}/admin.sock
`

func noEnv(string) (string, bool) { return "", false }

func TestParseAppliesDefaults(t *testing.T) {
	s, err := Parse("wsctl.yaml", []byte(validSpec), noEnv)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"tunnel is three heartbeats", s.Timeouts.Tunnel.D(), 60 * time.Second},
		{"balance", s.Backends[0].Balance, "leastconn"},
		{"health path", s.Backends[0].Health.Path, "/health"},
		{"weight default", s.Backends[0].Servers[0].Weight, 100},
		{"weight kept", s.Backends[0].Servers[1].Weight, 50},
		{"env default", s.HAProxy.AdminSocket, "/tmp/run/admin.sock"},
		{"master socket default", s.HAProxy.MasterSocket, DefaultMasterSocket},
		{"slowstart default", s.Backends[0].Slowstart.D(), DefaultSlowstart},
		{"close rate default", s.Backends[0].CloseRate, DefaultCloseRate},
		{"hand-over default", s.HAProxy.HandoverAfter.D(), DefaultHandoverAfter},
		{"state file beside the admin socket", s.HAProxy.StateFile, "/tmp/run/server-state"},
		{"cookie httponly default", *s.Backends[0].Sticky.HTTPOnly, DefaultCookieHTTPOnly},
		{"agent TTL default", s.Consul.AgentTTL.D(), DefaultAgentTTL},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestParseDefaultsALPN(t *testing.T) {
	src := strings.Replace(validSpec, "    bind: 127.0.0.1:8080\n", "    bind: 127.0.0.1:8080\n    tls:\n      cert: /etc/site.pem\n", 1)
	s, err := Parse("wsctl.yaml", []byte(src), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.Listeners[0].TLS.ALPN, []string{DefaultALPN}; !slices.Equal(got, want) {
		t.Errorf("alpn: got %v, want %v", got, want)
	}
}

func TestParseBinds(t *testing.T) {
	src := strings.Replace(validSpec, "    bind: 127.0.0.1:8080\n", `    binds:
      - address: 127.0.0.1:8080
      - address: 127.0.0.1:8443
        tls:
          cert: /etc/site.pem
          alpn: [h2, http/1.1]
      - address: 127.0.0.1:9443
        tls:
          cert: /etc/site.pem
`, 1)
	s, err := Parse("wsctl.yaml", []byte(src), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	binds := s.Listeners[0].AllBinds()
	if len(binds) != 3 || binds[0].TLS != nil || binds[1].Address != "127.0.0.1:8443" {
		t.Fatalf("binds: got %+v", binds)
	}
	if got, want := binds[1].TLS.ALPN, []string{ALPNHTTP2, ALPNHTTP11}; !slices.Equal(got, want) {
		t.Errorf("alpn kept: got %v, want %v", got, want)
	}
	if got, want := binds[2].TLS.ALPN, []string{DefaultALPN}; !slices.Equal(got, want) {
		t.Errorf("alpn default on a bind: got %v, want %v", got, want)
	}
}

func TestParseExpandsEnvironment(t *testing.T) {
	env := func(k string) (string, bool) {
		v, ok := map[string]string{"RUN": "/srv/ws", "CONNS": "2500", "EMPTY": ""}[k]
		return v, ok
	}
	src := strings.Replace(validSpec, "connections: 1000", "connections: ${CONNS}", 1)
	src = strings.Replace(src, "name: front", "name: ${EMPTY:-front}", 1)
	src = strings.Replace(src, "path: /ws", "path: /ws$${literal}", 1)
	_, err := Parse("wsctl.yaml", []byte(src), env)
	// $${ stays a literal ${, which is not a valid path: proves it was not expanded.
	if err == nil || !strings.Contains(err.Error(), `"/ws${literal}"`) {
		t.Fatalf("want the literal ${ kept and rejected as a path, got %v", err)
	}
	src = strings.Replace(src, "path: /ws$${literal}", "path: /ws", 1)
	s, err := Parse("wsctl.yaml", []byte(src), env)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if s.Connections != 2500 || s.HAProxy.AdminSocket != "/srv/ws/admin.sock" || s.Listeners[0].Name != "front" {
		t.Errorf("got connections %d, socket %q, listener %q", s.Connections, s.HAProxy.AdminSocket, s.Listeners[0].Name)
	}
}

// TestBadInput proves each kind of bad input is an error naming file:line and
// the field.
func TestBadInput(t *testing.T) {
	tests := []struct {
		name    string
		replace [2]string // applied to validSpec
		want    string    // substring of the error
	}{
		{"broken yaml", [2]string{"  - name: front\n", "  - name: front\n   bad"}, "wsctl.yaml:4: invalid YAML"},
		{"unknown key", [2]string{"    sticky:\n", "    stickyness: 1\n    sticky:\n"}, "wsctl.yaml:13: backends[0].stickyness: unknown key"},
		{"tab after a key", [2]string{"connections: 1000\n", "connections: 1000\nhaproxy:\n\tadmin_socket: /a.sock\n"}, "wsctl.yaml:5: invalid YAML: tab characters are not allowed in YAML indentation; use spaces"},
		{"misspelt key", [2]string{"heartbeat: 20s", "hearbeat: 20s"}, `wsctl.yaml:2: hearbeat: unknown key; did you mean "heartbeat"? (known keys: `},
		{"unknown key far from any", [2]string{"    sticky:\n", "    colour: 1\n    sticky:\n"}, "wsctl.yaml:13: backends[0].colour: unknown key (known keys: "},
		{"tab in the indentation", [2]string{"  - name: front\n", "  - name: front\n\tbind: x\n"}, "wsctl.yaml:6: invalid YAML: tab characters are not allowed in YAML indentation; use spaces"},
		{"bad duration", [2]string{"heartbeat: 20s", "heartbeat: 20 seconds"}, `wsctl.yaml:2: heartbeat: "20 seconds" is not a duration`},
		{"not a number", [2]string{"connections: 1000", "connections: many"}, `wsctl.yaml:3: connections: "many" is not a whole number`},
		{"duplicate backend", [2]string{"backends:\n", "backends:\n  - name: ws\n"}, `wsctl.yaml:13: backends[1].name: duplicate backend name "ws"`},
		{"duplicate server", [2]string{"name: s2", "name: s1"}, `wsctl.yaml:18: backends[0].servers[1].name: duplicate server name "s1"`},
		{"duplicate key", [2]string{"heartbeat: 20s\n", "heartbeat: 20s\nheartbeat: 30s\n"}, "wsctl.yaml:3: heartbeat: duplicate key (first set on line 2)"},
		{"name with space", [2]string{"name: s1", "name: s 1"}, `wsctl.yaml:16: backends[0].servers[0].name: "s 1" is not a valid server name`},
		{"name with semicolon", [2]string{"name: s1", `name: "s1;disable"`}, `backends[0].servers[0].name: "s1;disable" is not a valid server name`},
		{"name with hash", [2]string{"- name: ws\n", "- name: \"ws#x\"\n"}, `wsctl.yaml:12: backends[0].name: "ws#x" is not a valid backend name`},
		{"name with newline", [2]string{"name: s1", `name: "s1\nstats socket /tmp/x level admin"`}, `backends[0].servers[0].name: "s1\nstats socket`},
		{"injected path", [2]string{"path: /ws", `path: "/ws if TRUE\n  use_backend x"`}, `wsctl.yaml:8: listeners[0].routes[0].path`},
		{"tunnel below heartbeat", [2]string{"connections: 1000\n", "connections: 1000\ntimeouts:\n  tunnel: 10s\n"}, "wsctl.yaml:5: timeouts.tunnel: 10s must be above the heartbeat (20s)"},
		{"unknown backend", [2]string{"default_backend: ws", "default_backend: nope"}, `wsctl.yaml:10: listeners[0].default_backend: unknown backend "nope"`},
		{"unknown balance", [2]string{"    sticky:\n", "    balance: rr\n    sticky:\n"}, `wsctl.yaml:13: backends[0].balance: unknown value "rr"`},
		{"bad hash key", [2]string{"    sticky:\n", "    balance: hash\n    hash_key: room\n    sticky:\n"}, `wsctl.yaml:14: backends[0].hash_key: "room": want cookie:NAME`},
		{"bad address", [2]string{"127.0.0.1:9001", "127.0.0.1"}, `wsctl.yaml:17: backends[0].servers[0].address: "127.0.0.1" is not host:port`},
		{"bad port", [2]string{"127.0.0.1:9001", "127.0.0.1:70000"}, `port "70000"`},
		{"unset variable", [2]string{"${RUN:-/tmp/run}", "${RUN}"}, "wsctl.yaml:22: environment variable RUN is not set"},
		{"wrong shape", [2]string{"listeners:\n", "listeners: front\nx:\n"}, "wsctl.yaml:4: listeners: want a list"},
		{"shadowed route", [2]string{"      - path: /ws\n        backend: ws\n", "      - websocket: true\n        backend: ws\n      - path: /ws\n        websocket: true\n        backend: other\n"}, "listeners[0].routes[1]: never matches"},
		{"empty file", [2]string{validSpec, ""}, "wsctl.yaml:1: the file is empty"},
		{"close rate NaN", [2]string{"    sticky:\n", "    close_rate: .nan\n    sticky:\n"}, `wsctl.yaml:13: backends[0].close_rate: ".nan" is not a number`},
		{"close rate infinite", [2]string{"    sticky:\n", "    close_rate: 1e400\n    sticky:\n"}, `backends[0].close_rate: "1e400" is not a number`},
		{"close rate too small", [2]string{"    sticky:\n", "    close_rate: 1e-300\n    sticky:\n"}, "wsctl.yaml:13: backends[0].close_rate: 1e-300 is out of range (0.01 to 100000 sessions per second)"},
		{"rebalance with a hash", [2]string{"    sticky:\n", "    balance: source\n    rebalance: true\n    sticky:\n"}, "backends[0].rebalance: needs balance leastconn or roundrobin, not source"},
		{"close rate negative", [2]string{"    sticky:\n", "    close_rate: -1\n    sticky:\n"}, "backends[0].close_rate: -1 is out of range"},
		{"hand-over after hard-stop", [2]string{"/admin.sock\n", "/admin.sock\n  hard_stop_after: 1m\n  handover_after: 2m\n"}, "wsctl.yaml:24: haproxy.handover_after: 2m0s must be below hard_stop_after (1m0s)"},
		{"hand-over at hard-stop", [2]string{"/admin.sock\n", "/admin.sock\n  handover_after: 30m\n"}, "haproxy.handover_after: 30m0s must be below hard_stop_after (30m0s)"},
		{"state file with a space", [2]string{"/admin.sock\n", "/admin.sock\n  state_file: /tmp/a b\n"}, `wsctl.yaml:23: haproxy.state_file: "/tmp/a b" is not a valid path`},
		{"address with a zone", [2]string{"127.0.0.1:9001", "\"[fe80::1%eth0]:9001\""}, "is not an IP address (without zone) or host name"},
		// The operator's servers may be loopback or link-local, never an
		// address no connection goes to.
		{"unspecified address", [2]string{"127.0.0.1:9001", "0.0.0.0:9001"}, "wsctl.yaml:17: backends[0].servers[0].address: invalid address: not a server address: 0.0.0.0 is unspecified"},
		{"broadcast address", [2]string{"127.0.0.1:9001", "255.255.255.255:9001"}, "255.255.255.255 is the broadcast address"},
		{"httponly without a cookie", [2]string{"      cookie: SERVERID\n", "      httponly: false\n"}, "wsctl.yaml:14: backends[0].sticky.httponly: only used with sticky.cookie"},
		{"httponly not a bool", [2]string{"      cookie: SERVERID\n", "      cookie: SERVERID\n      httponly: no\n"}, `wsctl.yaml:15: backends[0].sticky.httponly: "no" is not true or false`},
		{"source address not an IP", [2]string{"connections: 1000\n", "connections: 1000\nsource_address: lb1.example\n"}, `wsctl.yaml:4: source_address: "lb1.example" is not a unicast IP address of this host`},
		{"source address unspecified", [2]string{"connections: 1000\n", "connections: 1000\nsource_address: 0.0.0.0\n"}, `source_address: "0.0.0.0" is not a unicast IP address`},
		{"source address with a zone", [2]string{"connections: 1000\n", "connections: 1000\nsource_address: fe80::1%eth0\n"}, `source_address: "fe80::1%eth0" is not a unicast IP address`},
		{"tune.bufsize too small", [2]string{"/admin.sock\n", "/admin.sock\n  tune_bufsize: 1\n"}, "wsctl.yaml:23: haproxy.tune_bufsize: 1 is out of range (0 for HAProxy's default, or 4096 to 268435440 bytes"},
		{"tune.bufsize 256 MB", [2]string{"/admin.sock\n", "/admin.sock\n  tune_bufsize: 268435456\n"}, "haproxy.tune_bufsize: 268435456 is out of range"},
		{"tune.bufsize negative", [2]string{"/admin.sock\n", "/admin.sock\n  tune_bufsize: -16384\n"}, "haproxy.tune_bufsize: -16384 is out of range"},
		{"alpn unknown", [2]string{"    bind: 127.0.0.1:8080\n", "    bind: 127.0.0.1:8080\n    tls:\n      cert: /etc/site.pem\n      alpn: [h3, http/1.1]\n"}, `wsctl.yaml:9: listeners[0].tls.alpn: unknown protocol "h3" (want h2, http/1.1)`},
		{"alpn without http/1.1", [2]string{"    bind: 127.0.0.1:8080\n", "    bind: 127.0.0.1:8080\n    tls:\n      cert: /etc/site.pem\n      alpn: [h2]\n"}, "listeners[0].tls.alpn: http/1.1 is required"},
		{"alpn h2 last", [2]string{"    bind: 127.0.0.1:8080\n", "    bind: 127.0.0.1:8080\n    tls:\n      cert: /etc/site.pem\n      alpn: [http/1.1, h2]\n"}, "listeners[0].tls.alpn: h2 after http/1.1 would never be chosen"},
		{"alpn twice", [2]string{"    bind: 127.0.0.1:8080\n", "    bind: 127.0.0.1:8080\n    tls:\n      cert: /etc/site.pem\n      alpn: [http/1.1, http/1.1]\n"}, "listeners[0].tls.alpn: http/1.1 is listed twice"},
		{"alpn not a list", [2]string{"    bind: 127.0.0.1:8080\n", "    bind: 127.0.0.1:8080\n    tls:\n      cert: /etc/site.pem\n      alpn: h2,http/1.1\n"}, "wsctl.yaml:9: listeners[0].tls.alpn: want a list"},
		{"bind and binds", [2]string{"    bind: 127.0.0.1:8080\n", "    bind: 127.0.0.1:8080\n    binds:\n      - address: 127.0.0.1:8443\n"}, "wsctl.yaml:7: listeners[0].binds: set bind (with tls) or binds, not both"},
		{"tls beside binds", [2]string{"    bind: 127.0.0.1:8080\n", "    binds:\n      - address: 127.0.0.1:8080\n    tls:\n      cert: /a.pem\n"}, "wsctl.yaml:8: listeners[0].tls: with binds, set tls on each bind that terminates TLS"},
		{"bind twice", [2]string{"    bind: 127.0.0.1:8080\n", "    binds:\n      - address: 127.0.0.1:8080\n      - address: 127.0.0.1:8080\n"}, `wsctl.yaml:8: listeners[0].binds[1].address: "127.0.0.1:8080" is bound twice`},
		{"bad bind address", [2]string{"    bind: 127.0.0.1:8080\n", "    binds:\n      - address: 127.0.0.1:8080\n      - address: localhost:8443\n"}, `wsctl.yaml:8: listeners[0].binds[1].address: "localhost" is not an IP address`},
		{"bad alpn on a bind", [2]string{"    bind: 127.0.0.1:8080\n", "    binds:\n      - address: 127.0.0.1:8443\n        tls:\n          cert: /a.pem\n          alpn: [h2]\n"}, "wsctl.yaml:10: listeners[0].binds[0].tls.alpn: http/1.1 is required"},
		{"unknown key in a bind", [2]string{"    bind: 127.0.0.1:8080\n", "    binds:\n      - address: 127.0.0.1:8443\n        port: 1\n"}, "wsctl.yaml:8: listeners[0].binds[0].port: unknown key"},
		{"agent TTL zero", [2]string{"connections: 1000\n", "connections: 1000\nconsul:\n  agent_ttl: 0s\n"}, "wsctl.yaml:5: consul.agent_ttl: 0s is out of range (1s to 10m0s)"},
		{"agent TTL negative", [2]string{"connections: 1000\n", "connections: 1000\nconsul:\n  agent_ttl: -15s\n"}, `wsctl.yaml:5: consul.agent_ttl: "-15s" is not a duration`},
		{"agent TTL below a second", [2]string{"connections: 1000\n", "connections: 1000\nconsul:\n  agent_ttl: 500ms\n"}, "consul.agent_ttl: 500ms is out of range"},
		{"agent TTL huge", [2]string{"connections: 1000\n", "connections: 1000\nconsul:\n  agent_ttl: 24h\n"}, "consul.agent_ttl: 24h0m0s is out of range"},
		{"multicast address", [2]string{"127.0.0.1:9001", "\"[ff02::1]:9001\""}, "ff02::1 is multicast"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.Replace(validSpec, tt.replace[0], tt.replace[1], 1)
			if src == validSpec && tt.replace[0] != tt.replace[1] {
				t.Fatalf("test setup: %q not found in the spec", tt.replace[0])
			}
			_, err := Parse("wsctl.yaml", []byte(src), noEnv)
			if err == nil {
				t.Fatalf("Parse accepted:\n%s", src)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error\n  %v\nwant it to contain\n  %s", err, tt.want)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !strings.Contains(err.Error(), "nope.yaml") || !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("got %v, want a not-exist error naming the file", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

func TestErrorsAreAllReported(t *testing.T) {
	src := strings.Replace(validSpec, "name: s1", "name: s 1", 1)
	src = strings.Replace(src, "127.0.0.1:9002", "nowhere", 1)
	_, err := Parse("wsctl.yaml", []byte(src), noEnv)
	if err == nil || strings.Count(err.Error(), "\n") != 1 {
		t.Errorf("want two errors on two lines, got %v", err)
	}
}

// TestHandoverFollowsAShortHardStop: with hard_stop_after below twice the
// default grace period and no handover_after, the hand-over starts at half
// of it instead of refusing the spec.
func TestHandoverFollowsAShortHardStop(t *testing.T) {
	s, err := Parse("wsctl.yaml", []byte(validSpec+"  hard_stop_after: 10s\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.HAProxy.HandoverAfter.D(); got != 5*time.Second {
		t.Errorf("handover_after = %s, want 5s", got)
	}
}

// TestSpecBackend finds a backend by name, the one in the spec (not a
// copy), and names the file and the backends it has for any other.
func TestSpecBackend(t *testing.T) {
	s := &Spec{File: "wsctl.yaml", Backends: []Backend{{Name: "ws"}, {Name: "chat"}}}
	if b, err := s.Backend("chat"); err != nil || b != &s.Backends[1] {
		t.Errorf("chat: %v, %v; want the spec's second backend", b, err)
	}
	_, err := s.Backend("wss")
	if want := `backend "wss" is not in wsctl.yaml (it has ws, chat)`; err == nil || err.Error() != want {
		t.Errorf("wss: %v, want %s", err, want)
	}
}

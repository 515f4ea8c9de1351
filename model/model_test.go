package model

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wsctl/wsctl/discovery"
	"github.com/wsctl/wsctl/spec"
)

func parse(t *testing.T, src string) *spec.Spec {
	t.Helper()
	s, err := spec.Parse("wsctl.yaml", []byte(src), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const routed = `listeners:
  - name: front
    bind: 127.0.0.1:8080
    routes:
      - path: /chat
        websocket: true
        backend: chat
      - path: /api
        backend: api
      - websocket: true
        backend: chat
    default_backend: web
backends:
  - {name: chat}
  - {name: api}
  - {name: web}
`

func TestLocationsRouteLikeHAProxy(t *testing.T) {
	m, err := Build(parse(t, routed), TargetNginx, discovery.Snapshot{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Location{
		{Path: "/", Upgrade: "chat", Plain: "web", Map: "wsctl_front_0"},
		{Path: "/api", Upgrade: "api", Plain: "api"},
	}
	if got := m.Frontends[0].Locations; !reflect.DeepEqual(got, want) {
		t.Errorf("locations:\n got %+v\nwant %+v", got, want)
	}
}

func TestLocationsWithoutDefault(t *testing.T) {
	src := strings.Replace(routed, "    default_backend: web\n", "", 1)
	src = strings.Replace(src, "      - websocket: true\n        backend: chat\n", "", 1)
	m, err := Build(parse(t, src), TargetNginx, discovery.Snapshot{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Location{
		{Path: "/"},
		{Path: "/api", Upgrade: "api", Plain: "api"},
		{Path: "/chat", Upgrade: "chat"},
	}
	if got := m.Frontends[0].Locations; !reflect.DeepEqual(got, want) {
		t.Errorf("locations:\n got %+v\nwant %+v", got, want)
	}
}

func TestBalance(t *testing.T) {
	tests := []struct {
		name, backend         string
		haproxy, nginx        string
		consistent            bool
		cookieDynamic, secure bool
	}{
		{name: "leastconn default", backend: "{name: b}", haproxy: "leastconn", nginx: "least_conn"},
		{name: "roundrobin", backend: "{name: b, balance: roundrobin}", haproxy: "roundrobin"},
		{name: "source hashes the whole address", backend: "{name: b, balance: source}", haproxy: "source", nginx: "hash $remote_addr consistent", consistent: true},
		{name: "room parameter", backend: "{name: b, balance: hash, hash_key: 'url_param:room'}", haproxy: "url_param room", nginx: "hash $arg_room consistent", consistent: true},
		{name: "header", backend: "{name: b, balance: hash, hash_key: 'header:X-Room-Id'}", haproxy: "hdr(X-Room-Id)", nginx: "hash $http_x_room_id consistent", consistent: true},
		{name: "cookie", backend: "{name: b, balance: hash, hash_key: 'cookie:room'}", haproxy: "hash req.cook(room)", nginx: "hash $cookie_room consistent", consistent: true},
		{name: "sticky fallback", backend: "{name: b, sticky: {cookie: SID, nginx_fallback: hash}}", haproxy: "leastconn", nginx: "hash $cookie_SID consistent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := parse(t, "listeners: [{name: f, bind: '127.0.0.1:1', default_backend: b}]\nbackends: ["+tt.backend+"]\n")
			m, err := Build(s, TargetNginx, discovery.Snapshot{})
			if err != nil {
				t.Fatal(err)
			}
			b := m.Backends[0]
			if b.Balance != tt.haproxy || b.NginxBalance != tt.nginx || b.HashConsistent != tt.consistent {
				t.Errorf("got haproxy %q nginx %q consistent %v", b.Balance, b.NginxBalance, b.HashConsistent)
			}
		})
	}
}

func TestServersSortedThenSlots(t *testing.T) {
	s := parse(t, `listeners: [{name: f, bind: '*:443', tls: {cert: /c.pem}, default_backend: b}]
backends: [{name: b, slots: 2, sticky: {cookie: SID}}]
`)
	snap := discovery.Snapshot{Backends: map[string][]discovery.Instance{"b": {
		{ID: "z", Host: discovery.MustParseIP("10.0.0.2"), Port: 80, Healthy: true},
		{ID: "a", Host: discovery.MustParseIP("10.0.0.1"), Port: 80, Weight: 7, Healthy: true},
	}}}
	m, err := Build(s, TargetHAProxy, snap)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, srv := range m.Backends[0].Servers {
		names = append(names, srv.Name)
	}
	if want := []string{"a", "z", "_slot1", "_slot2"}; !reflect.DeepEqual(names, want) {
		t.Errorf("servers %v, want %v", names, want)
	}
	c := m.Backends[0].Cookie
	if c == nil || !c.Dynamic || !c.Secure || c.Key != "wsctl-b" || m.Backends[0].Servers[0].Cookie != "" {
		t.Errorf("cookie %+v: want dynamic, secure, keyed, no per-server values", c)
	}
	if m.Frontends[0].Binds[0].Addr != "*:443" || m.Frontends[0].Proto != "https" {
		t.Errorf("frontend %+v", m.Frontends[0])
	}
}

func TestBinds(t *testing.T) {
	const mixed = `listeners:
  - name: f
    binds:
      - address: ':80'
      - address: ':443'
        tls: {cert: /c.pem, alpn: [h2, http/1.1]}
      - address: ':8443'
        tls: {cert: %s}
    default_backend: b
backends: [{name: b, sticky: {cookie: SID, nginx_fallback: hash}}]
`
	s := parse(t, strings.Replace(mixed, "%s", "/c.pem", 1))
	for _, target := range []string{TargetHAProxy, TargetNginx} {
		m, err := Build(s, target, discovery.Snapshot{})
		if err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		f := m.Frontends[0]
		want := []Bind{
			{Addr: "*:80"},
			{Addr: "*:443", TLS: &TLS{Cert: "/c.pem", Key: "/c.pem", ALPN: "h2,http/1.1", HTTP2: true}},
			{Addr: "*:8443", TLS: &TLS{Cert: "/c.pem", Key: "/c.pem", ALPN: "http/1.1"}},
		}
		if !reflect.DeepEqual(f.Binds, want) {
			t.Errorf("%s: binds %+v, want %+v", target, f.Binds, want)
		}
		if f.Proto != "" || f.NginxCert == nil || f.NginxCert.Cert != "/c.pem" {
			t.Errorf("%s: proto %q (want \"\": from the connection), nginx cert %+v", target, f.Proto, f.NginxCert)
		}
		if c := m.Backends[0].Cookie; c == nil || c.Secure {
			t.Errorf("%s: cookie %+v: plain HTTP routes here too, so it must not be secure", target, c)
		}
	}
	s = parse(t, strings.Replace(mixed, "%s", "/other.pem", 1))
	if _, err := Build(s, TargetHAProxy, discovery.Snapshot{}); err != nil {
		t.Errorf("haproxy takes a certificate per bind: %v", err)
	}
	_, err := Build(s, TargetNginx, discovery.Snapshot{})
	if want := "wsctl.yaml:8: listeners[0].binds[2].tls.cert: nginx takes one certificate per server block"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("nginx with two certificates: got %v, want %q", err, want)
	}
}

func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		90 * time.Second: "90s", time.Hour: "1h", 30 * time.Minute: "30m", 1500 * time.Millisecond: "1500ms", 0: "0s",
	} {
		if got := Duration(d); got != want {
			t.Errorf("Duration(%v) = %q, want %q", d, got, want)
		}
	}
}

package discovery_test

import (
	"errors"
	"testing"

	"github.com/wsctl/wsctl/discovery"
)

func TestParseHost(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		ip     bool // ParseIP accepts it
		host   bool // ParseHost accepts it
		want   string
		joined string // JoinPort(80)
		// notServer: an IP address refused with ErrNotServerAddr by both.
		notServer bool
	}{
		{name: "ipv4", in: "10.0.0.1", ip: true, host: true, want: "10.0.0.1", joined: "10.0.0.1:80"},
		{name: "ipv6", in: "2001:db8::1", ip: true, host: true, want: "2001:db8::1", joined: "[2001:db8::1]:80"},
		{name: "ipv4-mapped becomes ipv4", in: "::ffff:10.0.0.1", ip: true, host: true, want: "10.0.0.1", joined: "10.0.0.1:80"},
		{name: "host name", in: "backend-1.internal", host: true, want: "backend-1.internal", joined: "backend-1.internal:80"},
		{name: "ipv6 zone", in: "fe80::1%eth0"},
		{name: "zone with newline", in: "fe80::1%x\nset server ws/a state maint"},
		{name: "newline", in: "10.0.0.1\nglobal"},
		{name: "space", in: "10.0.0.1 port 80"},
		{name: "brackets", in: "[::1]"},
		{name: "semicolon", in: "a;b"},
		{name: "brace", in: "a}"},
		{name: "empty label", in: "a..b"},
		{name: "leading dash", in: "-a"},
		{name: "trailing dash in a label", in: "a-.b"},
		{name: "host with port", in: "a:80"},
		{name: "empty", in: ""},
		{name: "too long", in: string(make([]byte, 300))},
		{name: "loopback", in: "127.0.0.1", ip: true, host: true, want: "127.0.0.1", joined: "127.0.0.1:80"},
		{name: "ipv6 loopback", in: "::1", ip: true, host: true, want: "::1", joined: "[::1]:80"},
		// Link-local is the caller's policy (Consul refuses it, the spec not).
		{name: "link-local", in: "169.254.169.254", ip: true, host: true, want: "169.254.169.254", joined: "169.254.169.254:80"},
		{name: "unspecified", in: "0.0.0.0", notServer: true},
		{name: "this network", in: "0.1.2.3", notServer: true},
		{name: "ipv6 unspecified", in: "::", notServer: true},
		{name: "mapped unspecified", in: "::ffff:0.0.0.0", notServer: true},
		{name: "broadcast", in: "255.255.255.255", notServer: true},
		{name: "reserved", in: "240.0.0.1", notServer: true},
		{name: "multicast", in: "224.0.0.1", notServer: true},
		{name: "ipv6 multicast", in: "ff02::1", notServer: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := discovery.ParseIP(tt.in)
			if (err == nil) != tt.ip {
				t.Errorf("ParseIP(%q) error = %v, want accepted %v", tt.in, err, tt.ip)
			}
			if err != nil && !errors.Is(err, discovery.ErrInvalidHost) {
				t.Errorf("ParseIP error %v does not wrap ErrInvalidHost", err)
			}
			if errors.Is(err, discovery.ErrNotServerAddr) != tt.notServer {
				t.Errorf("ParseIP(%q) error = %v, want ErrNotServerAddr %v", tt.in, err, tt.notServer)
			}
			h, err = discovery.ParseHost(tt.in)
			if (err == nil) != tt.host {
				t.Fatalf("ParseHost(%q) error = %v, want accepted %v", tt.in, err, tt.host)
			}
			if errors.Is(err, discovery.ErrNotServerAddr) != tt.notServer {
				t.Errorf("ParseHost(%q) error = %v, want ErrNotServerAddr %v", tt.in, err, tt.notServer)
			}
			if err != nil {
				if h.IsValid() {
					t.Error("invalid input gave a valid Host")
				}
				return
			}
			if h.String() != tt.want || h.JoinPort(80) != tt.joined {
				t.Errorf("Host %q, JoinPort %q; want %q, %q", h, h.JoinPort(80), tt.want, tt.joined)
			}
			if _, isIP := h.IP(); isIP != tt.ip {
				t.Errorf("IP() reports %v, want %v", isIP, tt.ip)
			}
		})
	}
	if (discovery.Host{}).IsValid() {
		t.Error("the zero Host is valid")
	}
}

func TestInstanceValidate(t *testing.T) {
	ok := discovery.Instance{ID: "web-1", Host: discovery.MustParseIP("10.0.0.1"), Port: 80, Weight: 100}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid instance: %v", err)
	}
	for name, mutate := range map[string]func(*discovery.Instance){
		"no host":          func(in *discovery.Instance) { in.Host = discovery.Host{} },
		"port 0":           func(in *discovery.Instance) { in.Port = 0 },
		"weight too big":   func(in *discovery.Instance) { in.Weight = 257 },
		"negative weight":  func(in *discovery.Instance) { in.Weight = -1 },
		"id with space":    func(in *discovery.Instance) { in.ID = "web 1" },
		"id with newline":  func(in *discovery.Instance) { in.ID = "web\n1" },
		"id starts with _": func(in *discovery.Instance) { in.ID = "_slot1" },
		"empty id":         func(in *discovery.Instance) { in.ID = "" },
	} {
		in := ok
		mutate(&in)
		if err := in.Validate(); !errors.Is(err, discovery.ErrInvalidInstance) {
			t.Errorf("%s: Validate() = %v, want ErrInvalidInstance", name, err)
		}
	}
}

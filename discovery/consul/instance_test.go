package consul

import (
	"bytes"
	"cmp"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"

	"github.com/wsctl/wsctl/discovery"
	"github.com/wsctl/wsctl/spec"
)

func entry(node, nodeAddr, id, addr string, port int, meta map[string]string, statuses ...string) *api.ServiceEntry {
	e := &api.ServiceEntry{
		Node:    &api.Node{Node: node, Address: nodeAddr},
		Service: &api.AgentService{ID: id, Service: "chat", Address: addr, Port: port, Meta: meta},
	}
	for i, st := range statuses {
		e.Checks = append(e.Checks, &api.HealthCheck{CheckID: fmt.Sprintf("check-%d", i), Status: st})
	}
	return e
}

func TestHealthy(t *testing.T) {
	maint := api.HealthChecks{{CheckID: "_service_maintenance:x", Status: api.HealthCritical}}
	tests := []struct {
		name         string
		checks       api.HealthChecks
		allowWarning bool
		want         bool
	}{
		{name: "no checks", want: true},
		{name: "passing", checks: api.HealthChecks{{Status: api.HealthPassing}, {Status: api.HealthPassing}}, want: true},
		{name: "warning", checks: api.HealthChecks{{Status: api.HealthPassing}, {Status: api.HealthWarning}}, want: false},
		{name: "warning allowed", checks: api.HealthChecks{{Status: api.HealthWarning}}, allowWarning: true, want: true},
		{name: "critical", checks: api.HealthChecks{{Status: api.HealthPassing}, {Status: api.HealthCritical}}, want: false},
		{name: "critical with warning allowed", checks: api.HealthChecks{{Status: api.HealthWarning}, {Status: api.HealthCritical}}, allowWarning: true, want: false},
		{name: "maintenance", checks: maint, allowWarning: true, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := healthy(tt.checks, tt.allowWarning); got != tt.want {
				t.Errorf("healthy = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestToInstances(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	entries := []*api.ServiceEntry{
		entry("n1", "10.0.0.1", "web-b", "10.0.1.2", 8080, map[string]string{WeightMeta: "50", "zone": "a"}, api.HealthPassing),
		entry("n1", "10.0.0.1", "web-a", "", 8081, nil, api.HealthCritical),
		entry("n2", "10.0.0.2", "web-c", "10.0.1.3", 8080, map[string]string{WeightMeta: "300"}, api.HealthWarning),
		entry("n2", "10.0.0.2", "no-port", "10.0.1.3", 0, nil),
		{Node: &api.Node{Node: "n3"}, Service: &api.AgentService{ID: "no-address", Port: 80}},
		{Node: &api.Node{Node: "n3"}}, // no service: ignored
	}
	got, rejected := toInstances(entries, spec.ConsulService{Service: "chat", AllowWarning: true}, log)
	ip := discovery.MustParseIP
	want := []discovery.Instance{
		{ID: "web-a", Host: ip("10.0.0.1"), Port: 8081, Healthy: false},
		{ID: "web-b", Host: ip("10.0.1.2"), Port: 8080, Weight: 50, Healthy: true},
		{ID: "web-c", Host: ip("10.0.1.3"), Port: 8080, Healthy: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("toInstances:\n got %+v\nwant %+v", got, want)
	}
	if rejected != 2 {
		t.Errorf("rejected = %d, want 2", rejected)
	}
	for _, msg := range []string{"invalid weight ignored", "service_id=no-port", "service_id=no-address"} {
		if !strings.Contains(logs.String(), msg) {
			t.Errorf("log lacks %q:\n%s", msg, logs.String())
		}
	}
}

// TestToInstancesHostile feeds registrations an attacker who may register a
// service would write: each is left out on its own with its reason, and the
// one valid instance among them survives.
func TestToInstancesHostile(t *testing.T) {
	hostile := []struct {
		name, addr, nodeAddr string
		port                 int
		id                   string          // "": evil-<index>
		kind                 api.ServiceKind // "": typical
		reason               string          // in the log line; "": any
	}{
		{name: "haproxy directive injection", addr: "127.0.0.1 port 21003\n    http-request return status 200 string pwned\nglobal\n    stats socket /tmp/x/evil.sock mode 666 level admin\n    #", port: 21003},
		{name: "nginx block injection", addr: "::1]:21003 weight=1;\n    }\n    server {", port: 21003},
		{name: "runtime command in an IPv6 zone", addr: "fe80::1%x\nset server ws/backend2 state maint\nshutdown sessions server ws/backend2", port: 80},
		{name: "plain IPv6 zone", addr: "fe80::1%eth0", port: 80},
		{name: "host name", addr: "localhost", port: 80},
		{name: "unresolvable host name", addr: "does-not-exist.invalid", port: 80},
		{name: "address with port", addr: "10.0.0.9:80", port: 80},
		{name: "space", addr: "10.0.0.9 ", port: 80},
		{name: "semicolon", addr: "10.0.0.9;", port: 80},
		{name: "node address injection", nodeAddr: "10.0.0.9\nglobal", port: 80},
		{name: "negative port", addr: "10.0.0.9", port: -1},
		{name: "port too big", addr: "10.0.0.9", port: 65536},
		{name: "empty", port: 80},
		{name: "broadcast", addr: "255.255.255.255", port: 80, reason: "broadcast"},
		{name: "cloud metadata address", addr: "169.254.169.254", port: 80, reason: "link-local"},
		{name: "link-local node address", nodeAddr: "169.254.1.1", port: 80, reason: "link-local"},
		{name: "ipv6 link-local", addr: "fe80::1", port: 80, reason: "link-local"},
		{name: "unspecified", addr: "0.0.0.0", port: 80, reason: "unspecified"},
		{name: "ipv6 unspecified", addr: "::", port: 80, reason: "unspecified"},
		{name: "multicast", addr: "224.0.0.251", port: 80, reason: "multicast"},
		{name: "reserved", addr: "240.0.0.1", port: 80, reason: "reserved"},
		{name: "connect sidecar under the service's name", addr: "10.0.0.9", port: 21000, kind: api.ServiceKindConnectProxy, reason: "kind connect-proxy"},
		{name: "mesh gateway", addr: "10.0.0.9", port: 8443, kind: api.ServiceKindMeshGateway, reason: "kind mesh-gateway"},
		{name: "unknown kind", addr: "10.0.0.9", port: 80, kind: "x\ny", reason: "kind"},
		{name: "U+2010 hyphen look-alike", addr: "10.0.0.9", port: 80, id: "good\u20101", reason: "not printable ASCII"},
		{name: "U+2212 minus look-alike", addr: "10.0.0.9", port: 80, id: "good\u22121", reason: "not printable ASCII"},
		{name: "newline in the id", addr: "10.0.0.9", port: 80, id: "good\nglobal", reason: "not printable ASCII"},
	}
	var entries []*api.ServiceEntry
	ids := make([]string, len(hostile))
	for i, h := range hostile {
		ids[i] = cmp.Or(h.id, fmt.Sprintf("evil-%d", i))
		e := entry("n1", h.nodeAddr, ids[i], h.addr, h.port, nil, api.HealthPassing)
		e.Service.Kind = h.kind
		entries = append(entries, e)
	}
	entries = append(entries, entry("n2", "10.0.0.2", "good", "::ffff:10.0.0.7", 8080, nil, api.HealthPassing))
	entries = append(entries, entry("n2", "10.0.0.2", "local", "127.0.0.1", 8080, nil, api.HealthPassing))
	var logs bytes.Buffer
	got, rejected := toInstances(entries, spec.ConsulService{Service: "chat"}, slog.New(slog.NewTextHandler(&logs, nil)))
	want := []discovery.Instance{
		{ID: "good", Host: discovery.MustParseIP("10.0.0.7"), Port: 8080, Healthy: true},
		{ID: "local", Host: discovery.MustParseIP("127.0.0.1"), Port: 8080, Healthy: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("toInstances kept %+v, want only %+v", got, want)
	}
	if rejected != len(hostile) {
		t.Errorf("rejected = %d, want %d", rejected, len(hostile))
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	for i, h := range hostile {
		id := ids[i]
		found := slices.ContainsFunc(lines, func(l string) bool {
			named := strings.Contains(l, "service_id="+id+" ") || strings.Contains(l, "service_id="+strconv.Quote(id)+" ")
			return named && strings.Contains(l, "instance left out") && strings.Contains(l, h.reason)
		})
		if !found {
			t.Errorf("%s: no log line leaves out %q with %q:\n%s", h.name, id, h.reason, logs.String())
		}
	}
	// Every log line is one line: hostile text is quoted, never raw.
	for _, line := range lines {
		if !strings.HasPrefix(line, "time=") {
			t.Errorf("log line does not start a record (a raw newline got through): %q", line)
		}
	}
}

// The takeover: a registration on another node copying an existing
// instance's service ID, on a node that sorts first, took the plain name
// (and so drains and intents addressed to it). The older instance keeps it,
// and the copy is named apart, with a warning.
func TestToInstancesSameIDLaterRegistration(t *testing.T) {
	real := entry("node-b", "10.0.0.2", "echo-1", "10.0.0.2", 8080, nil, api.HealthPassing)
	real.Service.CreateIndex = 10
	copied := entry("node-a", "10.6.6.6", "echo-1", "10.6.6.6", 8080, nil, api.HealthPassing)
	copied.Service.CreateIndex = 42
	var logs bytes.Buffer
	for _, entries := range [][]*api.ServiceEntry{{real, copied}, {copied, real}} {
		got, rejected := toInstances(entries, spec.ConsulService{Service: "chat"}, slog.New(slog.NewTextHandler(&logs, nil)))
		want := []discovery.Instance{
			{ID: "echo-1", Host: discovery.MustParseIP("10.0.0.2"), Port: 8080, Healthy: true},
			{ID: "echo-1-" + hash8("node-a/echo-1"), Host: discovery.MustParseIP("10.6.6.6"), Port: 8080, Healthy: true},
		}
		if !reflect.DeepEqual(got, want) || rejected != 0 {
			t.Errorf("toInstances = %+v, %d rejected; want %+v", got, rejected, want)
		}
	}
	if !strings.Contains(logs.String(), "held by an older instance") || !strings.Contains(logs.String(), "node=node-a") {
		t.Errorf("no warning names the copy:\n%s", logs.String())
	}
}

// A flood of new registrations cannot push out the instances that were
// there, whatever their names: the newest are left out.
func TestToInstancesKeepsTheOldest(t *testing.T) {
	var entries []*api.ServiceEntry
	for i := range MaxInstances {
		e := entry("n1", "", fmt.Sprintf("web-%05d", i), "10.0.0.1", 1+i%65535, nil)
		e.Service.CreateIndex = uint64(1 + i)
		entries = append(entries, e)
	}
	newest := entry("n1", "", "0-first-by-name", "10.0.0.1", 80, nil)
	newest.Service.CreateIndex = MaxInstances + 1
	entries = append([]*api.ServiceEntry{newest}, entries...)
	got, rejected := toInstances(entries, spec.ConsulService{Service: "chat"}, slog.New(slog.DiscardHandler))
	if len(got) != MaxInstances || rejected != 1 {
		t.Fatalf("%d instances, %d rejected; want %d, 1", len(got), rejected, MaxInstances)
	}
	if got[0].ID != "web-00000" || got[len(got)-1].ID != fmt.Sprintf("web-%05d", MaxInstances-1) {
		t.Errorf("kept %s … %s, want web-00000 … web-%05d", got[0].ID, got[len(got)-1].ID, MaxInstances-1)
	}
}

func TestWeight(t *testing.T) {
	tests := []struct {
		name  string
		value string
		want  int
	}{
		{name: "one", value: "1", want: 1},
		{name: "max", value: "256", want: 256},
		{name: "zero", value: "0", want: 0},
		{name: "too big", value: "257", want: 0},
		{name: "not a number", value: "heavy", want: 0},
		{name: "plus sign", value: "+50", want: 0},
		{name: "minus zero", value: "-0", want: 0},
		{name: "leading zero", value: "050", want: 0},
		{name: "space", value: " 50", want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &api.AgentService{ID: "x", Meta: map[string]string{WeightMeta: tt.value}}
			// Every value here that is not taken is invalid ("0" too).
			if got, ok := weight(s); got != tt.want || ok != (tt.want != 0) {
				t.Errorf("weight(%q) = %d, %v; want %d, %v", tt.value, got, ok, tt.want, tt.want != 0)
			}
		})
	}
}

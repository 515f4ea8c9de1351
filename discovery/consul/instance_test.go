package consul

import (
	"bytes"
	"fmt"
	"log/slog"
	"reflect"
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
	entries[0].Service.Tags = []string{"ws", "v2"}
	got := toInstances(entries, spec.ConsulService{Service: "chat", AllowWarning: true}, log)
	want := []discovery.Instance{
		{ID: "web-a", Address: "10.0.0.1", Port: 8081, Healthy: false},
		{ID: "web-b", Address: "10.0.1.2", Port: 8080, Weight: 50, Healthy: true, Tags: []string{"ws", "v2"}, Meta: map[string]string{WeightMeta: "50", "zone": "a"}},
		{ID: "web-c", Address: "10.0.1.3", Port: 8080, Healthy: true, Meta: map[string]string{WeightMeta: "300"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("toInstances:\n got %+v\nwant %+v", got, want)
	}
	for _, msg := range []string{"invalid weight ignored", "service_id=no-port", "service_id=no-address"} {
		if !strings.Contains(logs.String(), msg) {
			t.Errorf("log lacks %q:\n%s", msg, logs.String())
		}
	}
	entries[0].Service.Tags[0] = "changed"
	if got[1].Tags[0] != "ws" {
		t.Error("instances share tags with the API response")
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
	}
	log := slog.New(slog.DiscardHandler)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &api.AgentService{ID: "x", Meta: map[string]string{WeightMeta: tt.value}}
			if got := weight(s, log); got != tt.want {
				t.Errorf("weight(%q) = %d, want %d", tt.value, got, tt.want)
			}
		})
	}
}

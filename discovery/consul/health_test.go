package consul

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/consul/api"

	"github.com/wsctl/wsctl/spec"
)

// healthAnswer is what Consul's /v1/health/service answers for n
// instances of "chat", every field Consul fills filled in: the first is
// in maintenance, the second has only its node's address and a weight,
// every third is tagged "WS".
func healthAnswer(n int) []*api.ServiceEntry {
	out := make([]*api.ServiceEntry, n)
	for i := range out {
		svc := &api.AgentService{
			ID: fmt.Sprintf("chat-%04d", i), Service: "chat", Address: fmt.Sprintf("10.0.%d.%d", i/250, i%250+1), Port: 8080,
			Tags: []string{}, Meta: map[string]string{"version": "1"}, CreateIndex: uint64(100 + i), ModifyIndex: uint64(100 + i),
			TaggedAddresses: map[string]api.ServiceAddress{
				"lan_ipv4": {Address: "10.0.0.1", Port: 8080}, "wan_ipv4": {Address: "10.0.0.1", Port: 8080},
			},
			Weights: api.AgentWeights{Passing: 1, Warning: 1},
			Proxy:   &api.AgentServiceConnectProxyConfig{}, Connect: &api.AgentServiceConnect{},
		}
		checks := api.HealthChecks{
			{Node: "node-1", CheckID: "serfHealth", Name: "Serf Health Status", Status: api.HealthPassing, Output: "Agent alive and reachable", Type: "", CreateIndex: 10, ModifyIndex: 10},
			{Node: "node-1", CheckID: "service:" + svc.ID, Name: "Service 'chat' check", Status: api.HealthPassing, ServiceID: svc.ID, ServiceName: "chat", Type: "ttl", CreateIndex: svc.CreateIndex, ModifyIndex: svc.CreateIndex},
		}
		switch {
		case i == 0:
			checks = append(checks, &api.HealthCheck{Node: "node-1", CheckID: api.ServiceMaintPrefix + svc.ID, Status: api.HealthCritical})
		case i == 1:
			svc.Address, svc.Meta = "", map[string]string{WeightMeta: "7"}
		case i%3 == 0:
			svc.Tags = []string{"v2", "WS"}
		}
		out[i] = &api.ServiceEntry{
			Node: &api.Node{
				ID: "3fcc3332-32a5-ce68-a6d0-4e442db8c78f", Node: "node-1", Address: "10.9.0.1", Datacenter: "dc1",
				TaggedAddresses: map[string]string{"lan": "10.9.0.1", "lan_ipv4": "10.9.0.1", "wan": "10.9.0.1", "wan_ipv4": "10.9.0.1"},
				Meta:            map[string]string{"consul-network-segment": "", "consul-version": "1.22.0"}, CreateIndex: 11, ModifyIndex: 15,
			},
			Service: svc,
			Checks:  checks,
		}
	}
	return out
}

// serveHealth serves entries as Consul's health endpoint does until the
// test ends and returns a client for it.
func serveHealth(t testing.TB, entries []*api.ServiceEntry) *healthClient {
	t.Helper()
	body, err := json.Marshal(entries)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Consul-Index", "42")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	_, health, _, err := newClient(spec.Consul{Address: srv.Listener.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	return health
}

// TestHealthServiceAsTheAPI: the instances made from healthService's
// partial decode are those made from the API client's whole one, tags
// (matched as Consul matches them, case-insensitively), maintenance,
// node addresses and weights included.
func TestHealthServiceAsTheAPI(t *testing.T) {
	entries := healthAnswer(30)
	client := serveHealth(t, entries)
	log := slog.New(slog.DiscardHandler)
	for _, tc := range []struct {
		name string
		tags []string
		want int
	}{
		{name: "no tags", want: 30},
		{name: "one tag, other case", tags: []string{"ws"}, want: 9},
		{name: "two tags", tags: []string{"ws", "V2"}, want: 9},
		{name: "a tag none has", tags: []string{"other"}, want: 0},
	} {
		svc := spec.ConsulService{Service: "chat", Tags: tc.tags}
		got, meta, err := healthService(client, svc, queryOptions(context.Background(), svc, false))
		if err != nil {
			t.Fatal(err)
		}
		if meta.LastIndex != 42 {
			t.Errorf("%s: index %d, want 42", tc.name, meta.LastIndex)
		}
		var tagged []*api.ServiceEntry
		for _, e := range entries {
			if hasTags(e.Service.Tags, tc.tags) {
				tagged = append(tagged, e)
			}
		}
		want, _ := toInstances(tagged, svc, log)
		have, _ := toInstances(got, svc, log)
		if diff := cmp.Diff(want, have); diff != "" {
			t.Errorf("%s: instances (-API +healthService):\n%s", tc.name, diff)
		}
		if len(have) != tc.want {
			t.Errorf("%s: %d instances, want %d", tc.name, len(have), tc.want)
		}
	}
}

// TestHealthServiceDecodesOnlyWhatItReads: a registration in a service
// of 1,000 instances is a megabyte of JSON decoded in its path; decoding
// only what toInstances reads allocates under half of what the API
// client's api.ServiceEntry takes (87 allocations an instance here).
func TestHealthServiceDecodesOnlyWhatItReads(t *testing.T) {
	const n = 1000
	client := serveHealth(t, healthAnswer(n))
	svc := spec.ConsulService{Service: "chat"}
	allocs := testing.AllocsPerRun(3, func() {
		if _, _, err := healthService(client, svc, queryOptions(context.Background(), svc, false)); err != nil {
			t.Fatal(err)
		}
	})
	if perInstance := allocs / n; perInstance > 40 {
		t.Errorf("%.0f allocations an instance, want at most 40", perInstance)
	}
}

// TestLocalConsulUncompressed: a Consul on this host is asked for plain
// answers (Consul gzips whenever asked, and a 1,000-instance health answer
// cost more to compress and inflate than loopback takes to carry it); a
// remote one still compresses.
func TestLocalConsulUncompressed(t *testing.T) {
	var asked string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = r.Header.Get("Accept-Encoding")
		w.Header().Set("X-Consul-Index", "1")
		_, _ = w.Write([]byte("[]"))
	}))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	for _, addr := range []string{"127.0.0.1:" + port, "http://localhost:" + port} {
		client, health, _, err := newClient(spec.Consul{Address: addr})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := client.Health().Service("chat", "", false, nil); err != nil {
			t.Fatal(err)
		}
		if asked != "" {
			t.Errorf("%s: the API client asked for Accept-Encoding %q, want none", addr, asked)
		}
		svc := spec.ConsulService{Service: "chat"}
		if _, _, err := healthService(health, svc, queryOptions(context.Background(), svc, false)); err != nil {
			t.Fatal(err)
		}
		if asked != "" {
			t.Errorf("%s: the health query asked for Accept-Encoding %q, want none", addr, asked)
		}
	}
	for addr, want := range map[string]bool{
		"127.0.0.1:8500": true, "127.3.4.5:8500": true, "[::1]:8500": true, "localhost": true,
		"LOCALHOST:8500": true, "https://127.0.0.1:8501": true, "unix:///run/consul.sock": true,
		"10.0.0.7:8500": false, "consul.service:8500": false, "https://[2001:db8::1]:8501": false,
	} {
		if got := onThisHost(addr); got != want {
			t.Errorf("onThisHost(%q) = %v, want %v", addr, got, want)
		}
	}
}

// TestHealthQueryAsTheAPI: the health query carries what the API client's
// Health().Service would for the same options and configuration (path,
// parameters, token, basic auth), over TCP and over a unix socket.
func TestHealthQueryAsTheAPI(t *testing.T) {
	t.Setenv("CONSUL_HTTP_TOKEN", "env-token")
	t.Setenv("CONSUL_HTTP_AUTH", "user:secret")
	var got []*http.Request
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r)
		w.Header().Set("X-Consul-Index", "7")
		_, _ = w.Write([]byte("[]"))
	})
	tcp := httptest.NewServer(handler)
	t.Cleanup(tcp.Close)
	sock := filepath.Join(t.TempDir(), "consul.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	unix := httptest.NewUnstartedServer(handler)
	unix.Listener = ln
	unix.Start()
	t.Cleanup(unix.Close)

	svc := spec.ConsulService{Service: "chat-ws", Datacenter: "dc2", Tags: []string{"ws", "v2"}}
	for _, addr := range []string{tcp.Listener.Addr().String(), "unix://" + sock} {
		client, health, _, err := newClient(spec.Consul{Address: addr})
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []*api.QueryOptions{
			queryOptions(context.Background(), svc, false),
			{AllowStale: true, WaitIndex: 41, WaitTime: 90 * time.Second, Token: "query-token"},
		} {
			got = nil
			if _, _, err := client.Health().ServiceMultipleTags(svc.Service, svc.Tags, false, q); err != nil {
				t.Fatal(err)
			}
			_, meta, err := healthService(health, svc, q)
			if err != nil {
				t.Fatalf("%s: %v", addr, err)
			}
			if meta.LastIndex != 7 {
				t.Errorf("%s: index %d, want 7", addr, meta.LastIndex)
			}
			if len(got) != 2 {
				t.Fatalf("%s: %d requests, want 2", addr, len(got))
			}
			theirs, ours := got[0], got[1]
			if theirs.URL.Path != ours.URL.Path || theirs.URL.Query().Encode() != ours.URL.Query().Encode() {
				t.Errorf("%s: asked %s, the API client %s", addr, ours.URL, theirs.URL)
			}
			for _, h := range []string{"X-Consul-Token", "Authorization"} {
				if theirs.Header.Get(h) != ours.Header.Get(h) || ours.Header.Get(h) == "" {
					t.Errorf("%s: %s %q, the API client's %q", addr, h, ours.Header.Get(h), theirs.Header.Get(h))
				}
			}
		}
	}
}

// TestHealthQueryRefuses: an answer that is not 200, has no index, is
// not the JSON of a list of entries, or is too large is an error, never
// an empty service.
func TestHealthQueryRefuses(t *testing.T) {
	for name, tc := range map[string]struct {
		status int
		index  string
		body   string
	}{
		"status":    {status: 403, index: "1", body: "Permission denied"},
		"no index":  {status: 200, body: "[]"},
		"not JSON":  {status: 200, index: "1", body: `[{"Node":`},
		"an object": {status: 200, index: "1", body: `{"Node":{}}`},
		"too large": {status: 200, index: "1", body: "[" + strings.Repeat(" ", maxHealthAnswer) + "]"},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if tc.index != "" {
				w.Header().Set("X-Consul-Index", tc.index)
			}
			w.WriteHeader(tc.status)
			_, _ = w.Write([]byte(tc.body))
		}))
		_, health, _, err := newClient(spec.Consul{Address: srv.Listener.Addr().String()})
		if err != nil {
			t.Fatal(err)
		}
		svc := spec.ConsulService{Service: "chat"}
		if es, _, err := healthService(health, svc, queryOptions(context.Background(), svc, false)); err == nil {
			t.Errorf("%s: %d entries and no error", name, len(es))
		}
		srv.Close()
	}
}

package consul

import (
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	gojson "github.com/goccy/go-json"
	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/consul/api"

	"github.com/wsctl/wsctl/discovery"
	"github.com/wsctl/wsctl/model"
	"github.com/wsctl/wsctl/render"
	"github.com/wsctl/wsctl/spec"
)

// fuzzSpec is a Consul-backed backend behind one listener, with sticky
// cookies so both targets render every server line.
const fuzzSpec = `
listeners:
  - name: front
    bind: 127.0.0.1:8080
    default_backend: ws
backends:
  - name: ws
    sticky: {cookie: SID, nginx_fallback: hash}
    consul: {service: chat}
`

// FuzzDiscoveryToConfig drives one registration, every field an attacker
// controls, through the Consul boundary, the model and both templates, and
// parses the config back (render.Config does): whatever the registration,
// rendering never fails on the check, an instance that got through is
// rendered as exactly one server line with its address, and the older
// instance beside it keeps its name and address.
func FuzzDiscoveryToConfig(f *testing.F) {
	f.Add("10.0.0.1", "10.0.0.2", "web-1", "node-1", 8080, "50")
	f.Add("127.0.0.1 port 21003\n    http-request return status 200 string pwned\nglobal\n    stats socket /tmp/x.sock mode 666 level admin\n    #", "", "evil", "n", 21003, "")
	f.Add("::1]:21003 weight=1;\n    }\n    server {", "", "evil", "n", 21003, "")
	f.Add("fe80::1%x\nset server ws/b state maint", "", "evil", "n", 80, "")
	f.Add("", "10.0.0.3\nglobal", "web 1/;{}", "n\n1", 80, "1e9")
	f.Add("::ffff:10.0.0.1", "", "", "", 65535, "256")
	f.Add("2001:db8::1", "", "web:1", "n", 1, "-1")
	f.Add("10.6.6.6", "", "good", "a-node", 80, "+50")                  // the older instance's ID, on a node sorting first
	f.Add("10.6.6.6", "", "good\u2010", "a-node", 80, "")               // a look-alike
	f.Add("169.254.169.254", "", "meta", "n", 80, "")                   // the cloud metadata address
	f.Add("", "255.255.255.255", "bcast", "n", 80, "")                  // broadcast, from the node
	f.Add("0.0.0.0", "", "good-"+withSuffix("", "a/good"), "a", 80, "") // another's suffixed name
	s, err := spec.Parse("wsctl.yaml", []byte(fuzzSpec), func(string) (string, bool) { return "", false })
	if err != nil {
		f.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	f.Fuzz(func(t *testing.T, addr, nodeAddr, id, node string, port int, weight string) {
		e := &api.ServiceEntry{
			Node:    &api.Node{Node: node, Address: nodeAddr},
			Service: &api.AgentService{ID: id, Service: "chat", Address: addr, Port: port, Meta: map[string]string{WeightMeta: weight}, CreateIndex: 2},
		}
		good := &api.ServiceEntry{
			Node:    &api.Node{Node: "good-node", Address: "10.9.9.9"},
			Service: &api.AgentService{ID: "good", Service: "chat", Address: "10.9.9.9", Port: 9999, CreateIndex: 1},
		}
		instances, rejected := toInstances([]*api.ServiceEntry{e, good}, spec.ConsulService{Service: "chat"}, log)
		if len(instances)+rejected != 2 {
			t.Fatalf("%d instances + %d rejected, want 2 in all", len(instances), rejected)
		}
		for _, in := range instances {
			if err := in.Validate(); err != nil {
				t.Fatalf("an invalid instance got through: %v", err)
			}
			if in.ID == "good" && in.Addr() != "10.9.9.9:9999" {
				t.Fatalf("the name of the older instance went to %s", in.Addr())
			}
		}
		snap := discovery.Snapshot{Backends: map[string][]discovery.Instance{"ws": instances}}
		for _, target := range []string{model.TargetHAProxy, model.TargetNginx} {
			r, err := render.Config(s, target, snap, "")
			if err != nil {
				t.Fatalf("%s: %v", target, err)
			}
			for _, in := range instances {
				if n := serverLines(string(r.Config), in.Addr()); n != 1 {
					t.Errorf("%s: %d server lines for %s, want 1", target, n, in.Addr())
				}
			}
		}
	})
}

// serverLines counts the lines of config that start with "server" and
// carry addr as a word.
func serverLines(config, addr string) int {
	n := 0
	for _, line := range strings.Split(config, "\n") {
		f := strings.Fields(strings.TrimSuffix(strings.TrimSpace(line), ";"))
		if len(f) > 1 && f[0] == "server" && slices.Contains(f[1:], addr) {
			n++
		}
	}
	return n
}

// FuzzHealthDecode: Consul's answer is decoded with goccy/go-json (see
// healthClient); on any input it must not panic and must read what
// encoding/json reads whenever encoding/json accepts the input. Input
// that is not UTF-8 is left out: encoding/json replaces the bad bytes by
// U+FFFD where goccy keeps them, Consul (encoding/json itself) never sends
// them, and whatever reaches toInstances is checked there (see
// FuzzDiscoveryToConfig, whose strings need not be UTF-8).
func FuzzHealthDecode(f *testing.F) {
	body, err := json.Marshal(healthAnswer(3))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(body)
	f.Add([]byte(`[{"Node":{"Node":"n","Address":"10.0.0.1"},"Service":{"ID":"a","Port":80,"Tags":["x"],"Meta":{"k":"v"}},"Checks":[{"CheckID":"c","Status":"passing"}]}]`))
	f.Add([]byte(`[{"node":{"node":"n"},"service":{"id":"\u00e9\ud800","port":1e3}}]`))
	f.Add([]byte(`[{"Service":null,"Checks":null},{}]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if !utf8.Valid(body) {
			return
		}
		var want, got []healthEntry
		wantErr := json.Unmarshal(body, &want)
		gotErr := gojson.Unmarshal(body, &got)
		if wantErr != nil {
			return
		}
		if gotErr != nil {
			t.Fatalf("encoding/json read %q, goccy/go-json: %v", body, gotErr)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("%q read differently (-encoding/json +goccy):\n%s", body, diff)
		}
	})
}

package bench

import (
	"encoding/json"
	"testing"

	"github.com/hashicorp/consul/api"
)

// TestHasServiceID: the churn's cheap search finds a registration in a
// health answer as the decode of its service IDs does, and nothing that
// only looks like it (a longer ID, the check's name and ID, which name the
// service too).
func TestHasServiceID(t *testing.T) {
	answer := func(ids ...string) []byte {
		var es []api.ServiceEntry
		for _, id := range ids {
			es = append(es, api.ServiceEntry{
				Node:    &api.Node{Node: "n1", Address: "127.0.0.1"},
				Service: &api.AgentService{ID: id, Service: "chat-ws", Port: 80},
				Checks:  api.HealthChecks{{CheckID: "service:" + id, Name: "Service '" + id + "' check", ServiceID: id, Status: "passing"}},
			})
		}
		b, err := json.MarshalIndent(es, "", "    ")
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, c := range []struct {
		ids  []string
		want bool
	}{
		{[]string{"chat-ws-1", "chat-ws-4"}, true},
		{[]string{"chat-ws-1", "chat-ws-40", "chat-ws-14"}, false},
		{nil, false},
	} {
		body := answer(c.ids...)
		if got := hasServiceID(body, "chat-ws-4"); got != c.want {
			t.Errorf("hasServiceID(%v, chat-ws-4) = %v, want %v", c.ids, got, c.want)
		}
		decoded := false
		for _, id := range healthIDs(body) {
			decoded = decoded || id == "chat-ws-4"
		}
		if decoded != c.want {
			t.Errorf("healthIDs(%v) holds chat-ws-4: %v, want %v", c.ids, decoded, c.want)
		}
	}
}

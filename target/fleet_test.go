package target_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/wsctl/wsctl/discovery"
	"github.com/wsctl/wsctl/fleet"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/target"
)

// readOnly is a fleet that can only be read.
type readOnly struct {
	target.Operator
	view *fleet.View
	err  error
}

func (r readOnly) Read(context.Context, uint64) (*fleet.View, error) { return r.view, r.err }

// TestFleetStatus: the fleet's status is one read's Overview of the
// backend; a read that fails is the error.
func TestFleetStatus(t *testing.T) {
	ref := haproxy.Ref{Backend: "ws", Server: "s1"}
	v := &fleet.View{Agents: map[string]fleet.Announcement{"lb1": {Agent: "lb1"}},
		Progress: map[haproxy.Ref]map[string]fleet.Progress{ref: {"lb1": {Agent: "lb1", Backend: "ws", Server: "s1", Admin: haproxy.Drain}}}}
	st, err := (&target.Fleet{Operator: readOnly{view: v}}).Status(context.Background(), "ws")
	if err != nil || st.Fleet == nil || st.Listings != nil || len(st.Fleet.Servers) != 1 || st.Fleet.Servers[0].Server != "ws/s1" {
		t.Fatalf("got %+v, %v; want lb1's report on ws/s1", st, err)
	}
	if st, _ := (&target.Fleet{Operator: readOnly{view: v}}).Status(context.Background(), "other"); len(st.Fleet.Servers) != 0 {
		t.Errorf("backend other: %+v", st.Fleet)
	}
	down := errors.New("consul down")
	if _, err := (&target.Fleet{Operator: readOnly{err: down}}).Status(context.Background(), ""); !errors.Is(err, down) {
		t.Errorf("a read that fails: %v", err)
	}
}

// TestDiscovered: a fleet's servers are the instances discovery found for
// the backend, by name, with host:port; other backends' are left out.
func TestDiscovered(t *testing.T) {
	snap := discovery.Snapshot{Backends: map[string][]discovery.Instance{
		"ws":    {{ID: "s1", Host: discovery.MustParseIP("10.0.0.1"), Port: 8080}, {ID: "s2", Host: discovery.MustParseIP("::1"), Port: 8081}},
		"other": {{ID: "o1", Host: discovery.MustParseIP("10.0.0.9"), Port: 80}},
	}}
	got := target.Discovered(snap, "ws")
	want := map[string]map[string]string{"ws": {"s1": "10.0.0.1:8080", "s2": "[::1]:8081"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

package target_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/wsctl/wsctl/discovery"
	"github.com/wsctl/wsctl/fleet"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/haproxy/haproxytest"
	"github.com/wsctl/wsctl/spec"
	"github.com/wsctl/wsctl/target"
)

// TestForBackend: a backend Consul discovers acts through the fleet, with
// the servers discovered for it and the caller's settings; any other on
// the admin sockets with the intent store; only the chosen side is
// reached, and its failure is the error.
func TestForBackend(t *testing.T) {
	s := &spec.Spec{Consul: spec.Consul{Address: "127.0.0.1:8500"}, Backends: []spec.Backend{
		{Name: "ws"}, {Name: "ws_consul", Consul: &spec.ConsulService{Service: "echo"}},
	}}
	s.HAProxy.StateFile = t.TempDir() + "/server-state"
	snap := discovery.Snapshot{Backends: map[string][]discovery.Instance{
		"ws_consul": {{ID: "s1", Host: discovery.MustParseIP("10.0.0.1"), Port: 8080}},
	}}
	op := readOnly{}
	sockets := []target.Socket{{Name: "/run/haproxy/admin.sock", Runtime: haproxytest.NewRuntime()}}
	down := errors.New("consul down")
	var calls []string
	reach := func(discoverErr error) target.Reach {
		calls = nil
		return target.Reach{
			Discover: func(ctx context.Context, got *spec.Spec) (discovery.Snapshot, error) {
				calls = append(calls, "discover")
				if _, ok := ctx.Deadline(); !ok || got != s {
					t.Errorf("discover: no deadline or another spec")
				}
				return snap, discoverErr
			},
			Timeout: time.Minute,
			Operator: func(c spec.Consul) (target.Operator, error) {
				calls = append(calls, "operator "+c.Address)
				return op, nil
			},
			Sockets: func(context.Context) ([]target.Socket, error) {
				calls = append(calls, "sockets")
				return sockets, nil
			},
		}
	}
	update := func(haproxy.Ref, fleet.Status) {}
	settings := target.Fleet{AllowMissing: true, Who: "ci", Reason: "release", Update: update}
	local := target.Local{Reason: "wsctl rollout", Poll: time.Second}

	got, err := target.ForBackend(context.Background(), s, s.Backends[1], reach(nil), settings, local)
	f, ok := got.(*target.Fleet)
	if err != nil || !ok {
		t.Fatalf("ws_consul: got %T, %v; want the fleet", got, err)
	}
	want := map[string]map[string]string{"ws_consul": {"s1": "10.0.0.1:8080"}}
	if f.Operator != op || !reflect.DeepEqual(f.Servers, want) || !f.AllowMissing || f.Who != "ci" || f.Reason != "release" || f.Update == nil {
		t.Errorf("ws_consul: got %+v, want the operator, servers %v and the settings", f, want)
	}
	if wantCalls := []string{"discover", "operator 127.0.0.1:8500"}; !reflect.DeepEqual(calls, wantCalls) {
		t.Errorf("ws_consul: reached %v, want %v", calls, wantCalls)
	}

	got, err = target.ForBackend(context.Background(), s, s.Backends[0], reach(nil), settings, local)
	l, ok := got.(*target.Local)
	if err != nil || !ok {
		t.Fatalf("ws: got %T, %v; want the admin sockets", got, err)
	}
	if !reflect.DeepEqual(l.Sockets, sockets) || l.Intents == nil || l.Reason != "wsctl rollout" || l.Poll != time.Second {
		t.Errorf("ws: got %+v, want the sockets, an intent store and the settings", l)
	}
	if wantCalls := []string{"sockets"}; !reflect.DeepEqual(calls, wantCalls) {
		t.Errorf("ws: reached %v, want %v", calls, wantCalls)
	}

	if _, err := target.ForBackend(context.Background(), s, s.Backends[1], reach(down), settings, local); !errors.Is(err, down) {
		t.Errorf("discovery failed: got %v, want %v", err, down)
	}
	if wantCalls := []string{"discover"}; !reflect.DeepEqual(calls, wantCalls) {
		t.Errorf("discovery failed: reached %v, want %v", calls, wantCalls)
	}
}

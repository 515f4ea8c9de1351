package static

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wsctl/wsctl/discovery"
	"github.com/wsctl/wsctl/spec"
)

// TestSourceSendsOnceThenWaits: Run sends the spec's snapshot (without the
// backends Consul discovers), sends
// nothing more, and returns nil once its context ends.
func TestSourceSendsOnceThenWaits(t *testing.T) {
	s := &spec.Spec{Backends: []spec.Backend{
		{Name: "ws", Servers: []spec.Server{{Name: "a", Address: "10.0.0.1:80"}}},
		{Name: "found", Consul: &spec.ConsulService{Service: "echo"}},
	}}
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan discovery.Snapshot)
	done := make(chan error)
	go func() { done <- New(s).Run(ctx, out) }()
	got := <-out
	want := Snapshot(s)
	delete(want.Backends, "found") // the Consul source's
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("snapshot (-want +got):\n%s", diff)
	}
	cancel()
	select {
	case snap := <-out:
		t.Errorf("second snapshot %v", snap)
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	}
}

package top

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/wsctl/wsctl/fleet"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/spec"
	"github.com/wsctl/wsctl/target"
)

// viewer is a fleet operator that only reads; top asks nothing else of it.
type viewer struct {
	target.Operator
	view *fleet.View
}

func (v viewer) Read(context.Context, uint64) (*fleet.View, error) { return v.view, nil }

// TestSourcesFor: without a spec top reads the sockets and the master CLI
// given; with one, its master CLI unless another is given, its intents and
// rollouts, and with --fleet its Consul's reports; --fleet without a spec
// is refused, and so is a fleet that cannot be reached.
func TestSourcesFor(t *testing.T) {
	sockets := []target.Socket{{Name: "/a.sock"}}
	unreached := func(spec.Consul) (target.Operator, error) {
		t.Error("the fleet was reached")
		return nil, errors.New("unreached")
	}
	src, err := SourcesFor(nil, sockets, Want{}, unreached)
	if err != nil || src.Sockets.(*target.Local).Sockets[0].Name != "/a.sock" || src.Master != nil || src.Intents != nil || src.Fleet != nil {
		t.Errorf("no spec: %+v, %v; want the sockets only", src, err)
	}
	if src, _ := SourcesFor(nil, sockets, Want{Master: "/m.sock", Timeout: time.Second}, unreached); src.Master == nil || src.Master.(*haproxy.Master).Path() != "/m.sock" {
		t.Errorf("--master: %+v, want /m.sock", src.Master)
	}
	if _, err := SourcesFor(nil, sockets, Want{Fleet: true}, unreached); err == nil || err.Error() != "--fleet needs the spec (-c FILE): its consul section says where the agents report" {
		t.Errorf("--fleet without a spec: %v", err)
	}

	dir := t.TempDir()
	sp := &spec.Spec{HAProxy: spec.HAProxy{StateFile: filepath.Join(dir, "server-state"), MasterSocket: "/spec-master.sock"},
		Consul: spec.Consul{Address: "127.0.0.1:1"}, Backends: []spec.Backend{{Name: "ws"}}}
	src, err = SourcesFor(sp, sockets, Want{}, unreached)
	if err != nil || src.Master.(*haproxy.Master).Path() != "/spec-master.sock" || src.Intents == nil || src.Rollouts["ws"] == "" || src.Fleet != nil {
		t.Errorf("spec: %+v, %v; want its master CLI, intents and rollouts", src, err)
	}
	if src, _ := SourcesFor(sp, sockets, Want{Master: "/m.sock"}, unreached); src.Master.(*haproxy.Master).Path() != "/m.sock" {
		t.Errorf("--master with a spec: %s, want /m.sock", src.Master.(*haproxy.Master).Path())
	}

	view := &fleet.View{}
	var reached spec.Consul
	src, err = SourcesFor(sp, sockets, Want{Fleet: true}, func(c spec.Consul) (target.Operator, error) { reached = c; return viewer{view: view}, nil })
	if err != nil || src.Fleet == nil || reached.Address != "127.0.0.1:1" {
		t.Fatalf("--fleet: %+v, %v, reached %+v; want the spec's consul", src, err, reached)
	}
	if got, _ := src.Fleet(t.Context()); got != view {
		t.Errorf("the fleet read %v, want the operator's view", got)
	}
	down := errors.New("fleet: consul 127.0.0.1:1: connection refused")
	if _, err := SourcesFor(sp, sockets, Want{Fleet: true}, func(spec.Consul) (target.Operator, error) { return nil, down }); err != down {
		t.Errorf("unreachable fleet: %v, want %v", err, down)
	}
}

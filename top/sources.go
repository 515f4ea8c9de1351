package top

import (
	"context"
	"errors"
	"time"

	"github.com/wsctl/wsctl/fleet"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/spec"
	"github.com/wsctl/wsctl/target"
)

// Want is what the operator asks top to read besides the sockets.
type Want struct {
	// Master is the master CLI whose old workers are shown; "" takes the
	// spec's haproxy.master_socket, none without a spec.
	Master string
	// Timeout bounds each master CLI exchange.
	Timeout time.Duration
	// Fleet reads every load balancer's reports from the spec's Consul.
	Fleet bool
}

// SourcesFor are what top reads: sockets (dialled by the caller, so a
// wrong path is an error before the screen changes), the master CLI, and
// with spec sp (nil: none) what it says is in progress (AddSpec) and,
// with w.Fleet, the fleet through the operator reach returns for its
// Consul. --fleet without a spec is refused.
func SourcesFor(sp *spec.Spec, sockets []target.Socket, w Want, reach func(spec.Consul) (target.Operator, error)) (Sources, error) {
	src := Sources{Sockets: &target.Local{Sockets: sockets}}
	master := w.Master
	if master == "" && sp != nil {
		master = sp.HAProxy.MasterSocket
	}
	if master != "" {
		src.Master = haproxy.NewMaster(master, w.Timeout)
	}
	if w.Fleet && sp == nil {
		return Sources{}, errors.New("--fleet needs the spec (-c FILE): its consul section says where the agents report")
	}
	if sp == nil {
		return src, nil
	}
	if err := src.AddSpec(sp); err != nil {
		return Sources{}, err
	}
	if w.Fleet {
		op, err := reach(sp.Consul)
		if err != nil {
			return Sources{}, err
		}
		src.Fleet = func(ctx context.Context) (*fleet.View, error) { return op.Read(ctx, 0) }
	}
	return src, nil
}

package target

import (
	"context"
	"time"

	"github.com/wsctl/wsctl/discovery"
	"github.com/wsctl/wsctl/intent"
	"github.com/wsctl/wsctl/spec"
)

// Reach is how ForBackend gets to either side; only the side a backend's
// discovery chooses is called.
type Reach struct {
	// Discover reads once what the spec's Consul discovers, within
	// Timeout (0: ctx's bound).
	Discover func(ctx context.Context, s *spec.Spec) (discovery.Snapshot, error)
	Timeout  time.Duration
	// Operator reaches the fleet behind the spec's Consul.
	Operator func(spec.Consul) (Operator, error)
	// Sockets dials this host's admin sockets.
	Sockets func(ctx context.Context) ([]Socket, error)
}

// ForBackend is where an operation on the whole of backend b of spec s
// acts (a rollout), chosen by b's discovery: a backend Consul discovers is
// in every load balancer, so it goes through their agents (fleet, with the
// servers discovered for b and the operator of s's Consul); any other
// through this host's admin sockets (local, with the intent store beside
// the spec's). fleet and local carry the caller's settings (who, why,
// progress, poll); the one chosen comes back filled in.
func ForBackend(ctx context.Context, s *spec.Spec, b spec.Backend, r Reach, fleet Fleet, local Local) (Target, error) {
	if b.Consul == nil {
		var err error
		if local.Sockets, err = r.Sockets(ctx); err != nil {
			return nil, err
		}
		if local.Intents, err = intent.Open(s); err != nil {
			return nil, err
		}
		return &local, nil
	}
	qctx, cancel := ctx, context.CancelFunc(func() {})
	if r.Timeout > 0 {
		qctx, cancel = context.WithTimeout(ctx, r.Timeout)
	}
	defer cancel()
	snap, err := r.Discover(qctx, s)
	if err != nil {
		return nil, err
	}
	if fleet.Operator, err = r.Operator(s.Consul); err != nil {
		return nil, err
	}
	fleet.Servers = Discovered(snap, b.Name)
	return &fleet, nil
}

package consul

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/wsctl/wsctl/discovery"
	"github.com/wsctl/wsctl/discovery/static"
	"github.com/wsctl/wsctl/spec"
)

// Once queries every Consul-backed backend of s once, without blocking, and
// returns the snapshot Run would send first: the same instances, names and
// health. It is for one-shot commands (render, diff, check). The first
// failing query ends it with an error naming the service and the Consul
// address. A spec without Consul-backed backends gives an empty snapshot
// without contacting Consul. Warnings (an instance left out, and why; an
// invalid weight) go to log (nil: slog.Default()).
func Once(ctx context.Context, s *spec.Spec, log *slog.Logger) (discovery.Snapshot, error) {
	snap := discovery.Snapshot{Source: SourceName, Backends: map[string][]discovery.Instance{}}
	ws := watches(s)
	if len(ws) == 0 {
		return snap, nil
	}
	_, health, addr, err := newClient(s.Consul)
	if err != nil {
		return discovery.Snapshot{}, err
	}
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "consul")
	for _, w := range ws {
		q := queryOptions(ctx, w.svc, s.Consul.Stale)
		entries, _, err := healthService(health, w.svc, q)
		if err != nil {
			return discovery.Snapshot{}, fmt.Errorf("consul: service %q at %s: %w", w.svc.Service, addr, err)
		}
		snap.Backends[w.backend], _ = toInstances(entries, w.svc, log.With("backend", w.backend, "service", w.svc.Service))
	}
	return snap, nil
}

// Snapshot returns every backend's servers once: the spec's own
// (static.Snapshot) with those of Consul-backed backends, one Once query
// each. It is what the one-shot commands render (render.Options.Discover).
func Snapshot(ctx context.Context, s *spec.Spec, log *slog.Logger) (discovery.Snapshot, error) {
	snap := static.Snapshot(s)
	fromConsul, err := Once(ctx, s, log)
	if err != nil {
		return discovery.Snapshot{}, err
	}
	for b, instances := range fromConsul.Backends {
		snap.Backends[b] = instances
	}
	return snap, nil
}

package render

import (
	"context"
	"log/slog"
	"time"

	"github.com/wsctl/wsctl/discovery"
	"github.com/wsctl/wsctl/discovery/consul"
	"github.com/wsctl/wsctl/discovery/static"
	"github.com/wsctl/wsctl/model"
	"github.com/wsctl/wsctl/spec"
)

// Generated is a config rendered from a spec and the servers discovered
// for it now.
type Generated struct {
	Spec   *spec.Spec
	Model  *model.Model
	Config []byte
	// ConsulErr is why Consul's servers were left out (Options.Lenient);
	// nil when they are in, or the spec has none.
	ConsulErr error
}

// Options say what Generate renders.
type Options struct {
	Target   string // "" means the spec's proxy
	Template string // "" means the spec's template, else the embedded one
	// Lenient renders without Consul's servers when Consul does not
	// answer, and says why in Generated.ConsulErr: a check judges the
	// config, and each server from Consul is validated when it is added.
	Lenient bool
	// Log gets discovery's warnings (an instance left out, and why); nil
	// is slog.Default().
	Log *slog.Logger
}

// ConsulTimeout bounds Generate's Consul queries: a one-shot command
// must not hang on an agent that does not answer.
const ConsulTimeout = 10 * time.Second

// Generate is the data flow of the one-shot commands (render, diff,
// check, reload): discover every backend's servers once (Discover, within
// ConsulTimeout), then render (Config).
func Generate(ctx context.Context, s *spec.Spec, o Options) (*Generated, error) {
	dctx, cancel := context.WithTimeout(ctx, ConsulTimeout)
	defer cancel()
	snap, err := Discover(dctx, s, o.Log)
	var consulErr error
	if err != nil && o.Lenient {
		consulErr = err
		snap, err = static.Snapshot(s), nil
	}
	if err != nil {
		return nil, err
	}
	r, err := Config(s, o.Target, snap, o.Template)
	if err != nil {
		return nil, err
	}
	return &Generated{Spec: s, Model: r.Model, Config: r.Config, ConsulErr: consulErr}, nil
}

// Discover returns every backend's servers once: the spec's own, and those
// of Consul-backed backends with one (non-blocking) query each
// (consul.Once). Warnings go to log (nil: slog.Default()).
func Discover(ctx context.Context, s *spec.Spec, log *slog.Logger) (discovery.Snapshot, error) {
	snap := static.Snapshot(s)
	fromConsul, err := consul.Once(ctx, s, log)
	if err != nil {
		return discovery.Snapshot{}, err
	}
	for b, instances := range fromConsul.Backends {
		snap.Backends[b] = instances
	}
	return snap, nil
}

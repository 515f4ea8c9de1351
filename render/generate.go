package render

import (
	"context"
	"time"

	"github.com/wsctl/wsctl/discovery"
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
	// DiscoverErr is why the discovered servers were left out
	// (Options.Lenient); nil when they are in.
	DiscoverErr error
}

// Options say what Generate renders.
type Options struct {
	Target   string // "" means the spec's proxy
	Template string // "" means the spec's template, else the embedded one
	// Discover finds every backend's servers once (consul.Snapshot: the
	// spec's own and Consul's); nil renders the spec's own only.
	Discover func(context.Context, *spec.Spec) (discovery.Snapshot, error)
	// Lenient renders the spec's own servers when Discover fails, and
	// says why in Generated.DiscoverErr: a check judges the config, and
	// each server from Consul is validated when it is added.
	Lenient bool
}

// DiscoverTimeout bounds Generate's discovery: a one-shot command must
// not hang on a Consul that does not answer.
const DiscoverTimeout = 10 * time.Second

// Generate is the data flow of the one-shot commands (render, diff,
// check, reload): discover every backend's servers once (within
// DiscoverTimeout), then render (Config).
func Generate(ctx context.Context, s *spec.Spec, o Options) (*Generated, error) {
	discover := o.Discover
	if discover == nil {
		discover = func(context.Context, *spec.Spec) (discovery.Snapshot, error) { return static.Snapshot(s), nil }
	}
	dctx, cancel := context.WithTimeout(ctx, DiscoverTimeout)
	snap, err := discover(dctx, s)
	cancel()
	var discoverErr error
	if err != nil && o.Lenient {
		discoverErr = err
		snap, err = static.Snapshot(s), nil
	}
	if err != nil {
		return nil, err
	}
	r, err := Config(s, o.Target, snap, o.Template)
	if err != nil {
		return nil, err
	}
	return &Generated{Spec: s, Model: r.Model, Config: r.Config, DiscoverErr: discoverErr}, nil
}

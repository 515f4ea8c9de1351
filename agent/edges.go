package agent

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/wsctl/wsctl/discovery"
	"github.com/wsctl/wsctl/discovery/consul"
	"github.com/wsctl/wsctl/discovery/static"
	"github.com/wsctl/wsctl/drain"
	"github.com/wsctl/wsctl/handover"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/proxy"
	"github.com/wsctl/wsctl/rebalance"
	"github.com/wsctl/wsctl/spec"
)

// Runtime is what the agent needs from HAProxy's admin socket: what a drain
// needs (the agent hands its runtime to drain.Run when a drain_timeout
// passes) and a rebalance, a batch of changes, and which socket and process answer.
// *haproxy.Client is the one the agent dials; the package's unit tests use
// a fake.
type Runtime interface {
	drain.Runtime
	// rebalance.Runtime: a backend with `rebalance: true` is rebalanced
	// through the agent's haproxy.
	rebalance.Runtime
	Apply(ctx context.Context, changes []haproxy.Change) []error
	// Session runs f on one connection (haproxy.Client.Session): a sync
	// lists, applies and reads back on it, in the path of every change.
	Session(ctx context.Context, f func(haproxy.Conn) error) error
	// Predial dials the next session's connection (haproxy.Client.Predial):
	// HAProxy accepts a sync's while the agent works.
	Predial()
	Path() string
	Info() haproxy.Info
	// ServersStateText is `show servers state`, saved to the state file
	// before a reload.
	ServersStateText(ctx context.Context) (string, error)
}

var _ Runtime = (*haproxy.Client)(nil)

// edges are where the agent leaves its loop for the world: HAProxy's
// sockets, the config file, the proxy's binary and discovery. New sets the
// real ones; the package's unit tests replace them after New with fakes, so
// the loop's decisions (debounce, keep-non-empty, rate limits, intent
// holds, drains, reload failures) are tested without processes. They are
// unexported so Config stays what an operator sets.
type edges struct {
	// dial opens the admin socket (haproxy.Dial); a reload dials again to
	// find the new worker.
	dial func(ctx context.Context, path string, timeout time.Duration) (Runtime, error)
	// reload asks the master socket for a reload ((*haproxy.Master).Reload);
	// reload.Run then confirms the new worker through dial.
	reload func(ctx context.Context, masterSocket string, timeout time.Duration) error
	// handover closes the old workers' sessions at a pace after a reload
	// (handover.Run on the master socket).
	handover func(ctx context.Context, masterSocket string, opts handover.Options) (handover.Result, error)
	// write replaces the proxy's config file (proxy.WriteAtomic).
	write func(path string, data []byte) (changed bool, err error)
	// validate checks a config with the proxy's binary (Config.Validator).
	validate func(ctx context.Context, binary string, config []byte) error
	// sources builds the discovery sources of a spec. Each tags its
	// snapshots with its own name and reports its own backends.
	sources func(s *spec.Spec, log *slog.Logger) ([]discovery.Source, error)
	// retry is how long after a failed sync the agent tries again.
	retry time.Duration
}

// realEdges are the edges of a running agent; v checks configs.
func realEdges(v proxy.Validator) edges {
	return edges{
		dial: func(ctx context.Context, path string, timeout time.Duration) (Runtime, error) {
			return haproxy.Dial(ctx, path, timeout)
		},
		reload: func(ctx context.Context, masterSocket string, timeout time.Duration) error {
			return haproxy.NewMaster(masterSocket, timeout).Reload(ctx)
		},
		handover: func(ctx context.Context, masterSocket string, opts handover.Options) (handover.Result, error) {
			return handover.Run(ctx, haproxy.NewMaster(masterSocket, 0), opts)
		},
		write: proxy.WriteAtomic,
		validate: func(ctx context.Context, binary string, config []byte) error {
			_, err := v.Validate(ctx, binary, config)
			return err
		},
		sources: specSources,
		retry:   retryDelay,
	}
}

// specSources are the sources a spec names: its own servers (static), and
// Consul when a backend is discovered there.
func specSources(s *spec.Spec, log *slog.Logger) ([]discovery.Source, error) {
	srcs := []discovery.Source{static.New(s)}
	if slices.ContainsFunc(s.Backends, func(b spec.Backend) bool { return b.Consul != nil }) {
		src, err := consul.New(s, log)
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, src)
	}
	return srcs, nil
}

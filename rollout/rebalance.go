package rollout

import (
	"context"
	"errors"
	"fmt"

	"github.com/wsctl/wsctl/rebalance"
)

// ErrNotBalanced stops a rollout with Options.Rebalance whose servers are
// all deployed but whose rebalance did not end balanced (two rounds done,
// or its timeout passed): every server is READY, the rollout is done.
var ErrNotBalanced = errors.New("the backend is not balanced after the rollout")

// rebalance evens out the backend once every server is deployed and
// READY: the server deployed last is nearly empty, the first ones carry
// its share (package rebalance). The same rebalance as `wsctl rebalance`,
// where the rollout acts (its target: the sockets, or the fleet); a
// refused plan (no server below its target, say) is not an error: there
// is nothing it could move.
func (r *run) rebalance(ctx context.Context) error {
	o := *r.o.Rebalance
	o.Backend = r.o.Backend
	res, err := r.o.Target.Rebalance(ctx, o)
	r.res.Rebalance = &res
	switch {
	case errors.Is(err, rebalance.ErrNoServer), errors.Is(err, rebalance.ErrNothingBelow):
		r.note("rollout of %s done; no rebalance: %v", r.o.Backend, err)
		return nil
	case err != nil:
		return fmt.Errorf("rollout: rebalance: %w", err)
	}
	switch res.Outcome {
	case rebalance.Balanced:
		return nil
	case rebalance.Unbalanced, rebalance.TimedOut:
		return fmt.Errorf("rollout: %s %s after %d rounds, %d sessions moved: %w", r.o.Backend, res.Outcome, res.Rounds, res.Closed, ErrNotBalanced)
	}
	return fmt.Errorf("rollout: rebalance %s (%s): %w", r.o.Backend, res.Outcome, res.Err)
}

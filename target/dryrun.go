package target

import (
	"context"
	"time"

	"github.com/wsctl/wsctl/drain"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/rebalance"
)

// DryRun is a Target that changes nothing: Hold, Drain and Admit ask the
// wrapped Target's Plan, so they refuse what the real run would refuse, and
// return what would be done in Result.Planned; Rebalance counts and plans
// only (rebalance.Options.DryRun). Read and Plan are the wrapped Target's.
type DryRun struct {
	Target
}

var _ Target = DryRun{}

func (d DryRun) plan(ctx context.Context, c Change) (Result, error) {
	lines, err := d.Target.Plan(ctx, c)
	if err != nil {
		return Result{}, err
	}
	return Result{Ref: c.Ref, Outcome: Done, Planned: lines}, nil
}

// Hold plans the hold.
func (d DryRun) Hold(ctx context.Context, ref haproxy.Ref, state haproxy.AdminState, force bool) (Result, error) {
	return d.plan(ctx, Change{Kind: KindHold, Ref: ref, State: state, Force: force})
}

// Drain plans the drain.
func (d DryRun) Drain(ctx context.Context, ref haproxy.Ref, o drain.Options) (Result, error) {
	return d.plan(ctx, Change{Kind: KindDrain, Ref: ref, Drain: o})
}

// Admit plans the admission.
func (d DryRun) Admit(ctx context.Context, ref haproxy.Ref, wait time.Duration) (Result, error) {
	return d.plan(ctx, Change{Kind: KindAdmit, Ref: ref, Wait: wait})
}

// Rebalance plans the rebalance.
func (d DryRun) Rebalance(ctx context.Context, o rebalance.Options) (rebalance.Result, error) {
	o.DryRun = true
	return d.Target.Rebalance(ctx, o)
}

package rebalance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/wsctl/wsctl/internal/pace"
)

// Run rebalances the backend at place as the package documents. It
// returns an error only before anything changes: invalid options, a
// failed first count, or a refused plan (Plan.Refused). A backend already
// balanced is left alone (Outcome Balanced, no round); with
// Options.DryRun nothing changes either (Outcome Planned, the refusal as
// the error).
func Run(ctx context.Context, place Place, o Options) (Result, error) {
	if err := o.Validate(); err != nil {
		return Result{}, err
	}
	if o.Poll == 0 {
		o.Poll = DefaultPoll
	}
	if o.Settle == 0 {
		o.Settle = DefaultSettle
	}
	start := time.Now()
	loads, err := place.Count(ctx, o.Backend, o.Cap)
	if err != nil {
		return Result{}, err
	}
	plan := Compute(loads, o.Tolerance)
	if o.DryRun {
		return Result{Outcome: PlanOnly, Before: plan, After: plan, Elapsed: time.Since(start)}, plan.Refused()
	}
	if err := plan.Refused(); err != nil {
		return Result{Before: plan, After: plan}, err
	}
	r := &run{o: o, place: place, start: start, res: Result{Outcome: Balanced, Before: plan, After: plan}}
	if !plan.Balanced() {
		runCtx, cancel := ctx, context.CancelFunc(func() {})
		if o.Timeout > 0 {
			runCtx, cancel = context.WithTimeout(ctx, o.Timeout)
		}
		err := r.rounds(runCtx, plan)
		err = errors.Join(err, r.restore())
		defer cancel()
		// A call cut by the context may wrap its own error, not the
		// context's: the contexts say which one ended.
		switch {
		case err == nil:
		case r.restoreErr != nil:
			r.res.Outcome, r.res.Err = Failed, err
		case ctx.Err() != nil:
			r.res.Outcome, r.res.Err = Canceled, err
		case runCtx.Err() != nil:
			r.res.Outcome = TimedOut
		default:
			r.res.Outcome, r.res.Err = Failed, err
		}
	}
	r.res.Elapsed = time.Since(start)
	return r.res, nil
}

// run is one rebalance under way.
type run struct {
	o     Options
	place Place
	start time.Time
	res   Result
	// maint are the donors set to MAINT and not yet READY again, in the
	// order they were set.
	maint      []string
	restoreErr error
}

// ErrReloaded ends a rebalance when HAProxy reloaded during it: the old
// worker keeps the sessions of the count the rebalance follows, out of
// the socket's sight, and the new one starts from its config.
var ErrReloaded = errors.New("HAProxy reloaded during the rebalance")

// rounds does a round, counts, and does one more while the backend is
// not within the tolerance.
func (r *run) rounds(ctx context.Context, plan Plan) error {
	for round := 1; ; round++ {
		if err := r.round(ctx, round, plan); err != nil {
			return err
		}
		r.res.Rounds = round
		loads, err := r.place.Count(ctx, r.o.Backend, r.o.Cap)
		if err != nil {
			return err
		}
		plan = Compute(loads, r.o.Tolerance)
		r.res.After = plan
		switch {
		case plan.Balanced():
			r.res.Outcome = Balanced
			return nil
		case round == maxRounds || plan.Refused() != nil:
			r.res.Outcome = Unbalanced
			return nil
		}
	}
}

// round moves plan's excess: MAINT on the donors, the paced closes, the
// wait for the reconnects, READY again.
func (r *run) round(ctx context.Context, round int, plan Plan) error {
	r.step(Step{Kind: Planned, Round: round, Plan: plan})
	donors := plan.Donors()
	for _, d := range donors {
		// Recorded first: a MAINT that fails half-way (one place done)
		// is restored too.
		if !slices.Contains(r.maint, d.Server) {
			r.maint = append(r.maint, d.Server)
		}
	}
	shown := time.Now()
	closed, err := r.place.Shed(ctx, r.o.Backend, donors, r.o.Rate, func(n int64) {
		if time.Since(shown) >= time.Second {
			shown = time.Now()
			r.step(Step{Kind: Closing, Round: round, Plan: plan, Closed: n})
		}
	})
	r.res.Closed += closed
	if err != nil {
		return err
	}
	r.step(Step{Kind: Closing, Round: round, Plan: plan, Closed: closed})
	now, err := r.settle(ctx, plan, closed)
	if err != nil {
		return err
	}
	r.step(Step{Kind: Settled, Round: round, Plan: plan, Closed: closed, Sessions: now})
	if err := r.restore(); err != nil {
		return err
	}
	r.step(Step{Kind: Readmitted, Round: round, Plan: plan, Closed: closed})
	return nil
}

// settle waits until the clients closed have reconnected: the servers
// eligible in plan hold about as many sessions as before the closes
// (within 2 % of the closes, at least one), or Options.Settle has passed,
// since some clients never come back. It returns the last count.
func (r *run) settle(ctx context.Context, plan Plan, closed int64) (int64, error) {
	eligible := map[string]bool{}
	for _, s := range plan.Servers {
		eligible[s.Server] = s.Eligible
	}
	slack := max(1, closed/50)
	deadline := time.Now().Add(r.o.Settle)
	for {
		loads, err := r.place.Count(ctx, r.o.Backend, r.o.Cap)
		if err != nil {
			return 0, err
		}
		var now int64
		for _, l := range loads {
			if eligible[l.Server] {
				now += l.Sessions
			}
		}
		if now >= plan.Total-slack || !time.Now().Before(deadline) {
			return now, nil
		}
		next := time.Now().Add(r.o.Poll)
		if deadline.Before(next) {
			next = deadline
		}
		if !pace.SleepUntil(ctx, next) {
			return now, ctx.Err()
		}
	}
}

// restore sets every donor still in MAINT READY again everywhere, with a
// fresh context: it runs after a cancel or a timeout too. A donor that
// could not be set READY is kept in the list and named in the error.
func (r *run) restore() error {
	if len(r.maint) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), restoreTimeout)
	defer cancel()
	done, err := r.place.Readmit(ctx, r.o.Backend, r.maint)
	r.res.Restored = append(r.res.Restored, done...)
	var stuck []string
	for _, s := range r.maint {
		if !slices.Contains(done, s) {
			stuck = append(stuck, s)
		}
	}
	r.maint = stuck
	if len(stuck) == 0 {
		r.restoreErr = nil
		return nil
	}
	if err == nil {
		err = errors.New("not readmitted everywhere")
	}
	r.restoreErr = fmt.Errorf("rebalance: %s may still be in MAINT on some socket or load balancer (`wsctl ready` each): %w",
		strings.Join(stuck, ", "), err)
	return r.restoreErr
}

func (r *run) step(s Step) {
	if r.o.Progress == nil {
		return
	}
	s.Elapsed = time.Since(r.start)
	r.o.Progress(s)
}

package rollout

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/wsctl/wsctl/drain"
	"github.com/wsctl/wsctl/fleet"
	"github.com/wsctl/wsctl/intent"
	"github.com/wsctl/wsctl/runtime"
)

// Fleet carries a rollout out through the wsctl agents of every load
// balancer (package fleet) instead of admin sockets: the holds are DRAIN
// intents with a hold op (every agent sets DRAIN and keeps it), the drain
// of each server a fleet drain at the fleet-wide close rate, and the
// readmission the removal of the intent, waited for until every agent has
// readmitted the server (and, with Options.WaitHealthy, seen its check
// pass).
type Fleet struct {
	Operator *fleet.Operator
	// Servers are the backend's servers as discovery has them: address
	// (host:port) by name.
	Servers map[string]string
	// AllowMissing carries on when an agent stops reporting.
	AllowMissing bool
	// Who and Reason go into the intents, for the audit trail.
	Who, Reason string
	// Update, when not nil, is called on every change of a fleet
	// operation.
	Update func(runtime.Ref, fleet.Status)
}

// fleetWait bounds a hold, a release and a readmission without
// WaitHealthy: each only waits for every agent to report.
const fleetWait = time.Minute

// fleetServers are the servers to deploy from discovery.
func (r *run) fleetServers() []string {
	if len(r.o.Servers) > 0 {
		return r.o.Servers
	}
	return slices.Sorted(maps.Keys(r.o.Fleet.Servers))
}

// fleetRun runs one fleet operation on server, within limit (0: none);
// seen, when not nil, sees every change too.
func (r *run) fleetRun(ctx context.Context, server string, in *intent.Intent, healthy bool, limit time.Duration, seen func(fleet.Status)) (fleet.Status, error) {
	f := r.o.Fleet
	ref := runtime.Ref{Backend: r.o.Backend, Server: server}
	if limit > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, limit)
		defer cancel()
	}
	update := func(st fleet.Status) {
		if seen != nil {
			seen(st)
		}
		if f.Update != nil {
			f.Update(ref, st)
		}
	}
	return f.Operator.Run(ctx, fleet.Request{Ref: ref, Intent: in, Healthy: healthy, AllowMissing: f.AllowMissing}, update)
}

// fleetIntent is an intent of the rollout for server with op.
func (r *run) fleetIntent(server string, state runtime.AdminState, op intent.Op) *intent.Intent {
	op.ID = fleet.NewOpID()
	return &intent.Intent{Backend: r.o.Backend, Server: server, State: state, Since: time.Now().UTC(), Op: &op,
		Who: r.o.Fleet.Who, Reason: strings.TrimSuffix("wsctl rollout: "+r.o.Fleet.Reason, ": ")}
}

// fleetSet holds server in DRAIN (held) or readmits it on every agent,
// and waits until each reports it so.
func (r *run) fleetSet(ctx context.Context, server string, held bool) error {
	var in *intent.Intent
	what := "readmit"
	if held {
		in, what = r.fleetIntent(server, runtime.Drain, intent.Op{Hold: true}), "hold in DRAIN"
	}
	st, err := r.fleetRun(ctx, server, in, false, fleetWait, nil)
	if err != nil {
		return fmt.Errorf("rollout: %s %s/%s: %w", what, r.o.Backend, server, err)
	}
	if st.Outcome != fleet.Done {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("rollout: %s %s/%s: %s %s", what, r.o.Backend, server, st.Outcome, st.Problem)
	}
	return nil
}

// fleetDrain drains server through the agents, at the fleet-wide close
// rate, as `wsctl drain --fleet` does: a report per agent.
func (r *run) fleetDrain(ctx context.Context, server string) (drain.Result, error) {
	d := r.o.Drain
	op := intent.Op{Timeout: d.Timeout.Seconds(), Force: d.Force}
	if d.Close != nil {
		after := d.Close.After.Seconds()
		op.CloseAfter, op.CloseRate = &after, d.Close.Rate
	}
	in := r.fleetIntent(server, runtime.Drain, op)
	// Each agent's sessions at its first report of the drain.
	before := map[string]int64{}
	st, err := r.fleetRun(ctx, server, in, false, d.Timeout, func(st fleet.Status) {
		for _, row := range st.Rows {
			if p := row.Report; p != nil && p.Op == in.Op.ID {
				if _, ok := before[row.Agent]; !ok {
					before[row.Agent] = p.Sessions + int64(p.Closed)
				}
			}
		}
	})
	if err != nil {
		return drain.Result{}, fmt.Errorf("rollout: drain %s/%s: %w", r.o.Backend, server, err)
	}
	outcome := map[fleet.Outcome]drain.Outcome{fleet.Done: drain.Drained, fleet.TimedOut: drain.TimedOut, fleet.Failed: drain.Failed}[st.Outcome]
	if st.Outcome == fleet.TimedOut && ctx.Err() != nil {
		outcome = drain.Canceled
	}
	problem := st.Problem
	if st.Withdrawn {
		problem += "; the intent is withdrawn: every load balancer readmits the server"
	}
	res := drain.Result{Elapsed: st.Elapsed}
	for _, row := range st.Rows {
		rep := drain.Report{Target: row.Agent, Backend: r.o.Backend, Server: server, Outcome: outcome, Before: before[row.Agent]}
		if p := row.Report; p != nil && p.Op == in.Op.ID {
			rep.Left, rep.Closed, rep.Admin = p.Sessions, p.Closed, p.Admin
		}
		switch outcome {
		case drain.Failed:
			rep.Err = errors.New(problem)
		case drain.Canceled:
			rep.Err = ctx.Err()
		}
		res.Reports = append(res.Reports, rep)
	}
	return res, nil
}

// fleetAdmit removes server's intent and waits until every agent has
// readmitted it and, with WaitHealthy, sees its fresh check pass.
func (r *run) fleetAdmit(ctx context.Context, server string) error {
	limit := r.o.WaitHealthy
	if limit == 0 {
		limit = fleetWait
	}
	st, err := r.fleetRun(ctx, server, nil, r.o.WaitHealthy > 0, limit, nil)
	switch {
	case err != nil:
		return fmt.Errorf("rollout: readmit %s/%s: %w", r.o.Backend, server, err)
	case st.Outcome == fleet.Done:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case st.Outcome == fleet.TimedOut:
		return fmt.Errorf("rollout: %s/%s: %w after %s on some load balancer; it stays READY and takes clients once its check passes",
			r.o.Backend, server, ErrNotHealthy, limit)
	}
	return fmt.Errorf("rollout: readmit %s/%s: %s", r.o.Backend, server, st.Problem)
}

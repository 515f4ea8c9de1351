package target

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/wsctl/wsctl/discovery"
	"github.com/wsctl/wsctl/drain"
	"github.com/wsctl/wsctl/fleet"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/intent"
	"github.com/wsctl/wsctl/paced"
	"github.com/wsctl/wsctl/rebalance"
)

// Operator is what a Fleet target needs of fleet.Operator.
type Operator interface {
	Run(ctx context.Context, req fleet.Request, update func(fleet.Status)) (fleet.Status, error)
	Read(ctx context.Context, index uint64) (*fleet.View, error)
	Where() string
	Rebalance(ctx context.Context, req fleet.RebalanceRequest, o rebalance.Options) (rebalance.Result, error)
}

var _ Operator = (*fleet.Operator)(nil)

// FleetWait bounds a hold, and an admission without a wait for health: each
// only waits for every agent to report.
const FleetWait = time.Minute

// Fleet acts on every load balancer through its wsctl agent: a change is an
// intent written to Consul (with an op the agents carry out), followed
// until every live agent reports it done.
type Fleet struct {
	Operator Operator
	// Servers are the servers discovery has, by backend: address
	// (host:port) by name. Read lists them; the agents report a server
	// only once an operation touched it.
	Servers map[string]map[string]string
	// AllowMissing carries on when an agent stops reporting.
	AllowMissing bool
	// Who and Reason go into the intents, for the audit trail.
	Who, Reason string
	// Update, when not nil, is called on every change of an operation.
	Update func(haproxy.Ref, fleet.Status)
}

var _ Target = (*Fleet)(nil)

// Discovered is a Fleet's Servers for backend from what discovery found:
// each instance's address by its name (the server's).
func Discovered(snap discovery.Snapshot, backend string) map[string]map[string]string {
	servers := map[string]string{}
	for _, in := range snap.Backends[backend] {
		servers[in.ID] = in.Addr()
	}
	return map[string]map[string]string{backend: servers}
}

// Where names Consul and the prefix.
func (f *Fleet) Where() string { return f.Operator.Where() }

// Read lists the servers discovery has for backend: names and addresses,
// no state.
func (f *Fleet) Read(ctx context.Context, backend string) ([]Listing, error) {
	li := Listing{Place: f.Where()}
	for _, b := range slices.Sorted(maps.Keys(f.Servers)) {
		if backend != "" && b != backend {
			continue
		}
		for _, name := range slices.Sorted(maps.Keys(f.Servers[b])) {
			li.Servers = append(li.Servers, haproxy.ServerStatus{Backend: b, Server: name, Addr: f.Servers[b][name]})
		}
	}
	return []Listing{li}, nil
}

// Status reads the fleet once: the live agents, the intents and the
// agents' reports on backend's servers.
func (f *Fleet) Status(ctx context.Context, backend string) (Status, error) {
	v, err := f.Operator.Read(ctx, 0)
	if err != nil {
		return Status{}, err
	}
	o := v.Overview(backend)
	return Status{Fleet: &o}, nil
}

// intent is the intent for ref with op.
func (f *Fleet) intent(ref haproxy.Ref, state haproxy.AdminState, op intent.Op) *intent.Intent {
	op.ID = fleet.NewOpID()
	return &intent.Intent{Backend: ref.Backend, Server: ref.Server, State: state, Since: time.Now().UTC(), Op: &op, Who: f.Who, Reason: f.Reason}
}

// run runs one fleet operation on ref, within limit (0: none); seen, when
// not nil, sees every change too.
func (f *Fleet) run(ctx context.Context, ref haproxy.Ref, in *intent.Intent, healthy bool, limit time.Duration, seen func(fleet.Status)) (fleet.Status, error) {
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

// result is the Result of a fleet operation that ended as st.
func (f *Fleet) result(ctx context.Context, ref haproxy.Ref, st fleet.Status) Result {
	res := Result{Ref: ref, Elapsed: st.Elapsed, Fleet: &st, Places: st.NumDone()}
	problem := st.Problem
	if st.Withdrawn {
		problem += "; the intent is withdrawn: every load balancer readmits the server"
	}
	switch {
	case st.Outcome == fleet.Done:
		res.Outcome = Done
	case st.Outcome == fleet.TimedOut && ctx.Err() != nil:
		res.Outcome, res.Err = paced.Canceled, ctx.Err()
	case st.Outcome == fleet.TimedOut:
		res.Outcome, res.Err = paced.TimedOut, errors.New(problem)
	default:
		res.Outcome, res.Err = paced.Failed, errors.New(problem)
	}
	return res
}

// Plan reads who would carry the change out; the agents make the checks
// (the last server, sessions) on their own HAProxy when it runs.
func (f *Fleet) Plan(ctx context.Context, c Change) ([]string, error) {
	v, err := f.Operator.Read(ctx, 0)
	if err != nil {
		return nil, err
	}
	if len(v.Agents) == 0 {
		return nil, fmt.Errorf("fleet: %w in %s", fleet.ErrNoAgents, f.Where())
	}
	agents := slices.Sorted(maps.Keys(v.Agents))
	lines := []string{fmt.Sprintf("%d live agents: %v", len(agents), agents)}
	if cur, ok := v.Intents[c.Ref]; ok {
		lines = append(lines, fmt.Sprintf("%s has the intent %s (by %s, %q): it would be replaced", c.Ref, cur.State, cur.Who, cur.Reason))
	}
	switch c.Kind {
	case KindHold:
		lines = append(lines, fmt.Sprintf("would write the intent %s for %s to %s; each agent sets it on its own HAProxy, refusing (and the intent withdrawn) when it would take out the last server or, for MAINT without force, close sessions", c.State, c.Ref, f.Where()))
	case KindDrain:
		lines = append(lines, fmt.Sprintf("would write the intent DRAIN for %s to %s; each agent drains it on its own HAProxy, refusing (and the intent withdrawn) when it is the last server", c.Ref, f.Where()))
		lines = append(lines, drainPlan(c.Ref, c.Drain)...)
	case KindAdmit:
		lines = append(lines, fmt.Sprintf("would remove the intent for %s from %s; each agent readmits it", c.Ref, f.Where()))
		if c.Wait > 0 {
			lines = append(lines, fmt.Sprintf("would wait up to %s for every agent to report it healthy", c.Wait))
		}
	}
	return lines, nil
}

// Hold writes ref's intent state (a rollout's DRAIN is a hold op; MAINT
// carries force) and waits until every agent reports it.
func (f *Fleet) Hold(ctx context.Context, ref haproxy.Ref, state haproxy.AdminState, force bool) (Result, error) {
	op := intent.Op{Force: force, Hold: state == haproxy.Drain}
	st, err := f.run(ctx, ref, f.intent(ref, state, op), false, FleetWait, nil)
	if err != nil {
		return Result{}, err
	}
	return f.result(ctx, ref, st), nil
}

// Drain drains ref through the agents, at the fleet-wide close rate: a
// report per agent in Result.Drain.
func (f *Fleet) Drain(ctx context.Context, ref haproxy.Ref, d drain.Options) (Result, error) {
	op := intent.Op{Timeout: d.Timeout.Seconds(), Force: d.Force}
	if d.Close != nil {
		after := d.Close.After.Seconds()
		op.CloseAfter, op.CloseRate = &after, d.Close.Rate
	}
	in := f.intent(ref, haproxy.Drain, op)
	// Each agent's sessions at its first report of the drain.
	before := map[string]int64{}
	st, err := f.run(ctx, ref, in, false, d.Timeout, func(st fleet.Status) {
		for _, row := range st.Rows {
			if p := row.Report; p != nil && p.Op == in.Op.ID {
				if _, ok := before[row.Agent]; !ok {
					before[row.Agent] = p.Sessions + int64(p.Closed)
				}
			}
		}
	})
	if err != nil {
		return Result{}, err
	}
	res := f.result(ctx, ref, st)
	outcome := map[paced.Outcome]paced.Outcome{Done: drain.Drained}[res.Outcome]
	if outcome == "" {
		outcome = res.Outcome
	}
	res.Drain = drain.Result{Elapsed: st.Elapsed}
	for _, row := range st.Rows {
		rep := drain.Report{Target: row.Agent, Backend: ref.Backend, Server: ref.Server, Outcome: outcome, Before: before[row.Agent]}
		if p := row.Report; p != nil && p.Op == in.Op.ID {
			rep.Left, rep.Closed, rep.Admin = p.Sessions, p.Closed, p.Admin
		}
		if outcome == paced.Failed || outcome == paced.Canceled {
			rep.Err = res.Err
		}
		res.Drain.Reports = append(res.Drain.Reports, rep)
	}
	return res, nil
}

// Admit removes ref's intent and waits until every agent has readmitted it
// and, with wait, sees its fresh check pass (within FleetWait without).
func (f *Fleet) Admit(ctx context.Context, ref haproxy.Ref, wait time.Duration) (Result, error) {
	limit := wait
	if limit == 0 {
		limit = FleetWait
	}
	st, err := f.run(ctx, ref, nil, wait > 0, limit, nil)
	if err != nil {
		return Result{}, err
	}
	return f.result(ctx, ref, st), nil
}

// Rebalance rebalances o.Backend across the fleet (fleet.Operator's
// Rebalance): the counts every agent reports, each closing its part at
// its part of the fleet-wide rate.
func (f *Fleet) Rebalance(ctx context.Context, o rebalance.Options) (rebalance.Result, error) {
	return f.Operator.Rebalance(ctx, fleet.RebalanceRequest{AllowMissing: f.AllowMissing, Who: f.Who, Reason: f.Reason}, o)
}

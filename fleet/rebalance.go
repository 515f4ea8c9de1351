package fleet

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/intent"
	"github.com/wsctl/wsctl/rebalance"
)

// RebalanceRequest is how the operator rebalances across the fleet.
type RebalanceRequest struct {
	// AllowMissing carries on without an agent that stops reporting (its
	// load balancer's sessions then leave the counts).
	AllowMissing bool
	// Who and Reason go into the key, for the audit trail.
	Who, Reason string
}

// Bounds of a fleet rebalance.
const (
	// CountWait bounds the wait for every live agent's reports on the
	// backend: an agent that says nothing by then is named (exit 2).
	CountWait = 30 * time.Second
	// rebalanceLead is how long after a round is written its close
	// schedule starts, so that every agent has read it by then.
	rebalanceLead = 500 * time.Millisecond
	// rebalanceSpan is how long a rebalance without a timeout may last;
	// the agents obey its key until its timeout (or this) plus
	// rebalanceGrace, then readmit their donors on their own.
	rebalanceSpan  = time.Hour
	rebalanceGrace = 2 * time.Minute
	// endTimeout bounds the removal of the key, on a fresh context.
	endTimeout = 10 * time.Second
)

// ErrRebalanceRunning refuses a fleet rebalance of a backend another one
// is under way on.
var ErrRebalanceRunning = errors.New("another rebalance of the backend is under way")

// Rebalance evens out ro.Backend across the fleet: rebalance.Run with
// every load balancer's agent as its Place. It writes the backend's
// rebalance key (intent.Rebalance; check-and-set: one at a time, one whose
// Until passed is taken over) and removes it at the end, whatever the end,
// so every agent readmits the donors it holds. Refused before anything is
// written when no agent is live, or when an operation holds a server of
// the backend (a drain, a maint, a rollout's hold: their reports are on
// the same keys).
//
// While the key stands, each agent reports every server of the backend it
// has (Progress with Op the rebalance's id). A count sums them over the
// live agents; a server is eligible when every agent reports it taking
// clients. A round writes each donor's excess split among the agents by
// the sessions each holds on it (rebalance.Split), and a close schedule at
// the fleet-wide rate whose parts follow those splits (intent.Rebalance's
// Part), then waits until every agent reports each donor shed.
func (o *Operator) Rebalance(ctx context.Context, req RebalanceRequest, ro rebalance.Options) (rebalance.Result, error) {
	if err := ro.Validate(); err != nil {
		return rebalance.Result{}, err
	}
	v, err := o.Read(ctx, 0)
	if err != nil {
		return rebalance.Result{}, err
	}
	if len(v.Agents) == 0 {
		return rebalance.Result{}, fmt.Errorf("fleet: %w under %s%s in consul %s: start `wsctl agent` on the load balancers, or rebalance locally without --fleet", ErrNoAgents, o.prefix, AgentsPrefix, o.addr)
	}
	for _, ref := range slices.SortedFunc(maps.Keys(v.Intents), func(a, b haproxy.Ref) int { return strings.Compare(a.String(), b.String()) }) {
		if in := v.Intents[ref]; ref.Backend == ro.Backend && in.Op != nil {
			return rebalance.Result{}, fmt.Errorf("fleet: rebalance %s: an operation holds %s (%s): rebalance once it is over", ro.Backend, ref, describe(in))
		}
	}
	span := rebalanceSpan
	if ro.Timeout > 0 {
		span = ro.Timeout
	}
	now := time.Now().UTC()
	p := &fleetPlace{o: o, allowMissing: req.AllowMissing, expected: map[string]bool{},
		r: intent.Rebalance{ID: NewOpID(), Backend: ro.Backend, Since: now, Until: now.Add(span + rebalanceGrace), Who: req.Who, Reason: req.Reason}}
	for id := range v.Agents {
		p.expected[id] = true
	}
	if err := p.create(ctx); err != nil {
		return rebalance.Result{}, err
	}
	defer p.end()
	return rebalance.Run(ctx, p, ro)
}

// fleetPlace is a fleet rebalance under way: the Place of rebalance.Run.
type fleetPlace struct {
	o            *Operator
	allowMissing bool
	// r is the key as last written, index its modify index.
	r     intent.Rebalance
	index uint64
	// expected are the agents live at the start and those that reported
	// on the rebalance since: a count waits for them all.
	expected map[string]bool
	// sessions are the last count's, by server then agent.
	sessions map[string]map[string]int64
	// gone are the expected agents that stopped reporting and were let go
	// (allowMissing): their HAProxy keeps whatever they last set.
	gone []string
}

var _ rebalance.Place = (*fleetPlace)(nil)

func (p *fleetPlace) key() string { return p.o.prefix + RebalancePrefix + p.r.Backend }

// create writes the key, which must not exist, or whose Until passed (an
// operator that died: the agents no longer obey it).
func (p *fleetPlace) create(ctx context.Context) error {
	err := p.put(ctx, p.r)
	if !errors.Is(err, intent.ErrConflict) {
		return err
	}
	pair, _, gerr := p.o.client.KV().Get(p.key(), (&api.QueryOptions{}).WithContext(ctx))
	if gerr != nil {
		return p.wrap(gerr, "read")
	}
	var cur intent.Rebalance
	if pair != nil && json.Unmarshal(pair.Value, &cur) == nil && cur.Validate() == nil && time.Now().Before(cur.Until) {
		return fmt.Errorf("fleet: rebalance %s: %w: %s by %s since %s, until %s at the latest", p.r.Backend, ErrRebalanceRunning,
			cur.ID, cmp.Or(cur.Who, "someone"), cur.Since.Format(time.RFC3339), cur.Until.Format(time.RFC3339))
	}
	if pair != nil {
		p.index = pair.ModifyIndex
	}
	return p.put(ctx, p.r)
}

// put writes r with check-and-set against the index last written (0: the
// key must not exist), then reads the new index back.
func (p *fleetPlace) put(ctx context.Context, r intent.Rebalance) error {
	if err := r.Validate(); err != nil {
		return err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("fleet: rebalance: %w", err)
	}
	kv := p.o.client.KV()
	ok, _, err := kv.CAS(&api.KVPair{Key: p.key(), Value: b, ModifyIndex: p.index}, (&api.WriteOptions{}).WithContext(ctx))
	if err != nil {
		return p.wrap(err, "write")
	}
	if !ok {
		return fmt.Errorf("fleet: rebalance %s: %s: %w", p.r.Backend, p.key(), intent.ErrConflict)
	}
	pair, _, err := kv.Get(p.key(), (&api.QueryOptions{RequireConsistent: true}).WithContext(ctx))
	if err != nil {
		return p.wrap(err, "read")
	}
	var back intent.Rebalance
	if pair == nil || json.Unmarshal(pair.Value, &back) != nil || back.ID != r.ID {
		return fmt.Errorf("fleet: rebalance %s: %s: %w", p.r.Backend, p.key(), intent.ErrConflict)
	}
	p.r, p.index = r, pair.ModifyIndex
	return nil
}

// wrap names Consul and, when its ACLs refuse, the policy to ask for.
func (p *fleetPlace) wrap(err error, verb string) error {
	if strings.Contains(err.Error(), "Permission denied") || strings.Contains(err.Error(), "ACL not found") {
		return fmt.Errorf("fleet: consul %s: %w: the token needs key %s on %s%s (`wsctl fleet acl --pipeline`): %v", p.o.addr, intent.ErrDenied, verb, p.o.prefix, RebalancePrefix, err)
	}
	return fmt.Errorf("fleet: consul %s: %s %s: %w", p.o.addr, verb, p.key(), err)
}

// end removes the key (unless another operator's replaced it), on a fresh
// context: every agent readmits the donors it still holds.
func (p *fleetPlace) end() {
	ctx, cancel := context.WithTimeout(context.Background(), endTimeout)
	defer cancel()
	_, _, _ = p.o.client.KV().DeleteCAS(&api.KVPair{Key: p.key(), ModifyIndex: p.index}, (&api.WriteOptions{}).WithContext(ctx))
}

// reports are an agent's reports on the rebalance, by server: complete
// once there are as many as it says it has.
func (p *fleetPlace) reports(v *View, agent string) (map[string]Progress, bool) {
	out := map[string]Progress{}
	of := -1
	for ref, byAgent := range v.Progress {
		if r, ok := byAgent[agent]; ok && ref.Backend == p.r.Backend && r.Op == p.r.ID {
			out[ref.Server] = r
			of = r.Servers
		}
	}
	return out, len(out) == of
}

// await reads the fleet until ready says every expected agent reported what
// it waits for, within limit (0: ctx's), and returns the last view. It
// fails, naming them, when an expected agent is gone (unless
// allowMissing) or reports an error, and when the limit passes first;
// when ctx ends it returns ctx's error.
func (p *fleetPlace) await(ctx context.Context, limit time.Duration, ready func(*View) bool) (*View, error) {
	wctx := ctx
	if limit > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, limit)
		defer cancel()
	}
	var (
		last    *View
		index   uint64
		failing time.Time
	)
	for {
		v, err := p.o.Read(wctx, index)
		switch {
		case ctx.Err() != nil:
			return last, ctx.Err()
		case wctx.Err() != nil:
			return last, fmt.Errorf("fleet: rebalance %s: %s within %s", p.r.Backend, p.silent(last), limit)
		case err != nil:
			// Consul between leaders: wait that out (as Run does).
			if failing.IsZero() {
				failing = time.Now()
			}
			if !transient(err) || time.Since(failing) > Outage {
				return last, err
			}
			sleep(wctx, retry)
			continue
		}
		failing, last, index = time.Time{}, v, v.Index
		if err := p.check(v); err != nil {
			return v, err
		}
		if ready(v) {
			return v, nil
		}
	}
}

// check takes in the agents that reported on the rebalance, and fails on
// an expected agent gone (unless allowMissing: it is no longer waited for)
// or one reporting an error or a refusal.
func (p *fleetPlace) check(v *View) error {
	var missing, failed []string
	for ref, byAgent := range v.Progress {
		for id, r := range byAgent {
			if ref.Backend != p.r.Backend || r.Op != p.r.ID {
				continue
			}
			p.expected[id] = true
			if r.Phase == PhaseError || r.Phase == PhaseRefused {
				failed = append(failed, fmt.Sprintf("%s: %s", id, cmp.Or(r.Error, r.Phase)))
			}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(p.expected)) {
		if _, live := v.Agents[id]; live {
			continue
		}
		if p.allowMissing {
			delete(p.expected, id)
			p.gone = append(p.gone, id)
			continue
		}
		missing = append(missing, id)
	}
	switch {
	case len(failed) > 0:
		slices.Sort(failed)
		return fmt.Errorf("fleet: rebalance %s: %s", p.r.Backend, strings.Join(slices.Compact(failed), "; "))
	case len(missing) > 0:
		return fmt.Errorf("fleet: rebalance %s: agent %s stopped reporting (its Consul session ended); --allow-missing carries on without it", p.r.Backend, strings.Join(missing, ", "))
	}
	return nil
}

// silent says which expected agents have not reported in full.
func (p *fleetPlace) silent(v *View) string {
	var ids []string
	for _, id := range slices.Sorted(maps.Keys(p.expected)) {
		if v == nil {
			ids = append(ids, id)
		} else if _, ok := p.reports(v, id); !ok {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return "no answer from Consul"
	}
	return "no report from " + strings.Join(ids, ", ") + " (does its load balancer have the backend, and an agent that knows fleet rebalances?)"
}

// Count waits until every expected agent reported every server of the
// backend it has, then sums them: a server is eligible when every agent
// reports it taking clients; its weight is the first agent's.
func (p *fleetPlace) Count(ctx context.Context, backend string, cap int64) ([]rebalance.Load, error) {
	v, err := p.await(ctx, CountWait, func(v *View) bool {
		for id := range p.expected {
			if _, ok := p.reports(v, id); !ok {
				return false
			}
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	p.sessions = map[string]map[string]int64{}
	loads := map[string]*rebalance.Load{}
	agents := slices.Sorted(maps.Keys(p.expected))
	for _, id := range agents {
		reps, _ := p.reports(v, id)
		for server, r := range reps {
			l := loads[server]
			if l == nil {
				l = &rebalance.Load{Server: server, Weight: r.Weight, Cap: cap, Eligible: true}
				loads[server] = l
				p.sessions[server] = map[string]int64{}
			}
			l.Sessions += r.Sessions
			l.Eligible = l.Eligible && haproxy.ServerStatus{Admin: r.Admin, State: r.State, UserWeight: r.Weight}.TakesClients()
			p.sessions[server][id] = r.Sessions
		}
	}
	var out []rebalance.Load
	for _, server := range slices.Sorted(maps.Keys(loads)) {
		l := *loads[server]
		l.Eligible = l.Eligible && len(p.sessions[server]) == len(agents)
		out = append(out, l)
	}
	return out, nil
}

// Shed writes the next round: each donor's excess split among the agents
// by the sessions each held on it at the last count, closed from a
// schedule at rate starting shortly; then waits until every expected
// agent reports every donor shed (MAINT, its part closed).
func (p *fleetPlace) Shed(ctx context.Context, backend string, donors []rebalance.Share, rate float64, progress func(int64)) (int64, error) {
	next := p.r
	next.Round++
	next.Moves, next.CloseRate, next.Readmit = map[string]map[string]int64{}, rate, false
	next.Start = time.Now().UTC().Add(rebalanceLead)
	for _, d := range donors {
		next.Moves[d.Server] = rebalance.Split(d.Moves, p.sessions[d.Server])
	}
	if err := p.put(ctx, next); err != nil {
		return 0, err
	}
	var closed int64
	_, err := p.await(ctx, 0, func(v *View) bool {
		all, n := p.round(v, func(r Progress) bool { return r.Phase == PhaseShed })
		if n != closed {
			closed = n
			if progress != nil {
				progress(n)
			}
		}
		return all
	})
	return closed, err
}

// round says whether every expected agent reports every donor of the
// round as done says, and the closes they report.
func (p *fleetPlace) round(v *View, done func(Progress) bool) (bool, int64) {
	all, closed := true, int64(0)
	for server := range p.r.Moves {
		for id := range p.expected {
			r, ok := v.Progress[haproxy.Ref{Backend: p.r.Backend, Server: server}][id]
			if !ok || r.Op != p.r.ID || r.Round != p.r.Round {
				all = false
				continue
			}
			closed += int64(r.Closed)
			all = all && done(r)
		}
	}
	return all, closed
}

// Readmit asks every agent to set the round's donors READY again and
// waits until each reports them so; a server that was no donor of the
// round (its MAINT was never asked) is done once no agent reports it in
// MAINT.
//
// An agent gone meanwhile cannot readmit anything: the others are still
// waited for (a failed rebalance leaves them READY), and the servers are
// then reported as not readmitted everywhere, naming the agent.
func (p *fleetPlace) Readmit(ctx context.Context, backend string, servers []string) ([]string, error) {
	allow := p.allowMissing
	p.allowMissing = true
	defer func() { p.allowMissing = allow }()
	next := p.r
	next.Readmit = true
	if err := p.put(ctx, next); err != nil {
		return nil, err
	}
	readmitted := func(v *View, server string) bool {
		_, donor := p.r.Moves[server]
		for id := range p.expected {
			r, ok := v.Progress[haproxy.Ref{Backend: backend, Server: server}][id]
			if ok && r.Op == p.r.ID && (r.Admin == haproxy.Maint || donor && (r.Round != p.r.Round || r.Phase != PhaseReadmitted)) {
				return false
			}
		}
		return true
	}
	v, err := p.await(ctx, 0, func(v *View) bool {
		for _, s := range servers {
			if !readmitted(v, s) {
				return false
			}
		}
		return true
	})
	if len(p.gone) > 0 {
		return nil, errors.Join(err, fmt.Errorf("fleet: agent %s stopped reporting: its HAProxy keeps what it last set (`wsctl ready SERVER --socket …` there)", strings.Join(p.gone, ", ")))
	}
	var done []string
	if v != nil {
		for _, s := range servers {
			if readmitted(v, s) {
				done = append(done, s)
			}
		}
	}
	return done, err
}

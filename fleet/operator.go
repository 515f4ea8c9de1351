package fleet

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/wsctl/wsctl/discovery/consul"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/intent"
	"github.com/wsctl/wsctl/spec"
)

// Operator is the CLI's side of the fleet: it writes an intent and follows
// the agents' reports. It needs no admin socket, only Consul.
type Operator struct {
	client *api.Client
	store  *intent.Consul
	prefix string
	addr   string
}

// NewOperator returns the operator for the spec's Consul settings (address,
// token, TLS, kv_prefix; the CONSUL_* environment fills the rest).
func NewOperator(c spec.Consul) (*Operator, error) {
	client, addr, err := consul.NewClient(c)
	if err != nil {
		return nil, err
	}
	return &Operator{client: client, store: intent.NewConsulWith(client, addr, c.KVPrefix), prefix: c.KVPrefix, addr: addr}, nil
}

// Where names Consul and the prefix, for messages.
func (o *Operator) Where() string { return fmt.Sprintf("consul %s kv %s", o.addr, o.prefix) }

// Read lists the prefix once, or, with index above zero, blocks until it
// changes past index (or Consul's wait ends).
func (o *Operator) Read(ctx context.Context, index uint64) (*View, error) {
	pairs, meta, err := o.client.KV().List(o.prefix, (&api.QueryOptions{WaitIndex: index, WaitTime: 10 * time.Second}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("fleet: consul %s: read %s: %w", o.addr, o.prefix, err)
	}
	return parse(o.prefix, o.store, pairs, meta.LastIndex), nil
}

// NewOpID returns a fresh operation id: the time and random hex.
func NewOpID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b)
}

// Request is one fleet operation on one server.
type Request struct {
	Ref haproxy.Ref
	// Intent is written (it carries Op for a drain or a maint); nil
	// removes the server's intent, so every agent readmits it.
	Intent *intent.Intent
	// Healthy, with a nil Intent, also waits for every agent to see the
	// server's health check pass.
	Healthy bool
	// AllowMissing carries on when an agent expected at the start stops
	// reporting: the drain then completes on the others.
	AllowMissing bool
}

// Outcome is how a fleet operation ended.
type Outcome string

// The outcomes.
const (
	Done     Outcome = "done"      // every live agent reports the server as asked
	TimedOut Outcome = "timed_out" // the context ended first
	Failed   Outcome = "error"     // an agent reported an error, or one went missing
)

// Row is one load balancer (agent) in a Status.
type Row struct {
	Agent string
	// Report is the agent's latest on the server; nil when none yet.
	Report *Progress
	// Missing is set for an agent expected at the start whose session
	// ended.
	Missing bool
	// Done is set once the agent reports the server as asked.
	Done bool
}

// Status is a fleet operation as last seen.
type Status struct {
	Op      string
	Rows    []Row
	Outcome Outcome // "" while running
	// Problem says why it Failed, naming the agents.
	Problem string
	// Refused are the agents that refused the operation (PhaseRefused):
	// Run then withdraws the intent it wrote.
	Refused []string
	// Withdrawn is set once Run removed its intent after a refusal, so
	// every agent readmits the server.
	Withdrawn bool
	// TookOver names the operation Run replaced (who, op, reason; "" for
	// none): its operator is told, its Run ends Failed.
	TookOver string
	Elapsed  time.Duration
}

// ErrNoAgents refuses an operation no agent would carry out.
var ErrNoAgents = errors.New("no wsctl agent has announced itself")

// Run carries out req: it writes (or removes) the intent with
// check-and-set, then follows the reports with blocking queries, calling
// update (when not nil) on every change, until every live agent has done
// it, one fails or goes missing, or ctx ends (TimedOut). When an agent
// refused the operation (it changed nothing: the last server of its
// backend, sessions left for a maint) Run withdraws the intent it wrote,
// with check-and-set, so every agent readmits the server: a refused
// operation is undone everywhere, not held. The error is for a
// failure before anything changed (Consul unreachable, a token that may not
// write, no agent) or of Consul meanwhile: a read it refuses, or reads
// failing for longer than Outage (an election, while a new leader is found,
// is waited out); an outcome is in Status.
func (o *Operator) Run(ctx context.Context, req Request, update func(Status)) (Status, error) {
	start := time.Now()
	v, err := o.Read(ctx, 0)
	if err != nil {
		return Status{}, err
	}
	if len(v.Agents) == 0 {
		return Status{}, fmt.Errorf("fleet: %w under %s%s in consul %s: start `wsctl agent` on the load balancers, or drain locally without --fleet", ErrNoAgents, o.prefix, AgentsPrefix, o.addr)
	}
	expected := map[string]bool{}
	for id := range v.Agents {
		expected[id] = true
	}
	cur, index, err := o.store.Get(ctx, req.Ref)
	if err != nil {
		return Status{}, err
	}
	tookOver := ""
	if cur != nil && cur.Op != nil && (req.Intent == nil || req.Intent.Op == nil || cur.Op.ID != req.Intent.Op.ID) {
		tookOver = describe(*cur)
	}
	op := ""
	if req.Intent != nil {
		if req.Intent.Op != nil {
			op = req.Intent.Op.ID
		}
		err = o.store.Swap(ctx, req.Ref, req.Intent, index)
	} else if index != 0 {
		err = o.store.Swap(ctx, req.Ref, nil, index)
	}
	if err != nil {
		return Status{}, err
	}
	var failing time.Time // since when reads fail; zero while they work
	for first := true; ; first = false {
		// An agent that joined later is expected too once it reported
		// on op: its announcement vanishing then is as telling.
		for id, p := range v.Progress[req.Ref] {
			if op != "" && p.Op == op {
				expected[id] = true
			}
		}
		st := decide(v, expected, req, op)
		st.Elapsed, st.TookOver = time.Since(start), tookOver
		if in, ok := v.Intents[req.Ref]; !first && op != "" && st.Outcome != Done && (!ok || in.Op == nil || in.Op.ID != op) {
			// Another operator took the server over (the first view
			// is from before this one's write): say so now, rather
			// than wait for a timeout that says nothing.
			st.Outcome, st.Problem = Failed, "another operation took the server over: "+describeOr(in, ok, "the intent was removed")
		}
		if update != nil {
			update(st)
		}
		if st.Outcome == Done && req.Intent != nil && req.Intent.State == haproxy.Drain && !held(*req.Intent) {
			// Drained: from now on the agents hold MAINT, as after a
			// local drain, so a restarted HAProxy never lets sticky
			// clients back in. The op stays the same: nothing restarts.
			return st, o.hold(ctx, *req.Intent)
		}
		if st.Outcome == Failed && len(st.Refused) > 0 && req.Intent != nil {
			// A refusal fails the whole operation; the intent left in
			// place would make every agent hold the server anyway,
			// the refusing ones included (their last server, or
			// their sessions).
			var err error
			st.Withdrawn, err = o.withdraw(ctx, *req.Intent)
			return st, err
		}
		if st.Outcome != "" {
			return st, nil
		}
		next, err := o.Read(ctx, v.Index)
		if ctx.Err() != nil {
			st.Outcome, st.Problem = TimedOut, silent(st, op)
			return st, nil
		}
		if err != nil {
			// Consul between leaders (its leader died, the others
			// elect one) fails reads for a second or two while the
			// agents carry on: wait that out, not a lasting failure.
			if failing.IsZero() {
				failing = time.Now()
			}
			if !transient(err) || time.Since(failing) > Outage {
				return st, err
			}
			sleep(ctx, retry)
			continue
		}
		failing = time.Time{}
		v = next
	}
}

// Outage is how long Run keeps reading a Consul that fails with a server
// error or cannot be reached before it gives up: longer than an election
// and Consul's own rpc_hold_timeout (7s).
const Outage = 15 * time.Second

// transient reports whether a failed read may succeed when tried again:
// anything but Consul refusing the request itself (a 4xx: ACLs, a bad
// prefix).
func transient(err error) bool {
	var se api.StatusError
	return !errors.As(err, &se) || se.Code >= 500
}

// hold turns a drained server's intent to MAINT, unless it changed
// meanwhile (another operator's intent stands).
func (o *Operator) hold(ctx context.Context, in intent.Intent) error {
	cur, index, err := o.store.Get(ctx, in.Ref())
	if err != nil || cur == nil || cur.Op == nil || in.Op == nil || cur.Op.ID != in.Op.ID {
		return err
	}
	in.State = haproxy.Maint
	if err := o.store.Swap(ctx, in.Ref(), &in, index); err != nil && !errors.Is(err, intent.ErrConflict) {
		return err
	}
	return nil
}

// withdraw removes in's intent with check-and-set, unless another
// operation's replaced it meanwhile (then it reports false). Its own
// deadline: ctx may be near its end.
func (o *Operator) withdraw(ctx context.Context, in intent.Intent) (bool, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	cur, index, err := o.store.Get(ctx, in.Ref())
	if err != nil || cur == nil || cur.Op == nil || in.Op == nil || cur.Op.ID != in.Op.ID {
		return false, err
	}
	if err := o.store.Swap(ctx, in.Ref(), nil, index); err != nil {
		if errors.Is(err, intent.ErrConflict) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// describe names an intent's operation for another operator: who, the op
// id, the state and the reason.
func describe(in intent.Intent) string {
	d := fmt.Sprintf("%s by %s since %s", in.State, cmp.Or(in.Who, "someone"), in.Since.Format(time.RFC3339))
	if in.Op != nil {
		d += ", op " + in.Op.ID
	}
	if in.Reason != "" {
		d += fmt.Sprintf(" (%q)", in.Reason)
	}
	return d
}

// describeOr is describe(in) when ok, else none.
func describeOr(in intent.Intent, ok bool, none string) string {
	if !ok {
		return none
	}
	return describe(in)
}

// silent names, for an operation that timed out, the agents that never
// reported on it: a load balancer without the server reports nothing.
func silent(st Status, op string) string {
	var ids []string
	for _, r := range st.Rows {
		if !r.Done && (r.Report == nil || op != "" && r.Report.Op != op) {
			ids = append(ids, r.Agent)
		}
	}
	if len(ids) == 0 {
		return ""
	}
	return "no report from " + strings.Join(ids, ", ") + " (does its load balancer have the server?)"
}

// decide reads where op stands from one view: expected are the agents live
// at the start.
func decide(v *View, expected map[string]bool, req Request, op string) Status {
	st := Status{Op: op}
	ids := map[string]bool{}
	for id := range expected {
		ids[id] = true
	}
	for id := range v.Agents {
		ids[id] = true
	}
	var missing, failed []string
	all := true
	for _, id := range slices.Sorted(maps.Keys(ids)) {
		r := Row{Agent: id}
		if p, ok := v.Progress[req.Ref][id]; ok {
			r.Report = &p
		}
		if _, live := v.Agents[id]; !live {
			r.Missing = true
			missing = append(missing, id)
			st.Rows = append(st.Rows, r)
			continue
		}
		r.Done = done(r.Report, req, op)
		if p := r.Report; p != nil && op != "" && p.Op == op && (p.Phase == PhaseError || p.Phase == PhaseRefused) {
			failed = append(failed, fmt.Sprintf("%s: %s", id, cmp.Or(p.Error, p.Phase+" with no reason given")))
			if p.Phase == PhaseRefused {
				st.Refused = append(st.Refused, id)
			}
		}
		all = all && r.Done
		st.Rows = append(st.Rows, r)
	}
	switch {
	case len(failed) > 0:
		st.Outcome, st.Problem = Failed, strings.Join(failed, "; ")
	case len(missing) > 0 && !req.AllowMissing:
		st.Outcome = Failed
		st.Problem = fmt.Sprintf("agent %s stopped reporting (its Consul session ended); --allow-missing carries on without it", strings.Join(missing, ", "))
	case all:
		st.Outcome = Done
	}
	return st
}

// done reports whether an agent's report shows the server as req asks.
func done(p *Progress, req Request, op string) bool {
	if req.Intent == nil {
		if p == nil {
			return true // this agent never held the server
		}
		ready := p.Op == "" && p.Admin == haproxy.Ready
		if req.Healthy {
			ready = ready && haproxy.ServerStatus{Admin: p.Admin, State: p.State}.Healthy()
		}
		return ready
	}
	if held(*req.Intent) {
		return p != nil && p.Op == op && p.Admin == req.Intent.State && p.Phase == PhaseHeld
	}
	if p == nil || p.Op != op || p.Admin != haproxy.Maint {
		return false // a drain ends in MAINT too
	}
	return p.Phase == PhaseDrained && p.Sessions == 0
}

// held reports whether in asks the agents to set its state and keep it (a
// maint, a rollout's hold) rather than to drain.
func held(in intent.Intent) bool {
	return in.Op != nil && (in.Op.Hold || in.State == haproxy.Maint && in.Op.CloseAfter == nil)
}

// Servers lists the servers a view knows of (intents and reports), sorted.
func (v *View) Servers() []haproxy.Ref {
	seen := map[haproxy.Ref]bool{}
	for r := range v.Intents {
		seen[r] = true
	}
	for r := range v.Progress {
		seen[r] = true
	}
	out := make([]haproxy.Ref, 0, len(seen))
	for r := range seen {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

package rebalance

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/internal/pace"
)

// Read counts the servers of backend on every socket and sums them into
// loads: a server is eligible when it takes clients on every socket (one
// missing from a socket is not), its weight is the first socket's. cap is
// the backend's server_maxconn (0: none).
func Read(ctx context.Context, sockets []Socket, backend string, cap int64) ([]Load, error) {
	byName := map[string]*Load{}
	seen := map[string]int{}
	var order []string
	for _, s := range sockets {
		all, err := s.Runtime.Servers(ctx, backend)
		if err != nil {
			return nil, err
		}
		for _, st := range all {
			l, ok := byName[st.Server]
			if !ok {
				l = &Load{Server: st.Server, Weight: st.UserWeight, Cap: cap, Eligible: true}
				byName[st.Server] = l
				order = append(order, st.Server)
			}
			l.Sessions += st.Scur
			l.Eligible = l.Eligible && st.TakesClients()
			seen[st.Server]++
		}
	}
	out := make([]Load, 0, len(order))
	for _, name := range order {
		l := *byName[name]
		l.Eligible = l.Eligible && seen[name] == len(sockets)
		out = append(out, l)
	}
	return out, nil
}

// Run rebalances the backend on every socket as the package documents.
// It returns an error only before anything changes: invalid options, a
// failed first count, or a refused plan (Plan.Refused). A backend already
// balanced is left alone (Outcome Balanced, no round).
func Run(ctx context.Context, sockets []Socket, o Options) (Result, error) {
	if err := o.Validate(); err != nil {
		return Result{}, err
	}
	if len(sockets) == 0 {
		return Result{}, errors.New("rebalance: no admin socket")
	}
	if o.Poll == 0 {
		o.Poll = DefaultPoll
	}
	if o.Settle == 0 {
		o.Settle = DefaultSettle
	}
	start := time.Now()
	loads, err := Read(ctx, sockets, o.Backend, o.Cap)
	if err != nil {
		return Result{}, err
	}
	plan := Compute(loads, o.Tolerance)
	if err := plan.Refused(); err != nil {
		return Result{Before: plan, After: plan}, err
	}
	r := &run{o: o, sockets: sockets, start: start, pacer: pace.New(o.Rate),
		res: Result{Outcome: Balanced, Before: plan, After: plan}}
	if r.pids, err = pids(ctx, sockets); err != nil {
		return Result{Before: plan, After: plan}, err
	}
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
	o       Options
	sockets []Socket
	start   time.Time
	pacer   *pace.Pacer
	res     Result
	// maint are the donors set to MAINT and not yet READY again, in the
	// order they were set.
	maint      []string
	restoreErr error
	// pids are the HAProxy processes the rebalance started on, by socket.
	pids []int64
}

// ErrReloaded ends a rebalance when HAProxy reloaded during it: the old
// worker keeps the sessions of the count the rebalance follows, out of
// the socket's sight, and the new one starts from its config.
var ErrReloaded = errors.New("HAProxy reloaded during the rebalance")

// pids asks every socket which process answers.
func pids(ctx context.Context, sockets []Socket) ([]int64, error) {
	out := make([]int64, len(sockets))
	for i, s := range sockets {
		pid, err := s.Runtime.Pid(ctx)
		if err != nil {
			return nil, err
		}
		out[i] = pid
	}
	return out, nil
}

// read counts the backend's sessions, and fails with ErrReloaded when a
// socket answers from another process than the rebalance started on: the
// count would leave out what the old worker still holds.
func (r *run) read(ctx context.Context) ([]Load, error) {
	now, err := pids(ctx, r.sockets)
	if err != nil {
		return nil, err
	}
	for i, pid := range now {
		if pid != r.pids[i] {
			return nil, fmt.Errorf("rebalance: %s: %w (worker %d → %d): its sessions are out of sight until it exits; run the rebalance again after the hand-over",
				r.sockets[i].Name, ErrReloaded, r.pids[i], pid)
		}
	}
	return Read(ctx, r.sockets, r.o.Backend, r.o.Cap)
}

// rounds does a round, counts, and does one more while the backend is
// not within the tolerance.
func (r *run) rounds(ctx context.Context, plan Plan) error {
	for round := 1; ; round++ {
		if err := r.round(ctx, round, plan); err != nil {
			return err
		}
		r.res.Rounds = round
		loads, err := r.read(ctx)
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

// pick is one session to close.
type pick struct {
	socket  int
	server  string
	session haproxy.SessionID
}

// round moves plan's excess: MAINT on the donors, the paced closes, the
// wait for the reconnects, READY again.
func (r *run) round(ctx context.Context, round int, plan Plan) error {
	r.step(Step{Kind: Planned, Round: round, Plan: plan})
	donors := plan.Donors()
	for _, d := range donors {
		// Recorded first: a set that fails half-way (one socket done) is
		// restored too.
		r.maint = append(r.maint, d.Server)
		for _, s := range r.sockets {
			if err := s.Runtime.SetState(ctx, r.o.Backend, d.Server, haproxy.Maint); err != nil {
				return err
			}
		}
	}
	queue, err := r.choose(ctx, donors)
	if err != nil {
		return err
	}
	var closed int64
	shown := time.Now()
	for _, p := range queue {
		slot, _ := r.pacer.Reserve(time.Now(), farFuture)
		if !pace.SleepUntil(ctx, slot) {
			return ctx.Err()
		}
		err := r.sockets[p.socket].Runtime.ShutdownSession(ctx, r.o.Backend, p.server, p.session)
		switch {
		case errors.Is(err, haproxy.ErrNoSuchSession):
			// It left by itself: one fewer to move.
		case err != nil:
			return err
		default:
			closed++
			r.res.Closed++
		}
		if time.Since(shown) >= time.Second {
			shown = time.Now()
			r.step(Step{Kind: Closing, Round: round, Plan: plan, Closed: closed})
		}
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

// farFuture is a limit no slot reaches: a rebalance waits for each slot,
// bounded by its context.
var farFuture = time.Now().Add(100 * 365 * 24 * time.Hour)

// choose lists the sessions to close: each donor's oldest across every
// socket, Moves of them, interleaved donor by donor so they all shed at
// the same pace.
func (r *run) choose(ctx context.Context, donors []Share) ([]pick, error) {
	lists := make([][]pick, len(donors))
	for i, d := range donors {
		type aged struct {
			pick
			age time.Duration
		}
		var all []aged
		for si, s := range r.sockets {
			sess, err := s.Runtime.SessionsByAge(ctx, r.o.Backend, d.Server)
			if err != nil {
				return nil, err
			}
			for _, x := range sess {
				all = append(all, aged{pick{socket: si, server: d.Server, session: x.ID}, x.Age})
			}
		}
		sort.SliceStable(all, func(a, b int) bool { return all[a].age > all[b].age })
		for _, a := range all[:min(int64(len(all)), d.Moves)] {
			lists[i] = append(lists[i], a.pick)
		}
	}
	var queue []pick
	for k := 0; ; k++ {
		added := false
		for _, l := range lists {
			if k < len(l) {
				queue = append(queue, l[k])
				added = true
			}
		}
		if !added {
			return queue, nil
		}
	}
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
		loads, err := r.read(ctx)
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

// restore sets every donor still in MAINT READY again on every socket,
// with a fresh context: it runs after a cancel or a timeout too. A donor
// that could not be set READY is kept in the list and named in the error.
func (r *run) restore() error {
	if len(r.maint) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), restoreTimeout)
	defer cancel()
	var errs []error
	var stuck []string
	for _, server := range r.maint {
		ok := true
		for _, s := range r.sockets {
			if err := s.Runtime.Readmit(ctx, r.o.Backend, server); err != nil {
				errs = append(errs, err)
				ok = false
			}
		}
		if ok {
			r.res.Restored = append(r.res.Restored, server)
		} else {
			stuck = append(stuck, server)
		}
	}
	r.maint = stuck
	if len(errs) == 0 {
		r.restoreErr = nil
		return nil
	}
	r.restoreErr = fmt.Errorf("rebalance: %s may still be in MAINT on some socket (`wsctl ready` each): %w",
		strings.Join(stuck, ", "), errors.Join(errs...))
	return r.restoreErr
}

func (r *run) step(s Step) {
	if r.o.Progress == nil {
		return
	}
	s.Elapsed = time.Since(r.start)
	r.o.Progress(s)
}

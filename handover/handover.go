// Package handover moves the WebSockets of HAProxy's old workers to the new
// one after a reload, gently. A reload starts a new worker and leaves the
// old one holding every WebSocket it had until they end or hard-stop-after
// cuts them all in the same instant: thousands of clients reconnecting in
// one second, and an old process's memory kept meanwhile.
//
// Run reaches every old worker through the master CLI (`show proc`,
// `@!PID show sess`, `@!PID shutdown session ID`), waits a grace period
// (Options.After, the spec's haproxy.handover_after) during which sessions
// may end by themselves, then closes the rest at a paced rate. The clients
// reconnect to the new worker (the old one accepts nothing any more), and
// the old worker exits as soon as its last session is gone, long before
// hard-stop-after.
//
// The rate is per backend: each backend has one pacer, at its close_rate,
// shared by every old worker, so a backend's clients reconnect at no more
// than its close_rate however many reloads left old workers behind, and a
// backend's rate is not eaten by another's crowd. Backends the old worker
// has but the spec no longer names (a reload that removed them) get
// Options.DefaultRate. The host's reconnect rate is thus at most the sum of
// the rates of the backends with sessions in old workers.
//
// Several old workers (reloads in a row) are handled together, each from
// the same start.
package handover

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/internal/pace"
	"github.com/wsctl/wsctl/paced"
	"github.com/wsctl/wsctl/spec"
)

// Master is what a hand-over needs from HAProxy's master CLI.
type Master interface {
	Procs(ctx context.Context) (haproxy.Procs, error)
	WorkerSessions(ctx context.Context, pid int64) ([]haproxy.WorkerSession, error)
	ShutdownWorkerSession(ctx context.Context, pid int64, backend string, id haproxy.SessionID) error
}

var _ Master = (*haproxy.Master)(nil)

// DefaultPoll is how often sessions are counted when Options leaves Poll
// zero.
const DefaultPoll = 250 * time.Millisecond

// maxErrors is how many master calls in a row may fail (a busy HAProxy)
// before the hand-over of a worker gives up.
const maxErrors = 3

// Options tune a hand-over.
type Options struct {
	// After is the grace period, from the start of Run, before closing
	// begins: sessions that end by themselves meanwhile need no closing.
	After time.Duration
	// Rates are sessions closed per second, per backend name, across all
	// old workers (the spec's backends[].close_rate; see Rates).
	Rates map[string]float64
	// DefaultRate is the rate of a backend not in Rates; 0 means
	// spec.DefaultCloseRate.
	DefaultRate float64
	// Workers, when not nil, are the old workers to hand over; nil means
	// every old worker `show proc` lists when Run starts.
	Workers []int64
	// Timeout bounds the whole hand-over; 0 means no limit.
	Timeout time.Duration
	// Poll is how often sessions are counted; 0 means DefaultPoll.
	Poll time.Duration
	// Progress, when not nil, is called after every count, one call at a
	// time.
	Progress func(Progress)
}

// Rates returns the close rate of every backend of s, for Options.Rates.
func Rates(s *spec.Spec) map[string]float64 {
	out := make(map[string]float64, len(s.Backends))
	for _, b := range s.Backends {
		out[b.Name] = b.CloseRate
	}
	return out
}

// SpecOptions are the hand-over after a reload of s's HAProxy, as
// `wsctl reload` and the agent start it: closing after
// haproxy.handover_after at each backend's close_rate, until
// haproxy.hard_stop_after ends the old workers anyway.
func SpecOptions(s *spec.Spec) Options {
	return Options{After: s.HAProxy.HandoverAfter.D(), Rates: Rates(s), Timeout: s.HAProxy.HardStopAfter.D()}
}

// Validate reports options that cannot work.
func (o Options) Validate() error {
	switch {
	case o.After < 0:
		return fmt.Errorf("handover: grace period %s is negative", o.After)
	case o.Timeout < 0:
		return fmt.Errorf("handover: timeout %s is negative", o.Timeout)
	case o.Poll < 0:
		return fmt.Errorf("handover: poll interval %s is negative", o.Poll)
	case o.Timeout > 0 && o.After >= o.Timeout:
		return fmt.Errorf("handover: grace period %s must be shorter than the timeout %s", o.After, o.Timeout)
	case o.DefaultRate != 0 && !validRate(o.DefaultRate):
		return fmt.Errorf("handover: default rate %g is out of range (%g to %g sessions per second)", o.DefaultRate, spec.MinCloseRate, spec.MaxCloseRate)
	}
	for b, r := range o.Rates {
		if !validRate(r) {
			return fmt.Errorf("handover: rate %g of backend %s is out of range (%g to %g sessions per second)", r, b, spec.MinCloseRate, spec.MaxCloseRate)
		}
	}
	return nil
}

// rate is backend's close rate: its own, else DefaultRate, else
// spec.DefaultCloseRate.
func (o Options) rate(backend string) float64 {
	if r, ok := o.Rates[backend]; ok {
		return r
	}
	if o.DefaultRate != 0 {
		return o.DefaultRate
	}
	return spec.DefaultCloseRate
}

func validRate(r float64) bool {
	return !math.IsNaN(r) && r >= spec.MinCloseRate && r <= spec.MaxCloseRate
}

// Phase is where a worker's hand-over stands.
type Phase = paced.Phase

// The phases of a hand-over.
const (
	Waiting = paced.Waiting // the grace period: sessions end by themselves
	Closing = paced.Closing // wsctl closes the rest at the paced rate
)

// Progress is one count during a hand-over.
type Progress struct {
	Worker  int64
	Phase   Phase
	Left    int // sessions still in the worker
	Closed  int // sessions closed by the hand-over so far
	Elapsed time.Duration
}

// Part is pr as paced.Total counts it, by worker.
func (pr Progress) Part() (int64, int64, int, Phase) {
	return pr.Worker, int64(pr.Left), pr.Closed, pr.Phase
}

// Outcome is how a worker's hand-over ended.
type Outcome = paced.Outcome

// The outcomes, from best to worst.
const (
	Exited   Outcome = "exited"       // the old worker is gone
	TimedOut         = paced.TimedOut // the worker still there
	Canceled         = paced.Canceled
	Failed           = paced.Failed // master calls kept failing
)

// Report is the end of one worker's hand-over.
type Report struct {
	Worker  int64
	Outcome Outcome
	// Before is the number of sessions when the hand-over started; Left
	// when it ended; Closed how many it closed itself.
	Before, Left, Closed int
	Elapsed              time.Duration
	// Err is set for Failed and Canceled.
	Err error
}

// End is how the worker's hand-over ended, with its error.
func (r Report) End() (Outcome, error) { return r.Outcome, r.Err }

// Done is a hand-over's success: Exited.
func (Report) Done() Outcome { return Exited }

// Result gathers the reports of every old worker, in pid order of `show
// proc`; its Outcome is Exited when every worker exited, or there were
// none.
type Result = paced.Result[Report]

// Run hands over the sessions of every old worker (or opts.Workers)
// concurrently and returns when all have exited, or the timeout or ctx
// ended it. It returns an error only before anything is closed: invalid
// options, or a master that does not list its processes.
func Run(ctx context.Context, m Master, opts Options) (Result, error) {
	if err := opts.Validate(); err != nil {
		return Result{}, err
	}
	if opts.Poll == 0 {
		opts.Poll = DefaultPoll
	}
	if opts.DefaultRate == 0 {
		opts.DefaultRate = spec.DefaultCloseRate
	}
	workers := opts.Workers
	if workers == nil {
		procs, err := m.Procs(ctx)
		if err != nil {
			return Result{}, fmt.Errorf("handover: %w", err)
		}
		for _, p := range procs.Old {
			workers = append(workers, p.Pid)
		}
	}
	start := time.Now()
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, start.Add(opts.Timeout))
		defer cancel()
	}
	h := &handover{m: m, opts: opts, start: start, pacers: map[string]*pace.Pacer{}, progress: paced.Serial(opts.Progress)}
	return paced.Run(start, len(workers), func(i int) Report { return h.worker(ctx, workers[i]) }), nil
}

// handover is one Run: the pacers its workers share.
type handover struct {
	m     Master
	opts  Options
	start time.Time

	mu     sync.Mutex
	pacers map[string]*pace.Pacer
	// progress is Options.Progress, one call at a time.
	progress func(Progress)
}

// pacer returns backend's pacer, shared by every worker.
func (h *handover) pacer(backend string) *pace.Pacer {
	h.mu.Lock()
	defer h.mu.Unlock()
	p, ok := h.pacers[backend]
	if !ok {
		p = pace.New(h.opts.rate(backend))
		h.pacers[backend] = p
	}
	return p
}

// worker hands over one old worker: count its sessions until the grace
// period ends, then close them, backend by backend at each backend's rate,
// listing again until the worker has exited.
func (h *handover) worker(ctx context.Context, pid int64) Report {
	rep := Report{Worker: pid, Before: -1}
	// HAProxy 3.0 now and then leaves a stream running after `shutdown
	// session` answered; the next listing shows it and it is closed again,
	// but counted once.
	closedIDs := map[haproxy.SessionID]bool{}
	errs := 0
	closing := h.start.Add(h.opts.After)
	end := func(o Outcome, err error) Report {
		rep.Outcome, rep.Err, rep.Closed, rep.Elapsed = o, err, len(closedIDs), time.Since(h.start)
		if rep.Before < 0 {
			rep.Before = 0
		}
		return rep
	}
	for {
		sessions, err := h.m.WorkerSessions(ctx, pid)
		switch {
		case errors.Is(err, haproxy.ErrNoSuchWorker):
			rep.Left = 0
			return end(Exited, nil)
		case ctx.Err() != nil:
			return end(h.stopped(ctx))
		case err != nil:
			if errs++; errs >= maxErrors {
				return end(Failed, err)
			}
		default:
			errs = 0
			rep.Left = len(sessions)
			if rep.Before < 0 {
				rep.Before = len(sessions)
			}
			phase := Waiting
			if !time.Now().Before(closing) {
				phase = Closing
			}
			h.progress(Progress{Worker: pid, Phase: phase, Left: len(sessions), Closed: len(closedIDs), Elapsed: time.Since(h.start)})
			if phase == Closing && len(sessions) > 0 {
				ids, err := h.close(ctx, pid, sessions)
				for _, id := range ids {
					closedIDs[id] = true
				}
				switch {
				case errors.Is(err, haproxy.ErrNoSuchWorker):
					rep.Left = 0
					return end(Exited, nil)
				case ctx.Err() != nil:
					return end(h.stopped(ctx))
				case err != nil:
					return end(Failed, err)
				case len(ids) > 0:
					continue
				}
			}
		}
		next := time.Now().Add(h.opts.Poll)
		if time.Now().Before(closing) && closing.Before(next) {
			next = closing
		}
		if !pace.SleepUntil(ctx, next) {
			return end(h.stopped(ctx))
		}
	}
}

// stopped is the outcome of a hand-over whose ctx ended: the timeout, or
// the caller's cancellation.
func (h *handover) stopped(ctx context.Context) (Outcome, error) {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && h.opts.Timeout > 0 && time.Since(h.start) >= h.opts.Timeout {
		return TimedOut, nil
	}
	return Canceled, fmt.Errorf("handover: %w", ctx.Err())
}

// close closes sessions, each backend's at its own pacer's slots, and
// returns those it closed. Sessions already gone do not count.
func (h *handover) close(ctx context.Context, pid int64, sessions []haproxy.WorkerSession) ([]haproxy.SessionID, error) {
	byBackend := map[string][]haproxy.SessionID{}
	for _, s := range sessions {
		byBackend[s.Backend] = append(byBackend[s.Backend], s.ID)
	}
	var (
		mu     sync.Mutex
		closed []haproxy.SessionID
		errs   []error
		wg     sync.WaitGroup
	)
	for backend, ids := range byBackend {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := h.closeBackend(ctx, pid, backend, ids)
			mu.Lock()
			defer mu.Unlock()
			closed = append(closed, n...)
			if err != nil {
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if errors.Is(err, haproxy.ErrNoSuchWorker) {
			return closed, err
		}
	}
	return closed, errors.Join(errs...)
}

// closeBackend closes ids, sessions of backend in worker pid, one per slot
// of the backend's pacer, and returns those it closed.
func (h *handover) closeBackend(ctx context.Context, pid int64, backend string, ids []haproxy.SessionID) ([]haproxy.SessionID, error) {
	p := h.pacer(backend)
	limit := time.Now().Add(100 * 365 * 24 * time.Hour)
	if d, ok := ctx.Deadline(); ok {
		limit = d
	}
	var closed []haproxy.SessionID
	errs := 0
	for _, id := range ids {
		slot, ok := p.Reserve(time.Now(), limit)
		if !ok || !pace.SleepUntil(ctx, slot) {
			return closed, ctx.Err()
		}
		err := h.m.ShutdownWorkerSession(ctx, pid, backend, id)
		switch {
		case err == nil:
			closed = append(closed, id)
			errs = 0
		case errors.Is(err, haproxy.ErrNoSuchSession):
			errs = 0
		case errors.Is(err, haproxy.ErrNoSuchWorker), ctx.Err() != nil:
			return closed, err
		default:
			if errs++; errs >= maxErrors {
				return closed, err
			}
		}
	}
	return closed, nil
}

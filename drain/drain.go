// Package drain takes a server out of HAProxy without cutting its
// WebSockets at once: it stops new connections, waits for the existing ones
// to leave, and can close what remains at a steady rate so the clients
// reconnect to the other servers spread over time, not in one wave.
//
// The sequence, on every socket at once:
//
//  1. set the server to DRAIN: no new clients, existing sessions stay, and
//     HAProxy still admits clients whose sticky cookie names the server;
//  2. wait until its sessions reach zero;
//  3. at Close.After, set it to MAINT first, so sticky clients are no longer
//     admitted (with `option redispatch` they go to another server), then
//     close the remaining sessions, Close.Rate per second across all
//     sockets, or all at once when the rate is zero;
//  4. once no session is left, leave the server in MAINT, so no client
//     lands on it while it is stopped. `wsctl ready` brings it back.
//
// Closing while the server is still in DRAIN would send every client that
// reconnects with its cookie straight back to the server being drained.
//
// Before changing anything, Run refuses (ErrLastServer) to take out a
// server when no other server of its backend can take new clients, on any
// socket: the clients would have nowhere to go and the frontend would
// answer 503. Options.Force overrides.
//
// A drain follows the HAProxy process it started on: every count also asks
// which process answers (its pid). A reload hands the socket to a new
// worker whose state knows nothing of the drain, while the old worker keeps
// the sessions where this socket cannot see them; the drain of that socket
// then ends as Failed with ErrReloaded, never as Drained.
package drain

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/internal/pace"
	"github.com/wsctl/wsctl/paced"
	"github.com/wsctl/wsctl/spec"
)

// Runtime is what a drain needs from one HAProxy admin socket.
type Runtime interface {
	// Pid says which HAProxy process answers on the socket.
	Pid(ctx context.Context) (int64, error)
	Servers(ctx context.Context, backend string) ([]haproxy.ServerStatus, error)
	Server(ctx context.Context, backend, server string) (haproxy.ServerStatus, error)
	SetState(ctx context.Context, backend, server string, state haproxy.AdminState) error
	Sessions(ctx context.Context, backend, server string) ([]haproxy.SessionID, error)
	ShutdownSession(ctx context.Context, backend, server string, id haproxy.SessionID) error
	ShutdownSessions(ctx context.Context, backend, server string) error
}

var _ Runtime = (*haproxy.Client)(nil)

var (
	// ErrReloaded ends a target's drain when HAProxy reloaded during it:
	// the socket now reaches a new worker, and the sessions the drain
	// waits for stay with the old one, out of its sight.
	ErrReloaded = errors.New("HAProxy reloaded during the drain")
	// ErrLastServer refuses a drain that would leave a backend without a
	// server that can take new clients.
	ErrLastServer = errors.New("no other server of the backend can take new clients")
)

// MinRate and MaxRate bound Close.Rate (sessions per second) when it is not
// zero: below MinRate a drain would close one session every few minutes,
// and outside the range the pacer's interval loses its meaning. They are
// the spec's close_rate bounds.
const (
	MinRate = spec.MinCloseRate
	MaxRate = spec.MaxCloseRate
)

// MaxDuration bounds a drain's timeout and close-after: a month is longer
// than any drain worth waiting for, and a bound keeps seconds read from
// elsewhere (an intent in Consul) far from time.Duration's overflow.
const MaxDuration = 31 * 24 * time.Hour

// DefaultPoll is how often a drain reads the session count when Options
// leaves Poll zero.
const DefaultPoll = 250 * time.Millisecond

// maxPollErrors is how many reads in a row may fail (a busy HAProxy)
// before the drain of that socket gives up.
const maxPollErrors = 3

// Target is one server on one socket.
type Target struct {
	// Socket identifies the admin socket in reports (its path).
	Socket  string
	Runtime Runtime
	Backend string
	Server  string
}

// Close says when and how fast the sessions left are closed.
type Close struct {
	// After is how long after the start of the drain closing begins.
	After time.Duration
	// Rate is the number of sessions closed per second, across all targets
	// together, from MinRate to MaxRate; 0 closes them all at once
	// (`shutdown sessions server`).
	Rate float64
	// Part, when set with a Rate above zero, makes this drain one of many
	// that close at Rate together, each on its own load balancer: they
	// share one schedule of Rate slots a second from Start
	// (pace.Schedule), and this one takes only the slots of the part Part
	// returns before each close (a fleet drain's parts follow the
	// sessions every load balancer still holds).
	Part  func() pace.Part
	Start time.Time
}

// Options tune a drain. The zero value waits for ever and closes nothing.
type Options struct {
	// Timeout bounds the whole drain; 0 means no limit.
	Timeout time.Duration
	// Close, when not nil, closes the sessions left after Close.After;
	// nil leaves them to end by themselves.
	Close *Close
	// Poll is how often sessions are counted; 0 means DefaultPoll.
	Poll time.Duration
	// Progress, when not nil, is called after every count, one call at a
	// time.
	Progress func(Progress)
	// Force drains even the last server of a backend that can take new
	// clients (see CheckNotLast).
	Force bool
}

// Validate reports options that cannot work.
func (o Options) Validate() error {
	switch {
	case o.Timeout < 0:
		return fmt.Errorf("drain: timeout %s is negative", o.Timeout)
	case o.Timeout > MaxDuration:
		return fmt.Errorf("drain: timeout %s is out of range: at most %s", o.Timeout, MaxDuration)
	case o.Poll < 0:
		return fmt.Errorf("drain: poll interval %s is negative", o.Poll)
	case o.Close == nil:
		return nil
	case o.Close.After < 0:
		return fmt.Errorf("drain: close-after %s is negative", o.Close.After)
	case o.Close.After > MaxDuration:
		return fmt.Errorf("drain: close-after %s is out of range: at most %s", o.Close.After, MaxDuration)
	case math.IsNaN(o.Close.Rate) || math.IsInf(o.Close.Rate, 0):
		return fmt.Errorf("drain: close-rate %g is not a number of sessions per second", o.Close.Rate)
	case o.Close.Rate != 0 && (o.Close.Rate < MinRate || o.Close.Rate > MaxRate):
		return fmt.Errorf("drain: close-rate %g is out of range: want 0 (all at once) or %g to %g sessions per second", o.Close.Rate, float64(MinRate), float64(MaxRate))
	case o.Timeout > 0 && o.Close.After >= o.Timeout:
		return fmt.Errorf("drain: close-after %s must be shorter than the timeout %s", o.Close.After, o.Timeout)
	}
	return nil
}

// Phase is where a target's drain stands.
type Phase = paced.Phase

// The phases of a drain.
const (
	Waiting = paced.Waiting // DRAIN set, sessions leave by themselves
	Closing = paced.Closing // MAINT set, wsctl closes the rest
)

// Progress is one count during a drain.
type Progress struct {
	Target, Backend, Server string
	Phase                   Phase
	Left                    int64 // sessions still on the server
	Closed                  int   // sessions closed by the drain so far
	Elapsed                 time.Duration
}

// Part is pr as paced.Total counts it, by socket.
func (pr Progress) Part() (string, int64, int, Phase) { return pr.Target, pr.Left, pr.Closed, pr.Phase }

// Outcome is how a target's drain ended.
type Outcome = paced.Outcome

// The outcomes, from best to worst.
const (
	Drained  Outcome = "drained" // no session left; the server is in MAINT
	TimedOut         = paced.TimedOut
	Canceled         = paced.Canceled
	Failed           = paced.Failed // a runtime call failed
)

// Report is the end of one target's drain.
type Report struct {
	Target, Backend, Server string
	Outcome                 Outcome
	// Before is the number of sessions when the drain started; Left when
	// it ended; Closed how many the drain closed itself.
	Before, Left int64
	Closed       int
	// Admin is the server's administrative state at the end, as last seen.
	Admin   haproxy.AdminState
	Elapsed time.Duration
	// Err is set for Failed and Canceled; it wraps ErrReloaded when HAProxy
	// reloaded during the drain.
	Err error
}

// End is how the target's drain ended, with its error as its Runtime
// returned it (haproxy.Client's errors name the socket).
func (r Report) End() (Outcome, error) { return r.Outcome, r.Err }

// Done is a drain's success: Drained.
func (Report) Done() Outcome { return Drained }

// Result gathers the reports of every target, in the order of the targets;
// its Outcome is Drained only when every socket is.
type Result = paced.Result[Report]

// Run drains every target concurrently and returns when all have ended.
// It returns an error only before anything changes: for invalid options,
// and, unless opts.Force, when CheckNotLast refuses.
func Run(ctx context.Context, targets []Target, opts Options) (Result, error) {
	if err := opts.Validate(); err != nil {
		return Result{}, err
	}
	if !opts.Force {
		if err := CheckNotLast(ctx, targets); err != nil {
			return Result{}, err
		}
	}
	if opts.Poll == 0 {
		opts.Poll = DefaultPoll
	}
	var pacer pace.Slots
	if c := opts.Close; c != nil && c.Rate > 0 {
		pacer = pace.New(c.Rate)
		if c.Part != nil {
			pacer = pace.NewScheduled(pace.Schedule{Start: c.Start, Rate: c.Rate}, c.Part)
		}
	}
	progress := paced.Serial(opts.Progress)
	start := time.Now()
	return paced.Run(start, len(targets), func(i int) Report {
		d := &drainer{t: targets[i], opts: opts, pace: pacer, progress: progress, start: start}
		return d.run(ctx)
	}), nil
}

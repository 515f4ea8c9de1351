// Package rebalance evens out the WebSockets of an HAProxy backend with the
// fewest moves. leastconn places only new connections, so after a rollout
// or a scale-out a backend stays as uneven as its history made it: a
// WebSocket stays where it landed, for hours.
//
// Compute splits the sessions among the servers that take clients, by
// weight and within the backend's server_maxconn, and counts the minimum
// of closes that reach every target: Σ max(0, sessions − target). Run then,
// at every place at once (a Place: the admin sockets of this host, Sockets,
// or every load balancer through its wsctl agent, package fleet):
//
//  1. sets every server above its target (a donor) to MAINT: with `option
//     redispatch` a client that comes back with the donor's sticky cookie
//     is sent elsewhere, which DRAIN would not do (DRAIN admits cookie
//     clients); MAINT does not cut existing sessions;
//  2. closes each donor's excess, its oldest sessions first, at Rate per
//     second across every donor and place together (a fleet's load
//     balancers each close their part of a donor's excess, in proportion
//     to the sessions they hold on it, at their part of the rate);
//  3. waits for the clients to reconnect (the sessions counted on the
//     backend are back near the count before the closes, or Settle has
//     passed): they land on the servers below target, the only ones that
//     take clients;
//  4. sets the donors READY again, counts again and, if the backend is not
//     within the tolerance yet, does one more round, never more.
//
// The donors stay in MAINT until the reconnects have landed, not just until
// their closes are done: a donor READY again would take back every cut
// client that reconnects late with its cookie.
//
// Run never leaves a server in MAINT: whatever the exit (an error, the
// context cancelled, the timeout), every donor it set to MAINT is set READY
// again, with a fresh context. It never takes the last servers that take
// clients out: only donors go to MAINT, and Compute's plan is refused
// (Plan.Refused) unless some server that takes clients on every socket is
// below its target.
//
// Oldest first: a client that just connected is often one a drain or a
// rollout has just moved, and cutting it again makes it pay twice; and
// WebSocket lifetimes are long-tailed, so the young ones are the likeliest
// to leave by themselves while the old ones would keep the imbalance for
// hours.
package rebalance

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/wsctl/wsctl/drain"
	"github.com/wsctl/wsctl/haproxy"
)

// Runtime is what a rebalance needs from one HAProxy admin socket.
type Runtime interface {
	// Pid says which HAProxy process answers on the socket.
	Pid(ctx context.Context) (int64, error)
	Servers(ctx context.Context, backend string) ([]haproxy.ServerStatus, error)
	SetState(ctx context.Context, backend, server string, state haproxy.AdminState) error
	Readmit(ctx context.Context, backend, server string) error
	SessionsByAge(ctx context.Context, backend, server string) ([]haproxy.WorkerSession, error)
	ShutdownSession(ctx context.Context, backend, server string, id haproxy.SessionID) error
}

var _ Runtime = (*haproxy.Client)(nil)

// Place is where a rebalance acts: the admin sockets of this host
// (Sockets) or every load balancer through its wsctl agent (package
// fleet). Run is written once against it.
type Place interface {
	// Count reads the backend's servers and sums each over every place
	// (Read's rules; cap is the backend's server_maxconn). A count that
	// would miss sessions fails: HAProxy reloaded since the first count
	// (ErrReloaded), a load balancer stopped reporting.
	Count(ctx context.Context, backend string, cap int64) ([]Load, error)
	// Shed sets every donor to MAINT everywhere, then closes Moves of its
	// oldest sessions, at rate per second across every donor and place
	// together, and returns how many it closed (a session that left by
	// itself is not counted). progress, when not nil, is called with the
	// closes so far as they happen.
	Shed(ctx context.Context, backend string, donors []Share, rate float64, progress func(closed int64)) (int64, error)
	// Readmit sets servers READY everywhere and returns those it set on
	// every place; the error names where it failed.
	Readmit(ctx context.Context, backend string, servers []string) ([]string, error)
}

// Socket is one HAProxy process's admin socket.
type Socket struct {
	// Name identifies the socket in reports (its path).
	Name    string
	Runtime Runtime
}

// Defaults for Options left zero.
const (
	DefaultPoll   = 250 * time.Millisecond
	DefaultSettle = 15 * time.Second
	// restoreTimeout bounds setting the donors READY again once the run's
	// context may be gone.
	restoreTimeout = 10 * time.Second
	// maxRounds is the first round and the one extra the package allows.
	maxRounds = 2
)

// Options tune a rebalance.
type Options struct {
	Backend string
	// Cap is the backend's server_maxconn; 0 means none.
	Cap int64
	// Tolerance is the fraction of its target a server may be off and
	// still count as balanced; 0 means DefaultTolerance.
	Tolerance float64
	// Rate is the number of sessions closed per second, across every
	// donor and socket, from drain.MinRate to drain.MaxRate.
	Rate float64
	// Timeout bounds the whole rebalance; 0 means no limit.
	Timeout time.Duration
	// Settle bounds the wait for the reconnects after each round's closes;
	// 0 means DefaultSettle.
	Settle time.Duration
	// Poll is how often sessions are counted while settling; 0 means
	// DefaultPoll.
	Poll time.Duration
	// Progress, when not nil, is called at every step, one call at a time.
	Progress func(Step)
	// DryRun counts and plans, and changes nothing: Run returns the plan
	// (Outcome PlanOnly) and the plan's refusal, if any.
	DryRun bool
}

// Validate reports options that cannot work.
func (o Options) Validate() error {
	switch {
	case o.Backend == "":
		return errors.New("rebalance: no backend")
	case o.Cap < 0:
		return fmt.Errorf("rebalance: server_maxconn %d is negative", o.Cap)
	case math.IsNaN(o.Tolerance) || o.Tolerance < 0 || o.Tolerance >= 1:
		return fmt.Errorf("rebalance: tolerance %g is out of range: want 0 (the default, %g) up to below 1", o.Tolerance, DefaultTolerance)
	case math.IsNaN(o.Rate) || o.Rate < drain.MinRate || o.Rate > drain.MaxRate:
		return fmt.Errorf("rebalance: close-rate %g is out of range: want %g to %g sessions per second", o.Rate, float64(drain.MinRate), float64(drain.MaxRate))
	case o.Timeout < 0:
		return fmt.Errorf("rebalance: timeout %s is negative", o.Timeout)
	case o.Settle < 0:
		return fmt.Errorf("rebalance: settle time %s is negative", o.Settle)
	case o.Poll < 0:
		return fmt.Errorf("rebalance: poll interval %s is negative", o.Poll)
	}
	return nil
}

// Kind names a step of a rebalance.
type Kind string

// The steps, in the order a round goes through them.
const (
	Planned    Kind = "plan"       // the plan of a round (Plan)
	Closing    Kind = "closing"    // closes so far (Closed of Plan.Moves), at most once a second
	Settled    Kind = "settled"    // the reconnects landed, or Settle passed (Sessions)
	Readmitted Kind = "readmitted" // the donors are READY again
)

// Step is one step of a rebalance.
type Step struct {
	Kind  Kind
	Round int
	// Plan is the round's plan (every step of the round carries it).
	Plan Plan
	// Closed are the sessions closed in the round so far.
	Closed int64
	// Sessions are the sessions on the eligible servers when the step
	// was taken (Settled).
	Sessions int64
	Elapsed  time.Duration
}

// Outcome is how a rebalance ended.
type Outcome string

// The outcomes.
const (
	Balanced   Outcome = "balanced"   // every server within the tolerance
	Unbalanced Outcome = "unbalanced" // two rounds done, some server still outside
	TimedOut   Outcome = "timed_out"  // Options.Timeout passed first
	Canceled   Outcome = "canceled"   // the context ended first
	Failed     Outcome = "error"      // a runtime call failed
	PlanOnly   Outcome = "planned"    // Options.DryRun: nothing changed
)

// Result is the end of a rebalance.
type Result struct {
	Outcome Outcome
	// Before is the first plan; After the last count's (equal to Before
	// when nothing was moved).
	Before, After Plan
	// Rounds are the rounds that closed sessions; Closed the sessions
	// closed in all of them.
	Rounds int
	Closed int64
	// Restored are the donors set READY again.
	Restored []string
	Elapsed  time.Duration
	Err      error
}

// Package target is where an operation on a server acts: the HAProxy admin
// sockets of this host (Local, with the local intent store) or every load
// balancer through its wsctl agent and Consul (Fleet). Drain, ready, maint,
// status and rollout are written once against Target; which one they act
// on is decided once, where the Target is built. DryRun wraps either and
// changes nothing: it says what would be done and refuses what the real
// run would refuse.
//
// The operations are the ones the code needs:
//
//   - Read lists a backend's servers at every place;
//   - Status reads what `wsctl status` shows: each socket's servers, or
//     the fleet's agents, intents and reports;
//   - Hold sets a server to DRAIN or MAINT everywhere and keeps it (an
//     operator intent, so an agent never readmits it);
//   - Drain drains a server the drain package's way and leaves it in MAINT;
//   - Admit readmits a server with a fresh health check, forgets its
//     intent and waits until it is healthy (haproxy.ServerStatus.Healthy)
//     everywhere;
//   - Rebalance evens out a backend's WebSockets (rebalance.Run, at the
//     place the target is).
package target

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wsctl/wsctl/drain"
	"github.com/wsctl/wsctl/fleet"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/paced"
	"github.com/wsctl/wsctl/rebalance"
)

// Target is where an operation on a server acts.
type Target interface {
	// Where names the target for messages: the sockets, or Consul.
	Where() string
	// Read lists the servers of backend ("" for all) at every place, in
	// the places' order. A place that fails has its Err set; the error
	// joins them, so the places that answered can still be shown.
	Read(ctx context.Context, backend string) ([]Listing, error)
	// Status reads what `wsctl status` shows of backend's servers ("" for
	// all): each socket's listing (a socket that fails has its Err set,
	// the error joins them), or the fleet's Overview.
	Status(ctx context.Context, backend string) (Status, error)
	// Plan checks what Hold, Drain or Admit would do with c and refuses
	// what they would refuse, changing nothing; it returns the changes,
	// a line each.
	Plan(ctx context.Context, c Change) ([]string, error)
	// Hold sets ref to state (DRAIN or MAINT) everywhere and keeps it.
	// MAINT is refused, unless force, while the server has sessions or
	// when no other server of its backend can take new clients (the
	// error wraps ErrSessions or drain.ErrLastServer). DRAIN, a
	// rollout's hold, leaves a server already out as it is.
	Hold(ctx context.Context, ref haproxy.Ref, state haproxy.AdminState, force bool) (Result, error)
	// Drain drains ref with o and leaves it in MAINT; the intent follows
	// (DRAIN, then MAINT). Unless o.Force the last server of its backend
	// that takes clients is refused before anything changes.
	Drain(ctx context.Context, ref haproxy.Ref, o drain.Options) (Result, error)
	// Admit readmits ref with a fresh health check, forgets its intent
	// and, with wait above zero, waits up to wait until it is healthy
	// everywhere (Result.Outcome TimedOut when it is not).
	Admit(ctx context.Context, ref haproxy.Ref, wait time.Duration) (Result, error)
	// Rebalance evens out o.Backend's WebSockets everywhere: rebalance.Run
	// on the sockets, or through the agents with the fleet's counts and
	// its fleet-wide rate.
	Rebalance(ctx context.Context, o rebalance.Options) (rebalance.Result, error)
}

// Kind names what a Change asks.
type Kind string

// The kinds of change.
const (
	KindHold  Kind = "hold"
	KindDrain Kind = "drain"
	KindAdmit Kind = "admit"
)

// Change is what Hold, Drain or Admit would be asked, for Plan.
type Change struct {
	Kind Kind
	Ref  haproxy.Ref
	// State is Hold's DRAIN or MAINT.
	State haproxy.AdminState
	// Force is Hold's force.
	Force bool
	// Drain is Drain's options.
	Drain drain.Options
	// Wait is Admit's wait.
	Wait time.Duration
}

// Listing is one place's servers.
type Listing struct {
	// Place is the socket's path, or where the fleet's servers come from.
	Place   string
	Servers []haproxy.ServerStatus
	Err     error
}

// Status is what a target shows of its servers: Local fills Listings,
// Fleet fills Fleet.
type Status struct {
	Listings []Listing
	// Fleet is the live agents, the intents and the agents' reports; nil
	// for sockets.
	Fleet *fleet.Overview
}

// Done is the outcome of a change carried out everywhere; the others are
// paced's.
const Done paced.Outcome = "done"

// Result is how a change went.
type Result struct {
	Ref haproxy.Ref
	// Outcome is Done, or paced.TimedOut, Canceled or Failed, with Err.
	Outcome paced.Outcome
	Err     error
	Elapsed time.Duration
	// Places is how many sockets or load balancers the change applied to.
	Places int
	// Drain is a drain's report per socket or load balancer.
	Drain drain.Result
	// Sick says, after an Admit that timed out, where the server is not
	// healthy and why.
	Sick []string
	// Sessions are those a forced MAINT left open.
	Sessions int64
	// Fleet is the fleet's last view of the change; nil for sockets.
	Fleet *fleet.Status
	// Planned is what a DryRun would have done, a line each.
	Planned []string
}

// ErrSessions refuses a MAINT while the server has sessions: MAINT does not
// close them, and whatever comes next (stopping it) would, all at once.
var ErrSessions = errors.New("drain it first")

// SessionsError is a refused MAINT: the server's sessions, per place.
type SessionsError struct {
	Ref   haproxy.Ref
	Total int64
	// Live says how many on which place.
	Live []string
}

func (e *SessionsError) Error() string {
	return fmt.Sprintf("%s has %d live sessions (%s): %v", e.Ref, e.Total, strings.Join(e.Live, ", "), ErrSessions)
}

func (e *SessionsError) Unwrap() error { return ErrSessions }

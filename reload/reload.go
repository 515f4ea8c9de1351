// Package reload is the one way wsctl reloads HAProxy: save nothing and
// change nothing unless HAProxy's binary accepts the new config, write it
// atomically, save the server state, ask the master CLI for a reload, and
// confirm the new worker on the admin socket. `wsctl reload` and the agent
// both run it (Run); what differs stays with them, around Run or in its
// Options: the agent's rate limit, rejected-config memory, metrics and
// restored states, and the hand-over of the old workers' WebSockets, which
// both start once Run returns.
package reload

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/serverstate"
)

// Worker is an HAProxy worker as the admin socket reaches it: which process
// answers, and its server state (saved before a reload). *haproxy.Client is
// one.
type Worker interface {
	serverstate.Source
	Info() haproxy.Info
}

var _ Worker = (*haproxy.Client)(nil)

// Proc is a running HAProxy in master-worker mode: the worker that answers
// on its admin socket now, and its master, which reloads it.
type Proc[W Worker] interface {
	// Worker dials the admin socket: whichever worker answers there now.
	Worker(ctx context.Context) (W, error)
	// Reload asks the master for a reload ((*haproxy.Master).Reload): on
	// HAProxy 3.0 it fails with HAProxy's messages when the new config does
	// not load; on 2.6 nil only means the master took the command.
	Reload(ctx context.Context) error
}

// HAProxy is what a reload acts on: the running process, the config file
// it loads, and its binary, which checks a config before it is written.
// Local is the real one.
type HAProxy[W Worker] interface {
	Proc[W]
	// Validate checks config with HAProxy's binary.
	Validate(ctx context.Context, config []byte) error
	// Write replaces the config file atomically and reports whether its
	// bytes changed.
	Write(config []byte) (changed bool, err error)
}

// Options are the parts of a reload its callers set.
type Options struct {
	// StateFile is HAProxy's server-state-file (haproxy.state_file): it is
	// created empty if missing before the config is validated, so HAProxy
	// never warns about it, and the state is saved to it right before the
	// reload. "" saves no state.
	StateFile string
	// Wait bounds the wait for the new worker once the master took the
	// reload; zero means DefaultWait.
	Wait time.Duration
	// Written, when set, is called once the config file is written, before
	// the state is saved and HAProxy asked.
	Written func(changed bool)
	// Saving, when set, is called right before the state is saved: the last
	// moment the old worker answers on the admin socket.
	Saving func(ctx context.Context)
	// StateError, when set, takes a failure to create or save the state
	// file and the reload goes on (the agent repairs DRAIN and MAINT
	// afterwards). Unset, such a failure ends the reload before HAProxy is
	// asked: the servers added at runtime would be lost.
	StateError func(error)
}

// DefaultWait is how long Run waits for the new worker when Options.Wait is
// zero.
const DefaultWait = 30 * time.Second

// Step names where a reload stopped.
type Step string

// The steps of a reload, in order.
const (
	StepState    Step = "save state"
	StepValidate Step = "validate"
	StepDial     Step = "dial"
	StepWrite    Step = "write"
	StepReload   Step = "reload"
)

// Error is a reload that stopped at Step; nothing after it was done. A
// config the binary rejects (StepValidate) changed nothing at all.
type Error struct {
	Step Step
	Err  error
}

func (e *Error) Error() string { return fmt.Sprintf("reload: %s: %v", e.Step, e.Err) }

func (e *Error) Unwrap() error { return e.Err }

// StoppedAt reports the step at which err stopped a reload ("" when err is
// no *Error).
func StoppedAt(err error) Step {
	var e *Error
	if errors.As(err, &e) {
		return e.Step
	}
	return ""
}

// Result is a reload HAProxy confirmed.
type Result[W Worker] struct {
	// Changed reports whether the config file's bytes changed.
	Changed bool
	// Old is the worker that served before (now finishing its sessions),
	// New the one of the new configuration, which Worker reaches.
	Old, New int64
	Worker   W
}

// Run reloads h with config: create the state file if missing, validate,
// find the worker that answers now, write the config file, save the
// server state, ask the master to reload and wait for a new worker on the
// admin socket (see Swap). An error is an *Error naming the step it
// stopped at.
func Run[W Worker](ctx context.Context, h HAProxy[W], config []byte, opts Options) (Result[W], error) {
	var res Result[W]
	stateErr := func(err error) error {
		if opts.StateError == nil {
			return &Error{Step: StepState, Err: err}
		}
		opts.StateError(err)
		return nil
	}
	if opts.StateFile != "" {
		if _, err := serverstate.Ensure(opts.StateFile); err != nil {
			if err := stateErr(err); err != nil {
				return res, err
			}
		}
	}
	if err := h.Validate(ctx, config); err != nil {
		return res, &Error{Step: StepValidate, Err: err}
	}
	// HAProxy may have been restarted since the caller last looked: the
	// worker to replace is the one that answers now, asked before anything
	// is written.
	old, err := h.Worker(ctx)
	if err != nil {
		return res, &Error{Step: StepDial, Err: err}
	}
	if res.Changed, err = h.Write(config); err != nil {
		return res, &Error{Step: StepWrite, Err: err}
	}
	if opts.Written != nil {
		opts.Written(res.Changed)
	}
	if opts.Saving != nil {
		opts.Saving(ctx)
	}
	if opts.StateFile != "" {
		if err := serverstate.Save(ctx, old, opts.StateFile); err != nil {
			if err := stateErr(err); err != nil {
				return res, err
			}
		}
	}
	res.Old = old.Info().Pid
	res.New, res.Worker, err = confirm(ctx, h, res.Old, opts.Wait)
	if err != nil {
		return res, &Error{Step: StepReload, Err: err}
	}
	return res, nil
}

// Swap asks p's master for a reload and waits, up to wait (zero:
// DefaultWait), for a new worker on the admin socket: Run without the
// config and the state, for a config already in place.
func Swap[W Worker](ctx context.Context, p Proc[W], wait time.Duration) (Result[W], error) {
	old, err := p.Worker(ctx)
	if err != nil {
		return Result[W]{}, err
	}
	res := Result[W]{Old: old.Info().Pid}
	res.New, res.Worker, err = confirm(ctx, p, res.Old, wait)
	return res, err
}

// confirmPoll is how often the admin socket is asked for the new worker.
const confirmPoll = 50 * time.Millisecond

// confirm asks p's master for a reload, then dials the admin socket until a
// worker other than old answers there.
//
// The new worker is confirmed where it is used, on the admin socket,
// rather than in the master's `show proc`: every step after a reload (the
// agent's batches, restoring states and added servers) talks to the admin
// socket, and `show proc` may list a forked worker while the old one still
// answers there. It reads the same on every version: HAProxy 2.6's master
// answers `reload` with nothing at all, so only a new worker tells a reload
// that happened; 3.0 answers Success=1 (then the new worker still has to
// be found) or Success=0 with its startup messages, which p.Reload returns
// at once. The pid to replace is the one the admin socket gives right
// before the reload, so an HAProxy restarted behind the caller's back is
// not taken for the new worker. What it costs: a config that 2.6 fails to
// load is reported when wait ends ("no new worker"), with HAProxy's own
// messages in its log only.
func confirm[W Worker](ctx context.Context, p Proc[W], old int64, wait time.Duration) (int64, W, error) {
	var zero W
	if wait <= 0 {
		wait = DefaultWait
	}
	if err := p.Reload(ctx); err != nil {
		return 0, zero, err
	}
	deadline := time.Now().Add(wait)
	for {
		w, err := p.Worker(ctx)
		if err == nil && w.Info().Pid != old {
			return w.Info().Pid, w, nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("worker %d still answers", old)
			}
			return 0, zero, fmt.Errorf("no new worker after %s: %w", wait, err)
		}
		select {
		case <-ctx.Done():
			return 0, zero, ctx.Err()
		case <-time.After(confirmPoll):
		}
	}
}

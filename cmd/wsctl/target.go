package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/wsctl/wsctl/drain"
	"github.com/wsctl/wsctl/fleet"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/intent"
	"github.com/wsctl/wsctl/target"
)

// signalContext ends on Ctrl-C or a pipeline's SIGTERM: an operation stops
// where it is and its report says so.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// built is where a single-server command acts, with the server.
type built struct {
	target.Target
	Ref haproxy.Ref
	// Sockets is how many admin sockets a local target has (0 for the
	// fleet): drain's progress sums them.
	Sockets int
}

// target builds where drain, ready and maint act, and the one place they
// choose: --fleet acts on every load balancer through Consul (a bare name
// resolved with the spec), else the admin sockets with the intent store
// beside the spec's (none without a spec). update, when not nil, follows a
// fleet operation. --dry-run wraps either so that nothing changes.
func (o *SocketOptions) target(ctx context.Context, ios *IOStreams, f FleetOptions, arg string, update func(haproxy.Ref, fleet.Status)) (built, error) {
	b, err := o.build(ctx, ios, f, arg, update)
	if err == nil && f.DryRun {
		b.Target = target.DryRun{Target: b.Target}
	}
	return b, err
}

func (o *SocketOptions) build(ctx context.Context, ios *IOStreams, f FleetOptions, arg string, update func(haproxy.Ref, fleet.Status)) (built, error) {
	if f.On {
		op, ref, err := fleetTarget(ios, o, arg)
		if err != nil {
			return built{}, err
		}
		return built{Target: &target.Fleet{Operator: op, AllowMissing: f.AllowMissing, Who: who(ios), Reason: f.Reason, Update: update}, Ref: ref}, nil
	}
	ref, err := parseServerArg(arg)
	if err != nil {
		return built{}, err
	}
	sockets, err := o.sockets(ctx, ios)
	if err != nil {
		return built{}, err
	}
	store, err := o.intents(ios)
	if err != nil {
		return built{}, err
	}
	return built{Target: &target.Local{Sockets: sockets, Intents: store}, Ref: ref, Sockets: len(sockets)}, nil
}

// intents is where the operator's DRAIN or MAINT is kept for the agent to
// see: beside the spec's (-c or found) admin socket; nil without a spec.
func (o *SocketOptions) intents(ios *IOStreams) (intent.Store, error) {
	sp, err := o.spec(ios)
	if sp == nil {
		return nil, err
	}
	return intent.Open(sp)
}

// refused explains a refusal of op (drain, maint) that --force overrides.
func refused(op, server string, err error) error {
	var se *target.SessionsError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("%w with `wsctl drain %s`, or use --force", err, server)
	case errors.Is(err, drain.ErrLastServer):
		return fmt.Errorf("%s: %w; or use --force to take it out anyway", op, err)
	}
	return err
}

// writeDryRun prints what a --dry-run would do: one line per change, or
// with -o json {"server" (or "backend"): name, "dry_run": true, "would":
// [lines]}.
func writeDryRun(ios *IOStreams, output, key, name string, would []string) error {
	if output == "json" {
		enc := json.NewEncoder(ios.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{key: name, "dry_run": true, "would": would})
	}
	fmt.Fprintf(ios.Out, "dry run, nothing changed:\n")
	for _, l := range would {
		fmt.Fprintf(ios.Out, "  %s\n", l)
	}
	return nil
}

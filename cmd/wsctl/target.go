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
	ref, err := parseServerArg(arg)
	if err != nil {
		return built{}, err
	}
	if f.On {
		sp, op, err := o.fleet(ios)
		if err != nil {
			return built{}, err
		}
		if ref, err = fleet.ResolveRef(sp, ref); err != nil {
			return built{}, err
		}
		return built{Target: fleetOf(ios, f, op, update), Ref: ref}, nil
	}
	t, err := o.local(ctx, ios)
	if err != nil {
		return built{}, err
	}
	return built{Target: t, Ref: ref, Sockets: len(t.Sockets)}, nil
}

// backendTarget is where a command on a whole backend (rebalance) acts:
// target's choice without a server to resolve.
func (o *SocketOptions) backendTarget(ctx context.Context, ios *IOStreams, f FleetOptions) (target.Target, error) {
	var t target.Target
	if f.On {
		_, op, err := o.fleet(ios)
		if err != nil {
			return nil, err
		}
		t = fleetOf(ios, f, op, nil)
	} else {
		l, err := o.local(ctx, ios)
		if err != nil {
			return nil, err
		}
		t = l
	}
	if f.DryRun {
		t = target.DryRun{Target: t}
	}
	return t, nil
}

// fleetOf is the fleet target through op.
func fleetOf(ios *IOStreams, f FleetOptions, op target.Operator, update func(haproxy.Ref, fleet.Status)) *target.Fleet {
	return &target.Fleet{Operator: op, AllowMissing: f.AllowMissing, Who: who(ios), Reason: f.Reason, Update: update}
}

// local is the target of the admin sockets, with the intent store.
func (o *SocketOptions) local(ctx context.Context, ios *IOStreams) (*target.Local, error) {
	sockets, err := o.sockets(ctx, ios)
	if err != nil {
		return nil, err
	}
	store, err := o.intents(ios)
	if err != nil {
		return nil, err
	}
	return &target.Local{Sockets: sockets, Intents: store}, nil
}

// reader is where status reads, chosen like target: every load balancer
// through Consul with --fleet, else the admin sockets, where one that
// cannot be dialled is listed as failed so the others still show.
func (o *SocketOptions) reader(ctx context.Context, ios *IOStreams, f FleetOptions) (target.Target, error) {
	if f.On {
		_, op, err := o.fleet(ios)
		if err != nil {
			return nil, err
		}
		return &target.Fleet{Operator: op}, nil
	}
	sockets, err := o.dialAll(ctx, ios)
	if err != nil {
		return nil, err
	}
	return &target.Local{Sockets: sockets}, nil
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

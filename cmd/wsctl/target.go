package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/wsctl/wsctl/drain"
	"github.com/wsctl/wsctl/fleet"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/intent"
	"github.com/wsctl/wsctl/internal/cli"
	"github.com/wsctl/wsctl/spec"
	"github.com/wsctl/wsctl/target"
)

// built is where a command acts, with the server of a single-server one.
type built struct {
	target.Target
	Ref haproxy.Ref
	// Sockets is how many admin sockets a local target has (0 for the
	// fleet): drain's progress sums them.
	Sockets int
}

// target builds where drain, ready and maint act on the server arg (a
// bare name resolved with the spec on the fleet): where's choice.
func (o *SocketOptions) target(ctx context.Context, ios *cli.IOStreams, f FleetOptions, arg string, update func(haproxy.Ref, fleet.Status)) (built, error) {
	ref, err := haproxy.ParseRef(arg) // before any socket is opened
	if err != nil {
		return built{}, err
	}
	b, sp, err := o.where(ctx, ios, f, update)
	if err == nil && f.On {
		ref, err = fleet.ResolveRef(sp, ref)
	}
	b.Ref = ref
	return b, err
}

// where builds where a command acts, and the one place it is chosen:
// --fleet acts on every load balancer through Consul (sp is the spec it
// was reached with), else the admin sockets with the intent store beside
// the spec's (none without a spec). update, when not nil, follows a fleet
// operation. --dry-run wraps either so that nothing changes.
func (o *SocketOptions) where(ctx context.Context, ios *cli.IOStreams, f FleetOptions, update func(haproxy.Ref, fleet.Status)) (b built, sp *spec.Spec, err error) {
	if f.On {
		var op target.Operator
		if sp, op, err = o.fleet(ios); err != nil {
			return built{}, nil, err
		}
		b.Target = &target.Fleet{Operator: op, AllowMissing: f.AllowMissing, Who: intent.Who(ios.Env), Reason: f.Reason, Update: update}
	} else {
		l, err := o.local(ctx, ios)
		if err != nil {
			return built{}, nil, err
		}
		b = built{Target: l, Sockets: len(l.Sockets)}
	}
	if f.DryRun {
		b.Target = target.DryRun{Target: b.Target}
	}
	return b, sp, nil
}

// local is the target of the admin sockets, with the intent store.
func (o *SocketOptions) local(ctx context.Context, ios *cli.IOStreams) (*target.Local, error) {
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
func (o *SocketOptions) reader(ctx context.Context, ios *cli.IOStreams, f FleetOptions) (target.Target, error) {
	if f.On {
		_, op, err := o.fleet(ios)
		if err != nil {
			return nil, err
		}
		return &target.Fleet{Operator: op}, nil
	}
	sockets, err := o.dialAll(ctx, ios)
	if sockets == nil {
		return nil, err
	}
	return &target.Local{Sockets: sockets}, nil
}

// intents is where the operator's DRAIN or MAINT is kept for the agent to
// see: beside the spec's (-c or found) admin socket; nil without a spec.
func (o *SocketOptions) intents(ios *cli.IOStreams) (intent.Store, error) {
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
func writeDryRun(ios *cli.IOStreams, output, key, name string, would []string) error {
	if output == "json" {
		return cli.WriteJSON(ios.Out, map[string]any{key: name, "dry_run": true, "would": would})
	}
	fmt.Fprintf(ios.Out, "dry run, nothing changed:\n")
	for _, l := range would {
		fmt.Fprintf(ios.Out, "  %s\n", l)
	}
	return nil
}

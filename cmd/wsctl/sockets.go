package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsctl/wsctl/fleet"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/internal/cli"
	"github.com/wsctl/wsctl/spec"
	"github.com/wsctl/wsctl/target"
)

// socketEnv lists admin sockets, separated by commas or colons.
const socketEnv = "WSCTL_SOCKET"

// SocketOptions are the flags of the commands that talk to HAProxy's
// runtime API: which admin sockets, and how long each call may take.
type SocketOptions struct {
	// Sockets come from --socket, repeated (not split on commas: a path
	// may hold one).
	Sockets []string
	// SpecPath is -c: the spec whose haproxy.admin_socket to use and where
	// intents are kept; "" looks for one (loadSpec).
	SpecPath string
	// Timeout bounds every single socket operation.
	Timeout time.Duration

	// dial, when not nil, replaces haproxy.Dial for the commands that act
	// through a target: unit tests give an in-memory socket.
	dial target.DialFunc
	// operator, when not nil, replaces fleet.NewOperator: unit tests give
	// a fake fleet.
	operator func(spec.Consul) (target.Operator, error)

	// found is paths' last answer: it explains a failure to reach HAProxy's
	// default socket.
	found target.Paths
	// loaded, sp and specErr are load's, once.
	loaded  bool
	sp      *spec.Spec
	specErr error
}

func (s *SocketOptions) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&s.Sockets, "socket", nil,
		"HAProxy admin socket `path` (repeat for several HAProxy processes; default: $"+socketEnv+", the spec's, or "+spec.DefaultAdminSocket+")")
	cmd.Flags().StringVarP(&s.SpecPath, "config", "c", "", "wsctl spec: its admin socket, and where its agent sees drains "+specDefaultHelp)
	cli.PositiveDurationVar(cmd.Flags(), &s.Timeout, "socket-timeout", haproxy.DefaultTimeout, "limit for each runtime API call")
}

// load loads the spec given with -c or found (loadSpec), once: the
// sockets, the intents, the fleet and the command's own use see the same
// file.
func (s *SocketOptions) load(io *cli.IOStreams) (*spec.Spec, error) {
	if !s.loaded {
		s.sp, s.specErr = loadSpec(io, s.SpecPath)
		s.loaded = true
	}
	return s.sp, s.specErr
}

// spec is load's spec; nil when none was given and none found.
func (s *SocketOptions) spec(io *cli.IOStreams) (*spec.Spec, error) {
	sp, err := s.load(io)
	if errors.Is(err, spec.ErrNotFound) {
		return nil, nil
	}
	return sp, err
}

// paths returns the sockets to use (target.SocketPaths): --socket,
// $WSCTL_SOCKET, the spec's (-c or found), HAProxy's default; found keeps
// why, for a failure to reach them.
func (s *SocketOptions) paths(io *cli.IOStreams) ([]string, error) {
	var err error
	s.found, err = target.SocketPaths(s.Sockets, io.Env(socketEnv), func() (*spec.Spec, error) { return s.load(io) })
	return s.found.List, err
}

// sockets dials every socket as a local target's sockets. It fails if any
// socket fails, so a command changes nothing unless every HAProxy answers.
func (s *SocketOptions) sockets(ctx context.Context, io *cli.IOStreams) ([]target.Socket, error) {
	out, err := s.dialAll(ctx, io)
	if err != nil {
		return nil, s.found.Explain(err)
	}
	return out, nil
}

// dialAll dials every socket at once (target.Dial): one that fails has
// its Err set, and the error joins theirs; without sockets (nil) the
// error says why none were dialled.
func (s *SocketOptions) dialAll(ctx context.Context, io *cli.IOStreams) ([]target.Socket, error) {
	paths, err := s.paths(io)
	if err != nil {
		return nil, err
	}
	return target.Dial(ctx, paths, s.Timeout, s.dial)
}

// fleet loads the spec (-c or found) and reaches its fleet through
// Consul.
func (s *SocketOptions) fleet(io *cli.IOStreams) (*spec.Spec, target.Operator, error) {
	sp, err := s.load(io)
	if err != nil {
		return nil, nil, fmt.Errorf("--fleet: %w", err)
	}
	op, err := s.reachFleet(sp.Consul)
	return sp, op, err
}

// reachFleet is the operator of the fleet behind c: through operator, or
// fleet.NewOperator when it is nil.
func (s *SocketOptions) reachFleet(c spec.Consul) (target.Operator, error) {
	if s.operator != nil {
		return s.operator(c)
	}
	op, err := fleet.NewOperator(c)
	if err != nil {
		return nil, err
	}
	return op, nil
}

// socketLabel names a socket in human output only when there are several.
func socketLabel(n int, path string) string {
	if n < 2 {
		return ""
	}
	return " on " + path
}

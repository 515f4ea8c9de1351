package main

import (
	"context"
	"time"

	"github.com/wsctl/wsctl/spec"
	"github.com/wsctl/wsctl/target"
)

// Factory is what commands reach outside the process through, made once by
// Main: the terminal and HAProxy's admin sockets. A unit test builds one
// with in-memory parts (haproxytest.Runtime) and drives a command, or its
// run function, without starting a process.
type Factory struct {
	IO *IOStreams
	// Dial opens one admin socket; nil dials HAProxy (every socket at
	// once, see SocketOptions.connect).
	Dial func(ctx context.Context, path string, timeout time.Duration) (target.Runtime, error)
	// Fleet reaches the fleet through the spec's Consul; nil is
	// fleet.NewOperator. A unit test gives a fake fleet.
	Fleet func(spec.Consul) (target.Operator, error)
}

package main

import (
	"context"
	"io"

	"github.com/wsctl/wsctl/discovery"
	"github.com/wsctl/wsctl/internal/cli"
	"github.com/wsctl/wsctl/reload"
	"github.com/wsctl/wsctl/rollout"
	"github.com/wsctl/wsctl/spec"
	"github.com/wsctl/wsctl/target"
)

// Factory is what commands reach outside the process through, made once by
// Main: the terminal and HAProxy's admin sockets. A unit test builds one
// with in-memory parts (haproxytest.Runtime) and drives a command, or its
// run function, without starting a process.
type Factory struct {
	IO *cli.IOStreams
	// Dial opens one admin socket; nil dials HAProxy (every socket at
	// once, see target.Dial).
	Dial target.DialFunc
	// Deploy makes the deployer of `wsctl rollout --exec`; nil runs the
	// script with sh -c (rollout.Command). A unit test deploys in memory.
	Deploy func(script string, env []string, stdout, stderr io.Writer) rollout.Deployer
	// Reload is the HAProxy `wsctl reload` acts on, given the spec and the
	// config file it loads; nil is this host's (reload.SpecSite). A unit test
	// reloads and hands over in memory.
	Reload func(s *spec.Spec, configFile string) reload.Host
	// Fleet reaches the fleet through the spec's Consul; nil is
	// fleet.NewOperator. A unit test gives a fake fleet.
	Fleet func(spec.Consul) (target.Operator, error)
	// Discover reads once the servers the spec's Consul discovers (a
	// rollout across the fleet rolls those); nil is consul.Once. A unit
	// test discovers in memory.
	Discover func(ctx context.Context, s *spec.Spec) (discovery.Snapshot, error)
}

package main

import (
	"github.com/wsctl/wsctl/internal/cli"
	"github.com/wsctl/wsctl/spec"
)

// specDefaultHelp says, in the -c help of every command that looks for a
// spec, where it looks.
const specDefaultHelp = "(default: the first of $" + spec.PathEnv + ", ./wsctl.yaml, /etc/wsctl/wsctl.yaml)"

// loadSpec loads the spec given with -c (flag), else the one spec.Find
// finds in io's environment and search paths (spec.LoadGiven).
func loadSpec(io *cli.IOStreams, flag string) (*spec.Spec, error) {
	s, _, err := spec.LoadGiven(flag, io.Env, io.SpecSearch)
	return s, err
}

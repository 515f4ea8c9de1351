package main

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/wsctl/wsctl/internal/cli"
	"github.com/wsctl/wsctl/spec"
)

// specDefaultHelp says, in the -c help of every command that looks for a
// spec, where it looks.
const specDefaultHelp = "(default: the first of $" + spec.PathEnv + ", ./wsctl.yaml, /etc/wsctl/wsctl.yaml)"

// loadSpec loads the spec given with -c (flag), else the one spec.Find
// finds in io's environment and search paths. The error wraps
// spec.ErrNotFound when there was none to find.
func loadSpec(io *cli.IOStreams, flag string) (*spec.Spec, error) {
	s, _, err := loadSpecPath(io, flag)
	return s, err
}

// loadSpecPath is loadSpec that also returns the path loaded, for the
// agent, which reads the file again when it changes.
func loadSpecPath(io *cli.IOStreams, flag string) (*spec.Spec, string, error) {
	path := flag
	if path == "" {
		var err error
		if path, err = spec.Find(io.Env, io.SpecSearch); err != nil {
			return nil, "", err
		}
	}
	s, err := spec.Load(path)
	if err != nil && flag == "" && errors.Is(err, fs.ErrNotExist) {
		// Only $WSCTL_CONFIG names a file Find did not see exist.
		return nil, "", fmt.Errorf("%w (from $%s)", err, spec.PathEnv)
	}
	return s, path, err
}

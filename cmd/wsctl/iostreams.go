package main

import (
	"io"
	"os"

	"github.com/wsctl/wsctl/spec"
)

// IOStreams is where a command reads and writes. Commands never touch
// os.Stdout or os.Stderr directly, so tests can capture everything.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// IsTTY reports whether Out is a terminal: progress and tables are only
	// drawn for a human.
	IsTTY bool
	// ErrTTY reports whether ErrOut is a terminal: progress is a line a
	// second there, and a line every 2 s in a log (see progress).
	ErrTTY bool
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
	// SpecSearch is where a spec is looked for without -c or
	// $WSCTL_CONFIG (spec.SearchPaths for the process; nil looks nowhere,
	// so tests do not pick up the machine's spec).
	SpecSearch []string
}

// SystemIO returns the process's standard streams.
func SystemIO() *IOStreams {
	return &IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr, IsTTY: isTerminal(os.Stdout), ErrTTY: isTerminal(os.Stderr), Getenv: os.Getenv, SpecSearch: spec.SearchPaths}
}

func (s *IOStreams) getenv(key string) string {
	if s.Getenv == nil {
		return os.Getenv(key)
	}
	return s.Getenv(key)
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

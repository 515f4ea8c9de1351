// Package cli is the command-line plumbing wsctl's commands share and
// that knows nothing of load balancing: where a command reads and writes
// (IOStreams), the progress of a long operation on stderr, flags that
// refuse a meaningless value when parsed (durations, choices), JSON
// output, and the context Ctrl-C or SIGTERM ends.
//
// What a command does, what its output says and which exit code it ends
// with belong to cmd/wsctl; decisions about servers, sockets, the spec or
// the fleet belong to their domain packages. Neither goes here.
package cli

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"os/signal"
	"syscall"
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
	// second there, and a line every 2 s in a log (see Progress).
	ErrTTY bool
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
	// SpecSearch is where a spec is looked for without -c or
	// $WSCTL_CONFIG (spec.SearchPaths for the process; nil looks nowhere,
	// so tests do not pick up the machine's spec).
	SpecSearch []string
}

// System returns the process's standard streams and environment, looking
// for a spec in specSearch.
func System(specSearch []string) *IOStreams {
	return &IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr, IsTTY: isTerminal(os.Stdout), ErrTTY: isTerminal(os.Stderr), Getenv: os.Getenv, SpecSearch: specSearch}
}

// Env reads the environment variable key through Getenv.
func (s *IOStreams) Env(key string) string {
	if s.Getenv == nil {
		return os.Getenv(key)
	}
	return s.Getenv(key)
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// WriteJSON prints v as indented JSON, HTML characters as they are.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// SignalContext ends on Ctrl-C or a pipeline's SIGTERM: an operation stops
// where it is and its report says so.
func SignalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

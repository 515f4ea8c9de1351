package main

import (
	"errors"
	"fmt"
	"io"
)

// Exit codes are a contract with pipelines; they are decided in exitCode only.
const (
	exitOK       = 0
	exitFindings = 1 // diff differs, check or lint found problems
	exitError    = 2 // bad input, unreachable socket, anything that stopped the command
	exitTimeout  = 3 // drain timed out with sessions left, reload with an old worker left
)

// errSilent wraps an outcome whose report the command already printed: the
// exit code carries the result and nothing more is written to stderr.
type errSilent struct{ code int }

func (e errSilent) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// errDiffers is returned when the command ran fine but found a difference or a
// finding (exit 1).
var errDiffers = errSilent{code: exitFindings}

// errTimedOut is returned when a drain ended with sessions left (exit 3).
var errTimedOut = errSilent{code: exitTimeout}

// reported writes err to w as Main would, for a command whose report is
// already on stdout (JSON): exit 2, and nothing more is written.
func reported(w io.Writer, err error) error {
	fmt.Fprintf(w, "wsctl: %v\n", err)
	return errSilent{code: exitError}
}

// exitCode maps the error a command returned to the process exit code.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var s errSilent
	if errors.As(err, &s) {
		return s.code
	}
	return exitError
}

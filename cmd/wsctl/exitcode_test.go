package main

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// TestReportError: an error that stopped a command is written with its
// problem; an outcome whose report the command already wrote (errSilent)
// adds nothing, where it used to add "wsctl: exit status 2".
func TestReportError(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"none", nil, ""},
		{"an error", fmt.Errorf("drained ws/s1: %w", errors.New("agent lb2 stopped reporting")), "wsctl: drained ws/s1: agent lb2 stopped reporting\n"},
		{"reported already", errSilent{code: exitError}, ""},
		{"timed out", errTimedOut, ""},
	} {
		var b bytes.Buffer
		reportError(&b, c.err)
		if b.String() != c.want {
			t.Errorf("%s: %q, want %q", c.name, b.String(), c.want)
		}
	}
}

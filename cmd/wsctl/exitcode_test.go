package main

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
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

// TestReported: an error after a JSON report is written once, as Main
// writes one, and exits 2 without Main writing it again.
func TestReported(t *testing.T) {
	var b bytes.Buffer
	err := reported(&b, fmt.Errorf("rebalance ws: %w", errors.New("no server takes clients")))
	if want := "wsctl: rebalance ws: no server takes clients\n"; b.String() != want || exitCode(err) != exitError {
		t.Errorf("wrote %q, exit %d; want %q, 2", b.String(), exitCode(err), want)
	}
	reportError(&b, err)
	if strings.Count(b.String(), "wsctl:") != 1 {
		t.Errorf("written again: %q", b.String())
	}
}

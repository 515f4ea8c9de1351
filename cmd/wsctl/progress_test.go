package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/haproxy/haproxytest"
	"github.com/wsctl/wsctl/internal/lbtest"
)

// TestProgressDrainWithoutTerminal drains for over 3 s with stderr a
// buffer, as in a CI job: progress lines come while it runs and one at the
// end, before the result; --quiet shows none.
func TestProgressDrainWithoutTerminal(t *testing.T) {
	f := startFixture(t, nil)
	haproxytest.StartClients(t, f.lb.URL(), 4, true)
	// The quiet drain moves s1's clients to s2, which the second drains.
	for _, tc := range []struct {
		server string
		quiet  bool
	}{{"s1", true}, {"s2", false}} {
		quiet := tc.quiet
		args := []string{"ws/" + tc.server, "--socket", f.lb.AdminSocket, "--close-after", "3500ms", "--close-rate", "0", "--timeout", "20s"}
		if quiet {
			args = append(args, "--quiet")
		}
		r := execute(t, drainCmd, false, nil, args...)
		if r.code != 0 {
			t.Fatalf("quiet %v: exit %d, stderr %s", quiet, r.code, r.errOut)
		}
		lines := strings.Count(r.errOut, "ws/s2: ")
		switch {
		case quiet && r.errOut != "":
			t.Errorf("--quiet printed %q", r.errOut)
		case !quiet && lines < 2:
			t.Errorf("%d progress lines, want 2 or more: %q", lines, r.errOut)
		case !quiet && !strings.Contains(r.errOut, "sessions left, waiting for them to leave (2s, closing starts in"):
			t.Errorf("no line while waiting: %q", r.errOut)
		}
		if err := f.c.Readmit(t.Context(), "ws", tc.server); err != nil {
			t.Fatal(err)
		}
		lbtest.WaitFor(t, 10*time.Second, tc.server+" up", func() bool {
			s, err := f.c.Server(t.Context(), "ws", tc.server)
			return err == nil && s.State == haproxy.Up
		})
	}
}

// TestProgressThrottles shows what each mode writes for the same updates:
// a terminal the first at once and the last at the end, a log nothing
// before its interval (so a fast operation logs only its result), quiet nothing.
func TestProgressThrottles(t *testing.T) {
	for _, tc := range []struct {
		name       string
		tty, quiet bool
		want       string
	}{
		{name: "terminal", tty: true, want: "line 0\nline 2\n"},
		{name: "log", want: ""},
		{name: "quiet", quiet: true, want: ""},
		{name: "quiet terminal", tty: true, quiet: true, want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			p := newProgress(&IOStreams{ErrOut: &buf, ErrTTY: tc.tty}, tc.quiet, true)
			for i := range 3 {
				p.show(false, func(w io.Writer) { fmt.Fprintf(w, "line %d\n", i) })
			}
			p.done()
			if got := buf.String(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestProgressForcedAndDone writes forced lines at once in a log, and the
// last line held back at the end.
func TestProgressForcedAndDone(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&IOStreams{ErrOut: &buf}, false, false)
	p.show(true, func(w io.Writer) { fmt.Fprintln(w, "planned") })
	p.show(false, func(w io.Writer) { fmt.Fprintln(w, "closing 1") })
	p.show(false, func(w io.Writer) { fmt.Fprintln(w, "closing 2") })
	p.done()
	if got, want := buf.String(), "planned\nclosing 2\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

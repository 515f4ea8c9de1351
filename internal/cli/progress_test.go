package cli

import (
	"bytes"
	"fmt"
	"io"
	"testing"
)

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
			p := NewProgress(&IOStreams{ErrOut: &buf, ErrTTY: tc.tty}, tc.quiet, true)
			for i := range 3 {
				p.Show(false, func(w io.Writer) { fmt.Fprintf(w, "line %d\n", i) })
			}
			p.Done()
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
	p := NewProgress(&IOStreams{ErrOut: &buf}, false, false)
	p.Show(true, func(w io.Writer) { fmt.Fprintln(w, "planned") })
	p.Show(false, func(w io.Writer) { fmt.Fprintln(w, "closing 1") })
	p.Show(false, func(w io.Writer) { fmt.Fprintln(w, "closing 2") })
	p.Done()
	if got, want := buf.String(), "planned\nclosing 2\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

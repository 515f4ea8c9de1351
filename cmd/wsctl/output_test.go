package main

import (
	"strings"
	"testing"
)

// TestChoiceFlagsComplete: the shell completes a choice flag's values.
func TestChoiceFlagsComplete(t *testing.T) {
	io, out, _ := testIO()
	if code := Main([]string{"__complete", "lint", "x.cfg", "-o", ""}, io); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if got := strings.Fields(out.String()); len(got) < 3 || strings.Join(got[:3], " ") != "text json sarif" {
		t.Errorf("completions %q, want text json sarif", out)
	}
}

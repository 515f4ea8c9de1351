package main

import (
	"slices"
	"strings"
	"testing"
)

// complete runs cobra's hidden __complete command as a shell's TAB does
// and returns the candidates (the last line is the directive).
func complete(t *testing.T, args ...string) []string {
	t.Helper()
	io, out, errOut := testIO()
	if code := Main(append([]string{"__complete"}, args...), io); code != 0 {
		t.Fatalf("__complete %v: exit %d, %s", args, code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	return lines[:len(lines)-1]
}

// TestCompleteNames: wsctl drain <TAB> offers the spec's servers, and the
// admin socket's when it answers; rollout <TAB> the backends.
func TestCompleteNames(t *testing.T) {
	spec := basicSpec(t)
	want := []string{"ws_cluster/backend1", "ws_cluster/backend2", "ws_cluster/backend3"}
	for _, cmd := range []string{"drain", "ready", "maint"} {
		if got := complete(t, cmd, "-c", spec, ""); !slices.Equal(got, want) {
			t.Errorf("%s <TAB> = %v, want %v", cmd, got, want)
		}
	}
	for _, cmd := range []string{"rollout", "rebalance"} {
		if got := complete(t, cmd, "-c", spec, ""); !slices.Equal(got, []string{"ws_cluster"}) {
			t.Errorf("%s <TAB> = %v, want [ws_cluster]", cmd, got)
		}
	}
	if got := complete(t, "drain", "-c", spec, "ws_cluster/backend1", ""); len(got) != 0 {
		t.Errorf("a second argument completes %v, want nothing", got)
	}

	f := startFixture(t, nil)
	if got := complete(t, "drain", "--socket", f.lb.AdminSocket, ""); !slices.Contains(got, "ws/s1") || !slices.Contains(got, "ws/s2") {
		t.Errorf("drain --socket <TAB> = %v, want the socket's ws/s1 and ws/s2", got)
	}
}

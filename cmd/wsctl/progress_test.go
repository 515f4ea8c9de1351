package main

import (
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

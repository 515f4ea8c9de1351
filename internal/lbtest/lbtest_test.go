package lbtest

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestFreePortOutsideEphemeralRange: ports the kernel hands to outgoing
// connections are never given out, and none twice.
func TestFreePortOutsideEphemeralRange(t *testing.T) {
	lo, hi := portRange()
	seen := map[int]bool{}
	for range 200 {
		p := FreePort(t)
		if p < lo || p >= hi {
			t.Fatalf("FreePort = %d, want within [%d, %d): below the ephemeral range", p, lo, hi)
		}
		if seen[p] {
			t.Fatalf("FreePort gave %d twice", p)
		}
		seen[p] = true
	}
}

// recorder is a testing.TB that records a Fatalf instead of ending the
// test, so a helper's failure can be examined.
type recorder struct {
	testing.TB
	msg string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// TestWaitUnixProcessExited: a process that exits before its socket
// answers fails the wait at once, with its output, not at the deadline.
func TestWaitUnixProcessExited(t *testing.T) {
	p := Start(t, "sh", "-c", "echo cannot bind socket >&2; exit 3")
	r := &recorder{TB: t}
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		WaitUnix(r, p, t.TempDir()+"/never.sock", 30*time.Second)
	}()
	<-done
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("WaitUnix took %s for a process that had exited", took)
	}
	if !strings.Contains(r.msg, "exit status 3") || !strings.Contains(r.msg, "cannot bind socket") {
		t.Errorf("failure = %q, want the exit status and the output", r.msg)
	}
}

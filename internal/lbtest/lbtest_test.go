package lbtest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
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

// TestStartedDieWithTheTest: a process Start ran does not outlive a test
// binary killed before its cleanup (the binary is this one, run again as a
// child that starts `sleep` and waits to be killed).
func TestStartedDieWithTheTest(t *testing.T) {
	if os.Getenv("LBTEST_CHILD") != "" {
		p := Start(t, "sleep", "300")
		fmt.Println(p.PID)
		time.Sleep(5 * time.Minute)
		return
	}
	child := exec.Command(os.Args[0], "-test.run", "^TestStartedDieWithTheTest$", "-test.v")
	child.Env = append(os.Environ(), "LBTEST_CHILD=1")
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	sc := bufio.NewScanner(out)
	for pid == 0 && sc.Scan() {
		pid, _ = strconv.Atoi(strings.TrimSpace(sc.Text()))
	}
	if pid == 0 {
		_ = child.Process.Kill()
		t.Fatal("the child test printed no pid")
	}
	_ = child.Process.Kill()
	_ = child.Wait()
	for deadline := time.Now().Add(5 * time.Second); syscall.Kill(pid, 0) == nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("sleep (pid %d) still runs after the test binary that started it was killed", pid)
		}
	}
}

// TestPortsApartAcrossProcesses: a port FreePort handed out in one test
// process is never handed out in another, which `go test ./...` runs
// beside it (the child is this binary again, asking for the same port).
func TestPortsApartAcrossProcesses(t *testing.T) {
	if p := os.Getenv("LBTEST_PORT"); p != "" {
		port, _ := strconv.Atoi(p)
		fmt.Println(reservePort(port))
		return
	}
	port := FreePort(t)
	ask := func(port int) string {
		child := exec.Command(os.Args[0], "-test.run", "^TestPortsApartAcrossProcesses$")
		child.Env = append(os.Environ(), "LBTEST_PORT="+strconv.Itoa(port))
		out, err := child.Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.Fields(string(out))[0]
	}
	if got := ask(port); got != "false" {
		t.Errorf("another process could take port %d this one was given: %s", port, got)
	}
	// Port 7 is below FreePort's range: no test process holds it.
	if got := ask(7); got != "true" {
		t.Errorf("another process could not take port 7, which no process was given: %s", got)
	}
}

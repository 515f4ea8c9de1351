// Package lbtest starts the real components integration tests talk to —
// HAProxy in master-worker mode, nginx, wsecho backends — on loopback, in the
// test's temp dir, and stops every one of them by PID when the test ends.
package lbtest

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wsctl/wsctl/internal/binpath"
)

// Binary returns the path of an external program a test needs, found as
// wsctl finds it (binpath.Find): for haproxy, $WSCTL_HAPROXY when set, which
// is how `make test` runs the integration tests against HAProxy 3.0 too.
// Outside CI a missing program skips the test with the command that
// installs it; in CI (CI set in the environment), or when $WSCTL_HAPROXY
// names no binary, it fails, so no integration test is silently skipped.
func Binary(t testing.TB, name string) string {
	t.Helper()
	path, err := binpath.Find(name)
	if err == nil {
		return path
	}
	msg := fmt.Sprintf("%v (`make deps` installs what the tests need)", err)
	if os.Getenv("CI") != "" || !errors.Is(err, binpath.ErrNotFound) || name == "haproxy" && os.Getenv(binpath.EnvHAProxy) != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func isExecutable(p string) bool { return binpath.Executable(p) == nil }

// FreePort returns a port on 127.0.0.1, free for TCP and UDP a moment
// ago, that neither this process nor another test process has handed out
// before. It is taken below the kernel's ephemeral range: a port from
// there (what binding port 0 gives) can be taken, between this call and
// the test's process binding it, by any outgoing connection of the machine
// — and the tests open thousands (an HAProxy that lost its frontend port
// that way exited at start, and its test failed waiting for its master
// socket). Test processes of other packages, which `go test ./...` runs
// side by side, are kept off it by a lock on its byte of a shared file
// (reservePort): two picked the same port once, and a backend could not
// bind it.
func FreePort(t testing.TB) int {
	t.Helper()
	portMu.Lock()
	defer portMu.Unlock()
	lo, hi := portRange()
	for range 1000 {
		p := lo + rand.IntN(hi-lo)
		if !givenPorts[p] && reservePort(p) && portFree(p) {
			givenPorts[p] = true
			return p
		}
	}
	t.Fatalf("free port: none free in %d-%d after 1000 tries", lo, hi-1)
	return 0
}

var (
	portMu     sync.Mutex
	givenPorts = map[int]bool{}
)

// portRange is where FreePort looks: from 10000 (above the ports examples
// and services use) up to the kernel's ephemeral range, which starts at
// 32768 unless the machine says otherwise.
func portRange() (lo, hi int) {
	lo, hi = 10000, 32768
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if f := strings.Fields(string(b)); err == nil && len(f) == 2 {
		if n, err := strconv.Atoi(f[0]); err == nil && n > lo+1000 {
			hi = n
		}
	}
	return lo, hi
}

// portLocks is the file whose byte N a test process locks to hand out
// port N (one empty file in the temp directory, left there: the locks are
// the process's open file description's, released when it exits).
var portLocks struct {
	once sync.Once
	f    *os.File
}

// reservePort locks port's byte of the shared file for this process; it
// reports false when another process holds it. Without the file (a temp
// directory that cannot hold it) every port is this process's to try.
func reservePort(port int) bool {
	portLocks.once.Do(func() {
		portLocks.f, _ = os.OpenFile(filepath.Join(os.TempDir(), "wsctl-lbtest-ports.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	})
	if portLocks.f == nil {
		return true
	}
	lock := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: int64(port), Len: 1}
	return unix.FcntlFlock(portLocks.f.Fd(), unix.F_OFD_SETLK, &lock) == nil
}

// portFree reports whether port can be bound on 127.0.0.1 for TCP and UDP
// (Consul listens on both).
func portFree(port int) bool {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	defer l.Close()
	u, err := net.ListenPacket("udp", addr)
	if err != nil {
		return false
	}
	return u.Close() == nil
}

// Addr returns "127.0.0.1:PORT" for a free port.
func Addr(t testing.TB) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
}

// WaitTCP waits until addr accepts TCP connections.
func WaitTCP(t testing.TB, addr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not listening after %s: %v", addr, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WaitUnix waits until the unix socket at path accepts connections. With
// p (the process that opens it), a process that exits first fails the
// test at once with its exit status and output, instead of a timeout
// that says nothing of why (a socket file left by a process that died
// refuses connections until the deadline).
func WaitUnix(t testing.TB, p *Process, path string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("unix", path, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if p != nil && p.Exited() {
			t.Fatalf("%s exited (%v) before socket %s answered; its output:\n%s", filepath.Base(p.Cmd.Path), p.Cmd.ProcessState, path, p.Output())
		}
		if time.Now().After(deadline) {
			t.Fatalf("socket %s not ready after %s: %v", path, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Process is a program started by a test.
type Process struct {
	Cmd    *exec.Cmd
	PID    int
	output SyncBuffer
	done   chan struct{}
}

// Output returns what the process wrote to stdout and stderr so far.
func (p *Process) Output() string { return p.output.String() }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Wait waits up to timeout for the process to end and reports whether it did.
func (p *Process) Wait(timeout time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// Signal sends sig to the process.
func (p *Process) Signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if err := syscall.Kill(p.PID, sig); err != nil {
		t.Fatalf("signal %v to pid %d: %v", sig, p.PID, err)
	}
}

// Start runs name with args. When the test ends the process gets SIGTERM,
// then SIGKILL if it is still there after five seconds, and is reaped.
func Start(t testing.TB, name string, args ...string) *Process {
	t.Helper()
	p := &Process{Cmd: exec.Command(name, args...), done: make(chan struct{})}
	// Cleanup stops the process by PID when the test ends; a test binary
	// that dies first (go test's -timeout, a kill) never runs it, and its
	// processes ran on, loading every later test and benchmark of the
	// machine. The kernel kills them with it instead.
	p.Cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p.Cmd.Stdout = &p.output
	p.Cmd.Stderr = &p.output
	if err := p.Cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p.PID = p.Cmd.Process.Pid
	go func() {
		_ = p.Cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.Exited() {
			_ = syscall.Kill(p.PID, syscall.SIGTERM)
			if !p.Wait(5 * time.Second) {
				_ = syscall.Kill(p.PID, syscall.SIGKILL)
				<-p.done
			}
		}
		// A process that exited early is as often the cause of a
		// failure as one still running.
		if t.Failed() {
			t.Logf("output of %s (pid %d):\n%s", filepath.Base(name), p.PID, p.Output())
		}
	})
	return p
}

var (
	buildMu    sync.Mutex
	buildCache = map[string]string{}
)

// GoBinary builds the main package pkg (a path relative to the module root,
// e.g. "cmd/wsecho") once per test process and returns the binary's path.
// The binary lives in a directory removed by the test that built it last.
func GoBinary(t testing.TB, pkg string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := buildCache[pkg]; ok && isExecutable(p) {
		return p
	}
	dir := t.TempDir()
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, "./"+pkg)
	cmd.Dir = ModuleRoot(t)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	buildCache[pkg] = out
	return out
}

// ModuleRoot returns the repository's root directory.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("lbtest: cannot locate source file")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers (a process's
// output, a logger) and the test reading it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// WaitFor polls cond every 50 ms until it holds, failing the test after
// timeout with what it was waiting for.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

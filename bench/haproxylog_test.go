package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsctl/wsctl/internal/lbtest"
	"golang.org/x/sys/unix"
)

// upLog is the churn benchmark's ruler for "live" in the agent's columns:
// HAProxy's own log, received on a unix datagram socket (the spec's
// `haproxy.log`). HAProxy writes "Server B/S is UP/READY (leaving forced
// maintenance)" or "… is UP (leaving forced drain)" from the function that
// applies the admin change, just before the same function puts the server
// into the load-balancing algorithm and commits its state (srv_update_status,
// 2.6 and 3.0): the moment the server becomes live, microseconds early, at
// no cost to HAProxy beyond one sendmsg. Each line is stamped by the kernel
// as it is queued (SO_TIMESTAMPNS), so neither this process's scheduling
// nor a round trip to HAProxy is in the figure. A poll every 0.5 ms was the
// ruler before: it saw a change half a pause and one round trip late (4.8 ms
// at p99 with 1,000 servers), and loaded the HAProxy it measured.
//
// Nothing sleeps on the socket: it is read every 0.5 ms by a thread of its
// own (nanosleep), outside Go's network poller. A reader the datagram woke
// ran in place of HAProxy's thread, between the line and the commit, and a
// look at HAProxy then still found the server in DRAIN.
type upLog struct {
	fd   int
	stop atomic.Bool
	mu   sync.Mutex
	up   map[string][]time.Time // "backend/server" → when it went live
	err  error                  // why reading stopped
	news chan struct{}          // closed at the next UP line or error
}

// upLine is an admin change that made a server live: out of maintenance
// into READY, or out of drain. "UP/DRAIN" (out of maintenance into drain)
// and check results are not: the agent makes servers live by admin changes.
var upLine = regexp.MustCompile(`\bServer (\S+/\S+) is UP(/READY)? \(leaving (forced )?(maintenance|drain)\)`)

// listenUpLog binds path and reads HAProxy's log lines from it until the
// test ends.
func listenUpLog(t *testing.T, path string) *upLog {
	t.Helper()
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	l := &upLog{fd: fd, up: map[string][]time.Time{}, news: make(chan struct{})}
	// Every closed WebSocket logs a line too (option httplog), and a
	// socket holds 10 datagrams (net.unix.max_dgram_qlen) before HAProxy
	// drops lines, UP ones as well: read every 0.5 ms, everything queued.
	if err := errors.Join(
		unix.Bind(fd, &unix.SockaddrUnix{Name: path}),
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20),
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1),
	); err != nil {
		unix.Close(fd)
		t.Fatalf("HAProxy's log socket %s: %v", path, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		l.read()
	}()
	t.Cleanup(func() {
		l.stop.Store(true)
		<-done
		unix.Close(fd)
	})
	return l
}

// read records every UP line with its kernel timestamp until stopped.
func (l *upLog) read() {
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(16))
	for !l.stop.Load() {
		n, oobn, _, _, err := unix.Recvmsg(l.fd, buf, oob, unix.MSG_DONTWAIT)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			pollPause()
			continue
		}
		var at time.Time
		if err == nil {
			at, err = kernelStamp(oob[:oobn])
		}
		var m [][]byte
		if err == nil {
			if m = upLine.FindSubmatch(buf[:n]); m == nil {
				continue // a traffic line: nobody waits for it
			}
		}
		l.mu.Lock()
		if err != nil {
			l.err = err
		} else {
			l.up[string(m[1])] = append(l.up[string(m[1])], at)
		}
		close(l.news)
		l.news = make(chan struct{})
		l.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// kernelStamp reads the SCM_TIMESTAMPNS control message of a datagram.
func kernelStamp(oob []byte) (time.Time, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return time.Time{}, err
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= 16 {
			sec := int64(binary.NativeEndian.Uint64(m.Data[0:8]))
			nsec := int64(binary.NativeEndian.Uint64(m.Data[8:16]))
			return time.Unix(sec, nsec), nil
		}
	}
	return time.Time{}, errors.New("a log line came without its kernel timestamp")
}

// waitUp returns when HAProxy first said server ("backend/server") went
// live at or after since, waiting up to timeout for it.
func (l *upLog) waitUp(server string, since time.Time, timeout time.Duration) (time.Time, error) {
	deadline := time.After(timeout)
	for {
		l.mu.Lock()
		for _, at := range l.up[server] {
			if !at.Before(since) {
				l.mu.Unlock()
				return at, nil
			}
		}
		news, err := l.news, l.err
		l.mu.Unlock()
		if err != nil {
			return time.Time{}, fmt.Errorf("reading HAProxy's log: %w", err)
		}
		select {
		case <-news:
		case <-deadline:
			return time.Time{}, fmt.Errorf("HAProxy did not log %s UP within %s", server, timeout)
		}
	}
}

// TestUpLogStampsHAProxysLine: the ruler takes a real HAProxy's line for
// each way the agent makes a server live (out of maintenance, out of
// drain; an added server leaves maintenance), stamped between the command
// and its answer, and nothing for changes that do not make it live.
func TestUpLogStampsHAProxysLine(t *testing.T) {
	dir := t.TempDir()
	l := listenUpLog(t, filepath.Join(dir, "log.sock"))
	admin := filepath.Join(dir, "admin.sock")
	lbtest.StartHAProxy(t, dir, fmt.Sprintf(`global
    stats socket %s level admin
    log %s local0 info
defaults
    mode http
    log global
    timeout connect 1s
    timeout client 10s
    timeout server 10s
backend b
    server s1 %s
`, admin, filepath.Join(dir, "log.sock"), lbtest.Addr(t)), admin)
	// within runs cmd and checks the line for b/server came between its
	// sending and its answer.
	within := func(server, cmd string) {
		t.Helper()
		before := time.Now()
		if _, err := lbtest.SocketReply(admin, cmd); err != nil {
			t.Fatal(err)
		}
		after := time.Now()
		at, err := l.waitUp("b/"+server, before, 5*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		if at.After(after) {
			t.Errorf("%s: stamped %s after its answer", cmd, at.Sub(after))
		}
	}
	for _, cmd := range []string{"set server b/s1 state drain", "set server b/s1 state maint", "add server b/s2 " + lbtest.Addr(t)} {
		if _, err := lbtest.SocketReply(admin, cmd); err != nil {
			t.Fatal(err)
		}
	}
	within("s1", "set server b/s1 state ready")
	within("s2", "enable server b/s2")
	if _, err := lbtest.SocketReply(admin, "set server b/s1 state drain"); err != nil {
		t.Fatal(err)
	}
	within("s1", "set server b/s1 state ready")
	// Out of maintenance into drain is not live.
	for _, cmd := range []string{"set server b/s2 state maint", "set server b/s2 state drain"} {
		if _, err := lbtest.SocketReply(admin, cmd); err != nil {
			t.Fatal(err)
		}
	}
	since := time.Now()
	if at, err := l.waitUp("b/s2", since, 300*time.Millisecond); err == nil {
		t.Errorf("b/s2 taken as live at %s, out of maintenance into drain", at)
	}
}

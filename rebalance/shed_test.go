package rebalance

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsctl/wsctl/haproxy"
)

// countingSocket is an HAProxy admin socket in interactive mode that knows
// sessions (id → server of backend ws), answers `show sess ID` and
// `shutdown session ID` for them, and counts the connections it accepted.
type countingSocket struct {
	path string
	mu   sync.Mutex
	on   map[string]string
	// conns are the connections accepted so far.
	conns int
}

func startCountingSocket(t *testing.T, on map[string]string) *countingSocket {
	t.Helper()
	f := &countingSocket{path: filepath.Join(t.TempDir(), "admin.sock"), on: on}
	l, err := net.Listen("unix", f.path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			f.conns++
			f.mu.Unlock()
			wg.Go(func() { f.serve(c) })
		}
	})
	t.Cleanup(func() { l.Close(); wg.Wait() })
	return f
}

func (f *countingSocket) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.TrimSpace(line)
		var reply string
		f.mu.Lock()
		switch {
		case cmd == "show info":
			reply = "Name: HAProxy\nVersion: 2.6.12-1+deb12u4\nPid: 42\n"
		case strings.HasPrefix(cmd, "show sess "):
			id := strings.TrimPrefix(cmd, "show sess ")
			if server, ok := f.on[id]; ok {
				reply = fmt.Sprintf("%s: [07/Dec/2026:08:02:07.928097] id=2 proto=tcpv4\n  backend=ws (id=3 mode=http) addr=127.0.0.1:1\n  server=%s (id=1) addr=127.0.0.1:2\n", id, server)
			} else {
				reply = "Session not found.\n"
			}
		case strings.HasPrefix(cmd, "shutdown session "):
			delete(f.on, strings.TrimPrefix(cmd, "shutdown session "))
		}
		f.mu.Unlock()
		if _, err := c.Write([]byte(reply + "\n> ")); err != nil {
			return
		}
	}
}

func (f *countingSocket) accepted() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conns
}

func (f *countingSocket) left() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.on)
}

// socketCloser is a sim whose closes go through a real haproxy.Client.
type socketCloser struct {
	*fakeRuntime
	c *haproxy.Client
}

func (s socketCloser) ShutdownSessionsEach(ctx context.Context, backend, server string, next func() ([]haproxy.SessionID, bool)) (int, error) {
	return s.c.ShutdownSessionsEach(ctx, backend, server, next)
}

// TestShedKeepsOneConnection: a local rebalance's closes go over one
// connection per socket and server shed, batched, not one connection per
// close (which held a rebalance at 156–336 closes a second at a rate of
// 500: a dial, a set-up, a check and a close each).
func TestShedKeepsOneConnection(t *testing.T) {
	s := newSim(map[string]int{"s1": 60, "s2": 60, "s3": 0}, nil)
	on := map[string]string{}
	for server, sessions := range s.sessions {
		for _, w := range sessions {
			on[string(w.ID)] = server
		}
	}
	sock := startCountingSocket(t, on)
	ctx := context.Background()
	c, err := haproxy.Dial(ctx, sock.path, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	before := sock.accepted()
	held := []Share{{Load: Load{Server: "s1"}, Moves: 40}, {Load: Load{Server: "s2"}, Moves: 40}}
	var last int64
	closed, err := NewSockets([]Socket{{Name: "lb", Runtime: socketCloser{s.fake(), c}}}).Shed(ctx, "ws", held, 2000, func(n int64) { last = n })
	if err != nil || closed != 80 || last != 80 {
		t.Fatalf("Shed = %d, %v (last progress %d); want 80 closed", closed, err, last)
	}
	if got := sock.left(); got != 40 {
		t.Errorf("%d sessions left on the socket, want 40", got)
	}
	if got := sock.accepted() - before; got > len(held) {
		t.Errorf("%d connections for 80 closes of %d servers, want at most one per server", got, len(held))
	}
}

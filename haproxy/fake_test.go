package haproxy

import (
	"bufio"
	"context"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeHAProxy serves a unix socket the way HAProxy's CLI does: one command
// then close, or interactive after `prompt`, each reply then "\n> ". It
// records every line it receives. Tests use it to see exactly what the
// client writes, and to send replies no real HAProxy would.
type fakeHAProxy struct {
	path string
	// answer returns the reply to cmd (the part after the last ';', as
	// HAProxy runs each); nil means the default replies.
	answer func(cmd string) io.Reader

	mu    sync.Mutex
	lines []string
	// waits counts the times it waited for the client: its round trips,
	// since lines written together arrive together.
	waits int
	// accepted and closed count the connections.
	accepted, closed int
}

// startFake listens in a temp dir until the test ends, then closes every
// connection and waits for its handlers.
func startFake(t *testing.T, answer func(cmd string) io.Reader) *fakeHAProxy {
	t.Helper()
	f := &fakeHAProxy{path: filepath.Join(t.TempDir(), "fake.sock"), answer: answer}
	l, err := net.Listen("unix", f.path)
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			f.mu.Lock()
			f.accepted++
			f.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				f.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return f
}

// dialFake starts a fake and returns a client of it, with what Dial sent
// already forgotten.
func dialFake(t *testing.T, answer func(cmd string) io.Reader) (*fakeHAProxy, *Client) {
	t.Helper()
	fake := startFake(t, answer)
	c, err := Dial(context.Background(), fake.path, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	fake.received()
	fake.roundTrips()
	return fake, c
}

func (f *fakeHAProxy) serve(c net.Conn) {
	defer func() {
		c.Close()
		f.mu.Lock()
		f.closed++
		f.mu.Unlock()
	}()
	r := bufio.NewReader(c)
	interactive := false
	for {
		waited := r.Buffered() == 0
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimSuffix(line, "\n")
		f.mu.Lock()
		f.lines = append(f.lines, line)
		if waited {
			f.waits++
		}
		f.mu.Unlock()
		cmds := strings.Split(line, ";")
		cmd := strings.TrimSpace(cmds[len(cmds)-1])
		if cmd == "prompt" {
			interactive = true
			c.Write([]byte(prompt))
			continue
		}
		var reply io.Reader
		if f.answer != nil {
			reply = f.answer(cmd)
		}
		if reply == nil {
			reply = strings.NewReader(defaultReply(cmd))
		}
		if _, err := io.Copy(c, reply); err != nil {
			return
		}
		if !interactive {
			c.Write([]byte("\n"))
			return
		}
		c.Write([]byte(prompt))
	}
}

// defaultReply answers `show info` as HAProxy 2.6 does and every other
// command with nothing (as a successful `set server` does).
func defaultReply(cmd string) string {
	if cmd == "show info" {
		return "Name: HAProxy\nVersion: 2.6.12-1+deb12u4\nPid: 42\n"
	}
	return ""
}

// received returns the lines received so far and forgets them.
func (f *fakeHAProxy) received() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.lines
	f.lines = nil
	return out
}

// roundTrips returns the times it waited for the client so far and
// forgets them.
func (f *fakeHAProxy) roundTrips() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.waits
	f.waits = 0
	return n
}

// zeros streams NUL bytes forever, like /dev/zero.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

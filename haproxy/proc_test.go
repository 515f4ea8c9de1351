package haproxy

import (
	"bufio"
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// showProc26 is `show proc` of HAProxy 2.6 after two reloads (3.0 prints
// the same).
const showProc26 = `#<PID>          <type>          <reloads>       <uptime>        <version>      
6712            master          2 [failed: 1]   0d00h00m17s     2.6.12-1+deb12u4
# workers
6766            worker          1               0d00h00m16s     2.6.12-1+deb12u4
# old workers
6729            worker          2               0d00h00m17s     2.6.12-1+deb12u4
# programs
7000            bridge          0               0d00h00m17s     -
`

func TestParseProcs(t *testing.T) {
	got, err := parseProcs(showProc26)
	if err != nil {
		t.Fatal(err)
	}
	v := "2.6.12-1+deb12u4"
	want := Procs{
		Master: Proc{Pid: 6712, Reloads: 2, Version: v}, Failed: 1,
		Current: []Proc{{Pid: 6766, Reloads: 1, Version: v}},
		Old:     []Proc{{Pid: 6729, Reloads: 2, Version: v}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := parseProcs("Unknown command\n"); !errors.Is(err, ErrNotHAProxy) {
		t.Errorf("a reply without a master: err = %v, want ErrNotHAProxy", err)
	}
}

func TestSessionLines(t *testing.T) {
	reply := "0x55cdcc1dca80: proto=sockpair src=unix:2 fe=GLOBAL be=<NONE> srv=<none> ts=00\n" +
		"0x7f0ab6e7c000: proto=tcpv4 src=127.0.0.1:4000 fe=fe be=ws srv=s1 ts=00\n"
	want := []WorkerSession{
		{ID: "0x55cdcc1dca80", Frontend: "GLOBAL", Backend: "<NONE>", Server: "<none>"},
		{ID: "0x7f0ab6e7c000", Frontend: "fe", Backend: "ws", Server: "s1"},
	}
	if diff := cmp.Diff(want, sessionLines(reply)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestWorkerGoneDuringCommand: a worker that exits while the master relays
// a command to it (its last session closed) leaves the master silent; the
// silence is ErrNoSuchWorker when the master no longer lists it, and stays
// ErrTimeout for a worker it still lists.
func TestWorkerGoneDuringCommand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() {
				line, _ := bufio.NewReader(c).ReadString('\n')
				if strings.HasPrefix(line, "show proc") {
					_, _ = c.Write([]byte(showProc26))
					c.Close()
				}
				// Anything for a worker: no answer, as from one that exited.
			}()
		}
	}()
	m := NewMaster(path, 200*time.Millisecond)
	ctx := context.Background()
	if err := m.ShutdownWorkerSession(ctx, 1234, "ws", "0x1"); !errors.Is(err, ErrNoSuchWorker) {
		t.Errorf("worker 1234, not listed: err = %v, want ErrNoSuchWorker", err)
	}
	if err := m.ShutdownWorkerSession(ctx, 6729, "ws", "0x1"); !errors.Is(err, ErrTimeout) || errors.Is(err, ErrNoSuchWorker) {
		t.Errorf("worker 6729, still listed: err = %v, want ErrTimeout", err)
	}
}

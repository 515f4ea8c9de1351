package agent

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/internal/lbtest"
	"github.com/wsctl/wsctl/internal/sdnotify"
)

// notifyListener is systemd's end of $NOTIFY_SOCKET: it keeps every state
// the agent sent.
type notifyListener struct {
	t      *testing.T
	socket string
	conn   *net.UnixConn
	states []string
}

func listenNotify(t *testing.T) *notifyListener {
	t.Helper()
	n := &notifyListener{t: t, socket: filepath.Join(t.TempDir(), "notify.sock")}
	var err error
	if n.conn, err = net.ListenUnixgram("unixgram", &net.UnixAddr{Name: n.socket, Net: "unixgram"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.conn.Close() })
	return n
}

// count is how many times state was sent so far. A datagram on a unix
// socket is queued by the time the sender's write returns, so receiving
// without waiting (MSG_DONTWAIT: a read deadline in the past would not
// even try) sees all of them.
func (n *notifyListener) count(state string) int {
	raw, err := n.conn.SyscallConn()
	if err != nil {
		n.t.Fatal(err)
	}
	buf := make([]byte, 256)
	_ = raw.Read(func(fd uintptr) bool {
		for {
			k, _, err := syscall.Recvfrom(int(fd), buf, syscall.MSG_DONTWAIT)
			if err != nil {
				return true
			}
			n.states = append(n.states, string(buf[:k]))
		}
	})
	c := 0
	for _, s := range n.states {
		if s == state {
			c++
		}
	}
	return c
}

// TestAgentReadyOnceAndRereadOnDemand runs the agent as systemd does:
// READY=1 must come once, after the first sync, and a Reread (SIGHUP) must
// pick up a changed spec file at once although the file is polled only
// hourly.
func TestAgentReadyOnceAndRereadOnDemand(t *testing.T) {
	r := startRig(t)
	w1 := lbtest.StartWsecho(t, "echo-1", "--close-spread", "0s")
	w2 := lbtest.StartWsecho(t, "static-1", "--close-spread", "0s")
	register(t, r.consul, "echo-1", w1)

	specFile, writeSpec, s := r.specFile(t)
	systemd := listenNotify(t)
	reread := make(chan os.Signal, 1)
	a := r.startAgentWith(t, Config{
		Spec: s, SpecFile: specFile, SpecPoll: time.Hour, Reread: reread,
		NotifySocket: systemd.socket,
	})
	eventually(t, "ready", func() bool { return systemd.count(sdnotify.Ready) == 1 })
	if a.Metrics().LastSync().IsZero() {
		t.Error("Ready called before the first sync")
	}
	eventually(t, "echo-1 READY", func() bool { return r.servers(t, "ws")["echo-1"].Admin == haproxy.Ready })

	writeSpec("  - name: extra\n    servers:\n      - name: static-1\n        address: " + w2.Addr)
	reread <- syscall.SIGHUP
	eventually(t, "extra/static-1 READY after the reread", func() bool {
		return r.servers(t, "extra")["static-1"].Admin == haproxy.Ready
	})
	// Later syncs (the reread's) do not announce readiness again.
	if got := systemd.count(sdnotify.Ready); got != 1 {
		t.Errorf("Ready called %d times, want 1", got)
	}
}

// TestLoopTellsSystemd: the loop sends READY=1 once, after the first
// complete sync (not before, not again after later ones), reads the spec
// file at once on a SIGHUP although it is polled hourly, and sends
// STOPPING=1 once it ends.
func TestLoopTellsSystemd(t *testing.T) {
	systemd := listenNotify(t)
	hup := make(chan os.Signal, 1)
	u := newUnit(t, "1h", Config{MinQuiet: time.Millisecond, SpecPoll: time.Hour, Reread: hup, NotifySocket: systemd.socket})
	u.prime(t, u.render(t))
	stop := u.run(t)
	if got := systemd.count(sdnotify.Ready); got != 0 {
		t.Errorf("READY=1 sent %d times before the source reported", got)
	}
	u.src.send(inst("a", 1))
	eventuallyFast(t, "READY=1", func() bool { return systemd.count(sdnotify.Ready) == 1 })

	if err := os.WriteFile(filepath.Join(u.dir, "wsctl.yaml"), []byte("backends: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hup <- syscall.SIGHUP
	eventuallyFast(t, "the broken spec read on SIGHUP", func() bool { return u.a.metrics.SpecErrors.Load() == 1 })
	u.src.send(inst("a", 1), inst("b", 2))
	eventuallyFast(t, "b added", func() bool { return u.hap.admin("ws", "b") == haproxy.Ready })
	if got := systemd.count(sdnotify.Stopping); got != 0 {
		t.Errorf("STOPPING=1 sent %d times while the loop runs", got)
	}
	stop()
	if got := systemd.count(sdnotify.Ready); got != 1 {
		t.Errorf("READY=1 sent %d times, want 1", got)
	}
	if got := systemd.count(sdnotify.Stopping); got != 1 {
		t.Errorf("STOPPING=1 sent %d times, want 1", got)
	}
}

// TestConvergenceFromTheAnswer: the convergence histogram counts from when
// the source's answer arrived (Snapshot.Arrived), so the agent's own time
// before its loop saw the snapshot (decoding Consul's answer) is in it; a
// snapshot that cannot tell counts from its arrival in the loop.
func TestConvergenceFromTheAnswer(t *testing.T) {
	u := newUnit(t, "1h", Config{MinQuiet: time.Millisecond, SpecPoll: time.Hour})
	u.prime(t, u.render(t))
	stop := u.run(t)
	defer stop()
	u.src.send(inst("a", 1))
	eventuallyFast(t, "the first sync", func() bool { return u.a.metrics.Convergence.Count() == 1 })
	if sum := u.a.metrics.Convergence.Sum(); sum >= time.Second {
		t.Errorf("convergence %s for a snapshot without an arrival time, want its time in the loop", sum)
	}
	u.src.sendArrived(time.Now().Add(-2*time.Second), inst("a", 1), inst("b", 2))
	eventuallyFast(t, "b added", func() bool { return u.a.metrics.Convergence.Count() == 2 })
	if sum := u.a.metrics.Convergence.Sum(); sum < 2*time.Second {
		t.Errorf("convergence sum %s, want at least the 2 s since the answer arrived", sum)
	}
}

// TestRuntimeFromTheAnswer: wsctl_agent_runtime_seconds counts a change
// once, from its answer's arrival to the first runtime batch that applied
// some of it (before the files are written), and nothing for a sync that
// changed nothing in HAProxy; wsctl_agent_last_change_timestamp_seconds is
// the last change's arrival.
func TestRuntimeFromTheAnswer(t *testing.T) {
	u := newUnit(t, "1h", Config{MinQuiet: time.Millisecond, SpecPoll: time.Hour})
	u.prime(t, u.render(t, inst("a", 1)))
	stop := u.run(t)
	defer stop()
	u.src.send(inst("a", 1))
	eventuallyFast(t, "the first sync", func() bool { return u.a.metrics.Convergence.Count() == 1 })
	if n := u.a.metrics.Runtime.Count(); n != 0 {
		t.Errorf("runtime histogram counted %d for a sync that changed nothing in HAProxy, want 0", n)
	}
	arrived := time.Now().Add(-2 * time.Second)
	u.src.sendArrived(arrived, inst("a", 1), inst("b", 2))
	eventuallyFast(t, "b added", func() bool { return u.a.metrics.Convergence.Count() == 2 })
	want := fmt.Sprintf("\nwsctl_agent_last_change_timestamp_seconds %s\n", strconv.FormatFloat(unixSeconds(arrived), 'e', -1, 64))
	if body := scrape(u.a); !strings.Contains(body, want) {
		t.Errorf("/metrics lacks %q:\n%s", strings.TrimSpace(want), body)
	}
	if n := u.a.metrics.Runtime.Count(); n != 1 {
		t.Fatalf("runtime histogram counted %d for one change, want 1", n)
	}
	if rt, conv := u.a.metrics.Runtime.Sum(), u.a.metrics.Convergence.Sum(); rt < 2*time.Second || rt > conv {
		t.Errorf("runtime %s, want at least the 2 s since the answer arrived and at most the convergence, %s", rt, conv)
	}
}

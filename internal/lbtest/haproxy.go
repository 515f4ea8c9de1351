package lbtest

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wsctl/wsctl/haproxy"
)

// HAProxy is a master-worker HAProxy started by a test.
type HAProxy struct {
	Dir          string // the temp dir holding the config and sockets
	Config       string // path of the config file
	MasterSocket string // the master CLI (-S)
	Proc         *Process
}

// startTimeout bounds how long StartHAProxy waits for HAProxy's sockets.
const startTimeout = 45 * time.Second

// StartHAProxy writes config to dir/haproxy.cfg and starts HAProxy in
// master-worker mode with its master CLI on dir/master.sock. It waits until
// adminSocket (the stats socket the config declares; empty to skip) answers.
// Use Dir (a fresh t.TempDir when dir is empty) for the paths inside config.
func StartHAProxy(t testing.TB, dir, config, adminSocket string) *HAProxy {
	t.Helper()
	bin := Binary(t, "haproxy")
	if dir == "" {
		dir = t.TempDir()
	}
	h := &HAProxy{Dir: dir, Config: filepath.Join(dir, "haproxy.cfg"), MasterSocket: filepath.Join(dir, "master.sock")}
	if err := os.WriteFile(h.Config, []byte(config), 0o644); err != nil {
		t.Fatalf("write haproxy config: %v", err)
	}
	h.Proc = Start(t, bin, "-W", "-db", "-S", h.MasterSocket, "-f", h.Config)
	// A generous bound: 20 HAProxy processes starting together on 2 cores
	// took longer than 10 s (the fleet benchmark); a start that works
	// returns as soon as it answers.
	WaitUnix(t, h.Proc, h.MasterSocket, startTimeout)
	if adminSocket != "" {
		WaitUnix(t, h.Proc, adminSocket, startTimeout)
	}
	return h
}

// Reload asks the master to reload its configuration through its CLI and
// returns once the master answers again with a new current worker. A
// SIGUSR2 sent while the master is still starting is lost (seen with 3.0);
// a command on the master CLI, which answers only once the master is up, is
// not. 3.0 answers when the new worker is up (Success=1, or Success=0 and
// its alerts, which fail the test); 2.6 answers nothing, drops the
// connection as it re-executes and refuses connections for a moment after
// its new worker is forked, so the reply alone proves nothing: a test that
// went to the master CLI right after it once found it refusing (CI).
func (h *HAProxy) Reload(t testing.TB) {
	t.Helper()
	before := h.currentWorker(t)
	c, err := net.DialTimeout("unix", h.MasterSocket, 2*time.Second)
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("reload\n")); err != nil {
		t.Fatalf("reload: %v", err)
	}
	_ = c.(*net.UnixConn).CloseWrite()
	reply, _ := io.ReadAll(c) // 2.6: nothing, or a reset
	if strings.Contains(string(reply), "Success=0") {
		t.Fatalf("reload refused:\n%s", reply)
	}
	WaitFor(t, 10*time.Second, "the master CLI answering with a worker other than "+before, func() bool {
		now, err := h.worker()
		return err == nil && now != "" && now != before
	})
}

// currentWorker is the pid of the master's current worker, waiting for a
// master that has just started (or reloaded) and refuses a moment.
func (h *HAProxy) currentWorker(t testing.TB) string {
	t.Helper()
	var pid string
	WaitFor(t, 10*time.Second, "the master CLI naming its worker", func() bool {
		var err error
		pid, err = h.worker()
		return err == nil && pid != ""
	})
	return pid
}

// worker reads the current worker's pid from the master's `show proc`
// ("" while the master names none).
func (h *HAProxy) worker() (string, error) {
	procs, err := haproxy.NewMaster(h.MasterSocket, 2*time.Second).Procs(context.Background())
	if err != nil || len(procs.Current) == 0 {
		return "", err
	}
	return strconv.FormatInt(procs.Current[0].Pid, 10), nil
}

// SocketCommand sends one command to an HAProxy CLI socket (admin or master)
// and returns the reply; it fails the test when the socket does not answer.
func SocketCommand(t testing.TB, path, command string) string {
	t.Helper()
	reply, err := SocketReply(path, command)
	if err != nil {
		t.Fatal(err)
	}
	return reply
}

// SocketReply is SocketCommand for a socket that may not answer yet (a
// master re-executing itself during a reload).
func SocketReply(path, command string) (string, error) {
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		return "", fmt.Errorf("dial %s: %w", path, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(command + "\n")); err != nil {
		return "", fmt.Errorf("send %q to %s: %w", command, path, err)
	}
	// The master CLI keeps the connection open until the client is done
	// writing; the admin socket closes either way.
	if err := c.(*net.UnixConn).CloseWrite(); err != nil {
		return "", fmt.Errorf("half-close %s: %w", path, err)
	}
	b, err := io.ReadAll(c)
	if err != nil {
		return "", fmt.Errorf("read reply to %q from %s: %w", command, path, err)
	}
	return string(b), nil
}

package haproxy_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/haproxy/haproxytest"
	"github.com/wsctl/wsctl/internal/lbtest"
	"github.com/wsctl/wsctl/reload"
)

// TestReload reloads a real HAProxy through its master CLI: a good config
// brings a new worker; a config HAProxy cannot load is reported with
// HAProxy's own message on 3.0, and leaves the old worker serving on both
// versions (2.6 reports nothing: its master counts the failure).
func TestReload(t *testing.T) {
	lb := haproxytest.StartLB(t, haproxytest.Config{}, haproxytest.Backends(t, "s1"))
	ctx := context.Background()
	c := lb.Client(t)
	oldPid := c.Info().Pid
	if err := haproxy.NewMaster(lb.MasterSocket, 0).Reload(ctx); err != nil {
		t.Fatalf("reload of an unchanged config: %v", err)
	}
	var pid int64
	lbtest.WaitFor(t, 10*time.Second, "a new worker", func() bool {
		var err error
		pid, err = c.Pid(ctx)
		return err == nil && pid != oldPid
	})

	good, err := os.ReadFile(lb.Config)
	if err != nil {
		t.Fatal(err)
	}
	bad := append(good, "    wsctl-bogus-keyword on\n"...)
	if err := os.WriteFile(lb.Config, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	err = haproxy.NewMaster(lb.MasterSocket, 0).Reload(ctx)
	if c.Info().AtLeast(3, 0) {
		var re *haproxy.ReloadError
		if !errors.As(err, &re) || !errors.Is(err, haproxy.ErrReloadFailed) {
			t.Fatalf("reload of a broken config on %s: err = %v, want a *ReloadError", c.Info().Version, err)
		}
		if !strings.Contains(err.Error(), "unknown keyword 'wsctl-bogus-keyword'") || !strings.Contains(err.Error(), lb.MasterSocket) {
			t.Errorf("error does not carry HAProxy's message and the socket: %v", err)
		}
		if !strings.Contains(re.Startup, "Loading failure") {
			t.Errorf("Startup lacks HAProxy's startup messages: %q", re.Startup)
		}
	} else {
		if err != nil {
			t.Fatalf("reload on %s: %v, want nil (2.6 reports nothing)", c.Info().Version, err)
		}
		lbtest.WaitFor(t, 10*time.Second, "the master to count a failed reload", func() bool {
			procs, _ := lbtest.SocketReply(lb.MasterSocket, "show proc")
			return strings.Contains(procs, "[failed: 1]")
		})
	}
	if got, err := c.Pid(ctx); err != nil || got != pid {
		t.Errorf("after the failed reload: pid %d (%v), want the worker %d still serving", got, err, pid)
	}
}

// TestReloadErrors: a socket that is not a master CLI, and none at all.
func TestReloadErrors(t *testing.T) {
	lb := haproxytest.StartLB(t, haproxytest.Config{}, haproxytest.Backends(t, "s1"))
	ctx := context.Background()
	if err := haproxy.NewMaster(lb.AdminSocket, 0).Reload(ctx); !errors.Is(err, haproxy.ErrNotHAProxy) {
		t.Errorf("reload through the admin socket: err = %v, want ErrNotHAProxy", err)
	}
	if err := haproxy.NewMaster(lb.Dir+"/none.sock", 0).Reload(ctx); !errors.Is(err, haproxy.ErrNoSocket) {
		t.Errorf("reload through no socket: err = %v, want ErrNoSocket", err)
	}
}

// TestMasterWorkerSessions: through the master CLI, an old worker's
// sessions are listed and closed one by one; a session named for another
// backend is left alone, and a worker that is gone says so. HAProxy 3.0
// now and then leaves a stream of another thread running after `shutdown
// session` answered; it goes at the next one, so the closing is repeated
// until the worker exits (as package handover does).
func TestMasterWorkerSessions(t *testing.T) {
	lb := haproxytest.StartLB(t, haproxytest.Config{}, haproxytest.Backends(t, "s1"))
	haproxytest.StartClients(t, lb.URL(), 3, false)
	ctx := context.Background()
	m := haproxy.NewMaster(lb.MasterSocket, 0)
	rl, err := reload.Swap(ctx, reload.Local{AdminSocket: lb.AdminSocket, MasterSocket: lb.MasterSocket}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	sessions, err := m.WorkerSessions(ctx, rl.Old)
	if err != nil || len(sessions) != 3 {
		t.Fatalf("sessions of the old worker = %+v, %v; want the 3 WebSockets", sessions, err)
	}
	if err := m.ShutdownWorkerSession(ctx, rl.Old, "other", sessions[0].ID); !errors.Is(err, haproxy.ErrNoSuchSession) {
		t.Errorf("shutdown for another backend: err = %v, want ErrNoSuchSession", err)
	}
	lbtest.WaitFor(t, 10*time.Second, "the old worker to exit", func() bool {
		for _, s := range sessions {
			if err := m.ShutdownWorkerSession(ctx, rl.Old, "ws", s.ID); err != nil && !errors.Is(err, haproxy.ErrNoSuchSession) && !errors.Is(err, haproxy.ErrNoSuchWorker) {
				t.Fatal(err)
			}
		}
		sessions, err = m.WorkerSessions(ctx, rl.Old)
		return errors.Is(err, haproxy.ErrNoSuchWorker)
	})
}

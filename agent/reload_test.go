package agent

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/haproxy/haproxytest"
	"github.com/wsctl/wsctl/proxy"
	"github.com/wsctl/wsctl/reload"
	"github.com/wsctl/wsctl/spec"
)

// TestMasterReloadFailure reloads a config that `haproxy -c` accepts but
// HAProxy cannot start (a bind to a port another process holds): on 3.0
// the error is HAProxy's own, from the master CLI; 2.6 reports nothing,
// and the error is that no new worker came.
func TestMasterReloadFailure(t *testing.T) {
	lb := haproxytest.StartLB(t, haproxytest.Config{}, haproxytest.Backends(t, "s1"))
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	ctx := context.Background()
	rt, err := haproxy.Dial(ctx, lb.AdminSocket, 0)
	if err != nil {
		t.Fatal(err)
	}
	config, err := os.ReadFile(lb.Config)
	if err != nil {
		t.Fatal(err)
	}
	config = append(config, "\nfrontend taken\n    bind "+busy.Addr().String()+"\n    default_backend ws\n"...)
	if err := os.WriteFile(lb.Config, config, 0o644); err != nil {
		t.Fatal(err)
	}
	a := &Agent{
		// 3.0 answers after about 2s: HAProxy retries a failing bind
		// while the old worker pauses its listeners.
		cfg:   Config{ReloadTimeout: 5 * time.Second},
		edges: realEdges(proxy.Validator{}),
		spec:  &spec.Spec{HAProxy: spec.HAProxy{AdminSocket: lb.AdminSocket, MasterSocket: lb.MasterSocket}},
	}
	_, err = reload.Swap(ctx, haproxyEdges{a}, a.cfg.ReloadTimeout)
	want := "no new worker"
	if rt.Info().AtLeast(3, 0) {
		want = "cannot bind socket (Address already in use) for [" + busy.Addr().String() + "]"
	}
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("reload on HAProxy %s: err = %v, want one containing %q", rt.Info().Version, err, want)
	}
	if pid, err := rt.Pid(ctx); err != nil || pid != rt.Info().Pid {
		t.Errorf("after the failed reload: pid %d (%v), want the worker %d still serving", pid, err, rt.Info().Pid)
	}
}

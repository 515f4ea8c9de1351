// Package haproxytest starts what the runtime, drain and wsctl tests talk
// to: wsecho backends behind a real master-worker HAProxy configured the way
// wsctl renders WebSocket backends (leastconn, sticky cookie, redispatch,
// health checks), and fleets of cookie-keeping WebSocket clients.
package haproxytest

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/internal/lbtest"
)

// LB is an HAProxy in front of one WebSocket backend.
type LB struct {
	*lbtest.HAProxy
	// AdminSocket is the stats socket at level admin.
	AdminSocket string
	// Frontend is the address clients connect to.
	Frontend string
	// Backend is the backend's name.
	Backend string
	// Servers are the backend's servers, named by their ids.
	Servers []*lbtest.Wsecho
}

// Client dials lb's admin socket with the default timeout; a failure ends
// the test.
func (lb *LB) Client(t testing.TB) *haproxy.Client {
	t.Helper()
	c, err := haproxy.Dial(context.Background(), lb.AdminSocket, 0)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Config describes the HAProxy a test wants.
type Config struct {
	// Backend names the WebSocket backend; "" means "ws".
	Backend string
	// ServerOptions are appended to every server line (e.g. "slowstart 2s").
	ServerOptions string
	// Global and Defaults are appended to those sections verbatim
	// (hard-stop-after, server-state-file).
	Global, Defaults string
	// Extra is appended to the config verbatim (more backends, sockets).
	Extra string
}

// Backends starts one wsecho per id.
func Backends(t testing.TB, ids ...string) []*lbtest.Wsecho {
	t.Helper()
	out := make([]*lbtest.Wsecho, len(ids))
	for i, id := range ids {
		out[i] = lbtest.StartWsecho(t, id, "--close-spread", "0s")
	}
	return out
}

// StartLB starts an HAProxy in front of servers, in a fresh temp dir.
func StartLB(t testing.TB, cfg Config, servers []*lbtest.Wsecho) *LB {
	t.Helper()
	if cfg.Backend == "" {
		cfg.Backend = "ws"
	}
	dir := t.TempDir()
	lb := &LB{
		AdminSocket: filepath.Join(dir, "admin.sock"),
		Frontend:    lbtest.Addr(t),
		Backend:     cfg.Backend,
		Servers:     servers,
	}
	lb.HAProxy = lbtest.StartHAProxy(t, dir, Render(dir, lb.Frontend, cfg, servers), lb.AdminSocket)
	lbtest.WaitTCP(t, lb.Frontend, 10*time.Second)
	return lb
}

// URL returns the WebSocket URL of the frontend.
func (lb *LB) URL() string { return "ws://" + lb.Frontend + "/ws" }

// Render returns the HAProxy config StartLB runs: master-worker, the admin
// socket in dir, and a backend with the properties drains depend on.
func Render(dir, frontend string, cfg Config, servers []*lbtest.Wsecho) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global
    master-worker
    stats socket %s/admin.sock level admin expose-fd listeners
    stats timeout 1m
%s
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout tunnel 1h
    timeout client-fin 5s
    timeout server-fin 5s
    retries 2
%s
frontend fe
    bind %s
    default_backend %s

backend %s
    balance leastconn
    cookie SERVERID insert indirect nocache httponly
    option redispatch
    option httpchk GET /health
    default-server check inter 1s fall 2 rise 1
`, dir, cfg.Global, cfg.Defaults, frontend, cfg.Backend, cfg.Backend)
	for _, s := range servers {
		fmt.Fprintf(&b, "    server %s %s cookie %s %s\n", s.ID, s.Addr, s.ID, cfg.ServerOptions)
	}
	if cfg.Extra != "" {
		b.WriteString("\n" + cfg.Extra + "\n")
	}
	return b.String()
}

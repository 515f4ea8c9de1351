package main

import (
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/internal/lbtest"
)

// TestAgentUnderSystemd runs the wsctl binary as the packaged unit does
// (Type=notify, reload by SIGHUP): READY=1 after the first sync, SIGHUP
// re-reads the spec instead of killing the agent, SIGTERM ends it cleanly
// with STOPPING=1 first. It logs in JSON, as a journal shipper wants.
func TestAgentUnderSystemd(t *testing.T) {
	b := lbtest.StartBasic(t, "haproxy")
	specFile := filepath.Join(t.TempDir(), "wsctl.yaml")
	writeFile(t, specFile, b.Spec)

	notifySocket := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifySocket, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	receive := func(want string) {
		t.Helper()
		// The deadline only keeps a broken agent from hanging the test.
		_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		buf := make([]byte, 256)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("waiting for %s: %v", want, err)
		}
		if got := string(buf[:n]); got != want {
			t.Fatalf("systemd got %q, want %q", got, want)
		}
	}

	t.Setenv("WSCTL_RUN_DIR", b.RunDir)
	t.Setenv("NOTIFY_SOCKET", notifySocket)
	agent := lbtest.Start(t, lbtest.GoBinary(t, "cmd/wsctl"), "agent", "-c", specFile,
		"--haproxy-config", filepath.Join(b.RunDir, "haproxy.cfg"), "--listen", "", "--log-format", "json")
	receive("READY=1")

	// backend3 leaves the spec: after SIGHUP the agent drains it.
	writeFile(t, specFile, strings.Replace(b.Spec, "      - name: backend3\n        address: "+b.Backends[2].Addr+"\n", "", 1))
	agent.Signal(t, syscall.SIGHUP)
	rt, err := haproxy.Dial(context.Background(), b.Admin, 0)
	if err != nil {
		t.Fatal(err)
	}
	lbtest.WaitFor(t, 15*time.Second, "backend3 drained", func() bool {
		servers, err := rt.Servers(context.Background(), "ws_cluster")
		if err != nil {
			return false
		}
		for _, s := range servers {
			if s.Server == "backend3" {
				return s.Admin != haproxy.Ready
			}
		}
		return true // already deleted
	})
	if out := agent.Output(); !strings.Contains(out, `"msg":"SIGHUP: reading the spec again"`) {
		t.Errorf("agent log has no SIGHUP line:\n%s", out)
	}

	agent.Signal(t, syscall.SIGTERM)
	receive("STOPPING=1")
	if !agent.Wait(15 * time.Second) {
		t.Fatal("agent still running after SIGTERM")
	}
	if code := agent.Cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("agent exit code %d after SIGTERM, want 0\n%s", code, agent.Output())
	}
	// --log-format json: every line is one JSON record.
	for line := range strings.Lines(agent.Output()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil || rec["msg"] == nil || rec["level"] == nil {
			t.Errorf("log line %q is no JSON record: %v", line, err)
		}
	}
}

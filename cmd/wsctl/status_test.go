package main

import (
	"encoding/json"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wsctl/wsctl/haproxy/haproxytest"
	"github.com/wsctl/wsctl/internal/cli"
)

func TestStatus(t *testing.T) {
	servers := haproxytest.Backends(t, "s1", "s2")
	f := startFixture(t, servers)
	haproxytest.StartClients(t, f.lb.URL(), 4, false)

	t.Run("table", func(t *testing.T) {
		r := execute(t, statusCmd, false, nil, "--socket", f.lb.AdminSocket)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.errOut)
		}
		lines := strings.Split(strings.TrimSpace(r.out), "\n")
		want := [][]string{
			{"BACKEND", "SERVER", "ADDR", "STATE", "ADMIN", "CHECK", "SCUR", "SMAX", "STOT", "WEIGHT"},
			{"other", "s2", servers[1].Addr, "UP", "READY", "-", "0", "0", "0", "1"},
			{"ws", "s1", servers[0].Addr, "UP", "READY", "L7OK", "2", "2", "2", "1"},
			{"ws", "s2", servers[1].Addr, "UP", "READY", "L7OK", "2", "2", "2", "1"},
		}
		var got [][]string
		for _, l := range lines {
			got = append(got, strings.Fields(l))
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("status table (-want +got):\n%s\n%s", diff, r.out)
		}
	})

	t.Run("json contract", func(t *testing.T) {
		r := execute(t, statusCmd, false, nil, "--socket", f.lb.AdminSocket, "-b", "ws", "-o", "json")
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.errOut)
		}
		var rows []map[string]any
		if err := json.Unmarshal([]byte(r.out), &rows); err != nil {
			t.Fatalf("%v\n%s", err, r.out)
		}
		if len(rows) != 2 {
			t.Fatalf("%d rows, want 2 (backend ws only)", len(rows))
		}
		var keys []string
		for k := range rows[0] {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		wantKeys := []string{"addr", "admin", "backend", "check", "scur", "server", "smax", "state", "stot", "weight"}
		if diff := cmp.Diff(wantKeys, keys); diff != "" {
			t.Errorf("keys (-want +got):\n%s", diff)
		}
		want := map[string]any{"backend": "ws", "server": "s1", "addr": servers[0].Addr, "state": "UP", "admin": "READY",
			"check": "L7OK", "scur": 2.0, "smax": 2.0, "stot": 2.0, "weight": 1.0}
		if diff := cmp.Diff(want, rows[0]); diff != "" {
			t.Errorf("ws/s1 (-want +got):\n%s", diff)
		}
	})

	t.Run("several sockets, one dead", func(t *testing.T) {
		dead := filepath.Join(t.TempDir(), "dead.sock")
		r := execute(t, statusCmd, false, nil, "--socket", f.lb.AdminSocket, "--socket", dead, "-b", "ws", "-o", "json")
		if r.code != exitError || !strings.Contains(r.errOut, dead) {
			t.Errorf("exit %d, stderr %q; want 2 naming %s", r.code, r.errOut, dead)
		}
		var rows []map[string]any
		if err := json.Unmarshal([]byte(r.out), &rows); err != nil || len(rows) != 2 || rows[0]["socket"] != f.lb.AdminSocket {
			t.Errorf("rows of the live socket = %v (%v), want 2 with socket %s", rows, err, f.lb.AdminSocket)
		}
	})

	t.Run("unknown backend", func(t *testing.T) {
		r := execute(t, statusCmd, false, nil, "--socket", f.lb.AdminSocket, "-b", "nope")
		if r.code != exitError || !strings.Contains(r.errOut, `unknown backend "nope"`) {
			t.Errorf("exit %d, stderr %q", r.code, r.errOut)
		}
	})
}

func TestStatusFlags(t *testing.T) {
	var got *StatusOptions
	cmd := NewCmdStatus(&Factory{IO: &cli.IOStreams{}}, func(o *StatusOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--socket", "/a.sock", "--socket", "/b,c.sock", "-b", "ws", "-o", "json"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"/a.sock", "/b,c.sock"}, got.Socket.Sockets); diff != "" || got.Backend != "ws" || got.Output != "json" {
		t.Errorf("options = %+v %s", got, diff)
	}
	cmd = NewCmdStatus(&Factory{IO: &cli.IOStreams{}}, func(o *StatusOptions) error { return nil })
	cmd.SetArgs([]string{"-o", "yaml"})
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	if err := cmd.Execute(); err == nil {
		t.Error("-o yaml accepted")
	}
}

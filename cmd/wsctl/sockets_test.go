package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/haproxy/haproxytest"
	"github.com/wsctl/wsctl/internal/cli"
	"github.com/wsctl/wsctl/internal/lbtest"
)

// runtimeCmd builds one of the runtime commands on the given streams.
type runtimeCmd func(io *cli.IOStreams) *cobra.Command

var (
	statusCmd runtimeCmd = func(io *cli.IOStreams) *cobra.Command { return NewCmdStatus(&Factory{IO: io}, nil) }
	drainCmd  runtimeCmd = func(io *cli.IOStreams) *cobra.Command { return NewCmdDrain(&Factory{IO: io}, nil) }
	readyCmd  runtimeCmd = func(io *cli.IOStreams) *cobra.Command { return NewCmdReady(&Factory{IO: io}, nil) }
	maintCmd  runtimeCmd = func(io *cli.IOStreams) *cobra.Command { return NewCmdMaint(&Factory{IO: io}, nil) }
)

// result is what a command run printed and its exit code.
type result struct {
	code        int
	out, errOut string
}

// execute runs the command as Main does (same exit code mapping and error
// line), with env as the whole environment and no spec to find.
func execute(t *testing.T, newCmd runtimeCmd, tty bool, env map[string]string, args ...string) result {
	t.Helper()
	return executeFinding(t, newCmd, tty, nil, env, args...)
}

// executeFinding is execute with the spec looked for in search.
func executeFinding(t *testing.T, newCmd runtimeCmd, tty bool, search []string, env map[string]string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	io := &cli.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut, IsTTY: tty, ErrTTY: tty,
		Getenv: func(k string) string { return env[k] }, SpecSearch: search}
	cmd := newCmd(io)
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.Execute()
	code := exitCode(err)
	if err != nil && code == exitError {
		fmt.Fprintf(&errOut, "wsctl: %v\n", err)
	}
	return result{code: code, out: out.String(), errOut: errOut.String()}
}

// fixture is an HAProxy with backend ws (s1, s2) and backend other, whose
// server s2 makes the bare name "s2" ambiguous.
type fixture struct {
	lb *haproxytest.LB
	c  *haproxy.Client
}

func startFixture(t *testing.T, servers []*lbtest.Wsecho) *fixture {
	t.Helper()
	if servers == nil {
		servers = haproxytest.Backends(t, "s1", "s2")
	}
	lb := haproxytest.StartLB(t, haproxytest.Config{Extra: "backend other\n    server s2 " + servers[1].Addr + "\n"}, servers)
	c, err := haproxy.Dial(context.Background(), lb.AdminSocket, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	waitChecked(t, c, "ws")
	return &fixture{lb: lb, c: c}
}

// waitChecked waits until the first health check of every server of
// backend has passed, so states and check columns are settled.
func waitChecked(t *testing.T, c *haproxy.Client, backend string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		all, err := c.Servers(context.Background(), backend)
		if err != nil {
			t.Fatal(err)
		}
		ok := true
		for _, s := range all {
			ok = ok && s.Check == "L7OK"
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("health checks of %s not passed after 5s: %+v", backend, all)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// admin returns the admin state of ws/server.
func (f *fixture) admin(t *testing.T, server string) haproxy.AdminState {
	t.Helper()
	s, err := f.c.Server(context.Background(), "ws", server)
	if err != nil {
		t.Fatal(err)
	}
	return s.Admin
}

// TestSocketErrorsExit2 checks that every command fails cleanly on a socket
// that is not there.
func TestSocketErrorsExit2(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "admin.sock")
	for _, tc := range []struct {
		name string
		cmd  runtimeCmd
		args []string
	}{
		{"status", statusCmd, nil},
		{"drain", drainCmd, []string{"s1"}},
		{"ready", readyCmd, []string{"s1"}},
		{"maint", maintCmd, []string{"s1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := execute(t, tc.cmd, false, nil, append(tc.args, "--socket", missing)...)
			if r.code != exitError {
				t.Fatalf("exit %d, want 2; stderr %q", r.code, r.errOut)
			}
			want := "wsctl: runtime: " + missing + ": no HAProxy socket: no such file"
			if !strings.HasPrefix(r.errOut, want) || r.out != "" {
				t.Errorf("stdout %q, stderr %q; want nothing and %q…", r.out, r.errOut, want)
			}
		})
	}
}

// TestSocketFromEnvAndSpec reaches a real HAProxy through $WSCTL_SOCKET and
// through -c.
func TestSocketFromEnvAndSpec(t *testing.T) {
	f := startFixture(t, nil)
	r := execute(t, statusCmd, false, map[string]string{socketEnv: f.lb.AdminSocket}, "-b", "ws")
	if r.code != 0 || strings.Count(r.out, "\n") != 3 {
		t.Errorf("status via %s: exit %d, stdout %q, stderr %q", socketEnv, r.code, r.out, r.errOut)
	}
	// The basic example puts its admin socket in $WSCTL_RUN_DIR.
	t.Setenv("WSCTL_RUN_DIR", f.lb.Dir)
	specPath := filepath.Join(lbtest.ModuleRoot(t), "examples", "basic", "wsctl.yaml")
	r = execute(t, statusCmd, false, nil, "-c", specPath, "-b", "ws")
	if r.code != 0 || strings.Count(r.out, "\n") != 3 {
		t.Errorf("status -c: exit %d, stdout %q, stderr %q", r.code, r.out, r.errOut)
	}
	// Without -c: the spec $WSCTL_CONFIG names, or the first found.
	absent := filepath.Join(t.TempDir(), "wsctl.yaml")
	r = executeFinding(t, statusCmd, false, []string{absent}, map[string]string{"WSCTL_CONFIG": specPath}, "-b", "ws")
	if r.code != 0 || strings.Count(r.out, "\n") != 3 {
		t.Errorf("status with $WSCTL_CONFIG: exit %d, stdout %q, stderr %q", r.code, r.out, r.errOut)
	}
	r = executeFinding(t, statusCmd, false, []string{absent, specPath}, nil, "-b", "ws")
	if r.code != 0 || strings.Count(r.out, "\n") != 3 {
		t.Errorf("status with the spec found: exit %d, stdout %q, stderr %q", r.code, r.out, r.errOut)
	}
}

// TestSocketNamesAreCheckedFirst tries to smuggle a second command through each
// command's SERVER argument; nothing reaches the socket.
func TestSocketNamesAreCheckedFirst(t *testing.T) {
	f := startFixture(t, nil)
	injected := []string{
		"s1;set server ws/s2 state maint",
		"s1\nset server ws/s2 state maint",
		"ws/s1;shutdown sessions server ws/s2",
		"ws\nset server ws/s2 state maint\n/s1",
		strings.Repeat("s", haproxy.MaxNameLen+1),
	}
	for _, cmd := range []runtimeCmd{drainCmd, readyCmd, maintCmd} {
		for _, name := range injected {
			r := execute(t, cmd, false, nil, name, "--socket", f.lb.AdminSocket)
			if r.code != exitError || !strings.Contains(r.errOut, "invalid name") {
				t.Errorf("%q: exit %d, stderr %q; want 2 and invalid name", name, r.code, r.errOut)
			}
		}
	}
	r := execute(t, statusCmd, false, nil, "-b", "ws;set server ws/s2 state maint", "--socket", f.lb.AdminSocket)
	if r.code != exitError || !strings.Contains(r.errOut, "invalid name") {
		t.Errorf("status -b injection: exit %d, stderr %q", r.code, r.errOut)
	}
	for _, s := range []string{"s1", "s2"} {
		if got := f.admin(t, s); got != haproxy.Ready {
			t.Errorf("ws/%s is %s after the injection attempts, want READY", s, got)
		}
	}
}

// TestSocketUnknownAndAmbiguousNames checks the messages that help the operator.
func TestSocketUnknownAndAmbiguousNames(t *testing.T) {
	f := startFixture(t, nil)
	tests := []struct {
		name string
		arg  string
		want string
	}{
		{"unknown", "nope", `unknown server "nope"; known servers: other/s2, ws/s1, ws/s2`},
		{"unknown in backend", "ws/nope", `unknown server "ws/nope"; known servers: ws/s1, ws/s2`},
		{"unknown backend", "nope/s1", `unknown backend "nope"; known backends: other, ws`},
		{"ambiguous", "s2", `server name "s2" is ambiguous; use one of: other/s2, ws/s2`},
	}
	for _, tt := range tests {
		for _, cmd := range []runtimeCmd{drainCmd, readyCmd, maintCmd} {
			r := execute(t, cmd, false, nil, tt.arg, "--socket", f.lb.AdminSocket)
			if r.code != exitError || !strings.Contains(r.errOut, tt.want) {
				t.Errorf("%s: exit %d, stderr %q; want 2 and %q", tt.name, r.code, r.errOut, tt.want)
			}
		}
	}
	for _, s := range []string{"s1", "s2"} {
		if got := f.admin(t, s); got != haproxy.Ready {
			t.Errorf("ws/%s is %s, want READY", s, got)
		}
	}
}

// TestSocketOptionsLoadOnce: a command's sockets, intents and fleet see
// the spec it loaded, even when the file changes meanwhile.
func TestSocketOptionsLoadOnce(t *testing.T) {
	dir := t.TempDir()
	text := "listeners: [{name: f, bind: '127.0.0.1:1', default_backend: ws}]\nbackends: [{name: ws}]\nhaproxy: {admin_socket: " + dir + "/SOCK}\n"
	specPath := writeFile(t, filepath.Join(dir, "wsctl.yaml"), strings.ReplaceAll(text, "SOCK", "a.sock"))
	ios := &cli.IOStreams{Getenv: func(string) string { return "" }, SpecSearch: []string{specPath}}
	opts := &SocketOptions{}
	if sp, err := opts.load(ios); err != nil || sp.HAProxy.AdminSocket != dir+"/a.sock" {
		t.Fatalf("load: %v, %v", sp, err)
	}
	writeFile(t, specPath, strings.ReplaceAll(text, "SOCK", "b.sock"))
	if got, err := opts.paths(ios); err != nil || !slices.Equal(got, []string{dir + "/a.sock"}) {
		t.Errorf("paths after the file changed: %v, %v; want the loaded spec's a.sock", got, err)
	}
}

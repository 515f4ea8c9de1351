package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/haproxy/haproxytest"
	"github.com/wsctl/wsctl/internal/cli"
	"github.com/wsctl/wsctl/internal/lbtest"
)

var topCmd runtimeCmd = func(io *cli.IOStreams) *cobra.Command { return NewCmdTop(&Factory{IO: io}, nil) }

// TestTopUnderTmux runs the built wsctl top in a detached tmux session of
// a fixed size against a real HAProxy with WebSockets: every server of the
// backend shows with its session count once tab switches to it, q quits
// with exit 0, and the shell's screen is back (the alternate screen left).
func TestTopUnderTmux(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tmux is not installed (make deps installs it)")
		}
		t.Skip("tmux is not installed (scripts/deps.sh tmux)")
	}
	bin := lbtest.GoBinary(t, "cmd/wsctl")
	f := startFixture(t, nil)
	clients := haproxytest.StartClients(t, f.lb.URL(), 5, false)
	want := clients.Connected()
	if want["s1"]+want["s2"] != 5 {
		t.Fatalf("clients connected %v, want 5", want)
	}

	dir := t.TempDir()
	status := filepath.Join(dir, "status")
	// Its own tmux server (-L): the developer's sessions are never touched.
	sock, session := fmt.Sprintf("wsctl-top-%d", os.Getpid()), "top"
	tmux := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("tmux", append([]string{"-L", sock}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	script := fmt.Sprintf("%s top --socket %s --master %s; echo exit=$? > %s; echo shell is back; exec sleep 600",
		bin, f.lb.AdminSocket, f.lb.MasterSocket, status)
	tmux("new-session", "-d", "-s", session, "-x", "160", "-y", "40", "sh", "-c", script)
	t.Cleanup(func() { _ = exec.Command("tmux", "-L", sock, "kill-session", "-t", session).Run() })
	pane := func() string { return tmux("capture-pane", "-p", "-t", session) }

	// The fixture's backends are "other" and "ws": "other" shows first.
	lbtest.WaitFor(t, 15*time.Second, "top showing backend other", func() bool { return strings.Contains(pane(), "backend other (1/2)") })
	tmux("send-keys", "-t", session, "Tab")
	rows := map[string]*regexp.Regexp{}
	for _, s := range []string{"s1", "s2"} {
		rows[s] = regexp.MustCompile(`(?m)^` + s + `\s+READY\s+UP\s+L7OK\s+` + fmt.Sprint(want[s]) + `\s`)
	}
	var last string
	lbtest.WaitFor(t, 15*time.Second, "every server of ws with its sessions", func() bool {
		last = pane()
		return strings.Contains(last, "backend ws (2/2)") && rows["s1"].MatchString(last) && rows["s2"].MatchString(last)
	})

	tmux("send-keys", "-t", session, "q")
	lbtest.WaitFor(t, 10*time.Second, "top exiting on q", func() bool {
		b, err := os.ReadFile(status)
		return err == nil && len(b) > 0
	})
	if b, _ := os.ReadFile(status); strings.TrimSpace(string(b)) != "exit=0" {
		t.Fatalf("top ended with %q, want exit=0; last screen:\n%s", b, last)
	}
	lbtest.WaitFor(t, 5*time.Second, "the shell's screen back", func() bool {
		p := pane()
		return strings.Contains(p, "shell is back") && !strings.Contains(p, "wsctl top")
	})
}

// TestTopRefusesWithoutTerminal exits 2 with a message when stdout is not
// a terminal, and --once prints one snapshot as plain text.
func TestTopRefusesWithoutTerminal(t *testing.T) {
	f := startFixture(t, nil)
	r := execute(t, topCmd, false, nil, "--socket", f.lb.AdminSocket)
	if r.code != exitError || !strings.Contains(r.errOut, "stdout is not one: use --once") {
		t.Errorf("exit %d, stderr %q; want 2 and the reason", r.code, r.errOut)
	}
	r = execute(t, topCmd, false, nil, "--socket", f.lb.AdminSocket, "--once")
	if r.code != 0 || !strings.Contains(r.out, "backend other (1/2)") || strings.Contains(r.out, "\x1b[") ||
		!regexp.MustCompile(`(?m)^s2\s+READY\s+UP\s+-\s+0\s`).MatchString(r.out) {
		t.Errorf("--once: exit %d, stdout %q, stderr %q", r.code, r.out, r.errOut)
	}
}

// TestTopRunOnce: top dials its sockets through the Factory as the other
// commands do, so --once runs on in-memory sockets: every server of each
// with its state and sessions, and a socket that cannot be dialled is
// exit 2 naming it before anything is drawn.
func TestTopRunOnce(t *testing.T) {
	a := haproxytest.NewRuntime(ws("s1", haproxy.Ready, haproxy.Up, 3), ws("s2", haproxy.Drain, haproxy.Up, 1))
	ios, out, _ := testIO()
	f := &Factory{IO: ios, Dial: fakeDial(map[string]*haproxytest.Runtime{"/a.sock": a})}
	if err := topRun(&TopOptions{IO: ios, Socket: SocketOptions{Sockets: []string{"/a.sock"}, Timeout: time.Second, dial: f.Dial}, Once: true}); err != nil {
		t.Fatal(err)
	}
	for _, row := range []string{`(?m)^s1\s+READY\s+UP\s+-\s+3\s`, `(?m)^s2\s+DRAIN\s+UP\s+-\s+1\s`} {
		if !regexp.MustCompile(row).MatchString(out.String()) {
			t.Errorf("no row %s in:\n%s", row, out)
		}
	}

	cmd := NewCmdTop(f, nil)
	cmd.SetArgs([]string{"--socket", "/a.sock", "--socket", "/dead.sock", "--once"})
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	ios.Out.(*bytes.Buffer).Reset()
	if err := cmd.Execute(); exitCode(err) != exitError || err == nil || !strings.Contains(err.Error(), "/dead.sock: no HAProxy socket") || out.Len() != 0 {
		t.Errorf("a dead socket: %v, stdout %q; want exit 2 naming it, nothing drawn", err, out)
	}
}

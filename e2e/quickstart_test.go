package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wsctl/wsctl/internal/lbtest"
)

// firstHour is a fresh copy of what a new user has: the examples, the
// README, bin/ with the built binaries and a Makefile whose build target
// only proves they are there (building is `make build`'s business, tested
// by using its output). env is all the environment the commands get:
// PATH with the proxies' directories, HOME and TMPDIR inside the copy.
type firstHour struct {
	dir string
	env []string
}

func newFirstHour(t *testing.T) *firstHour {
	t.Helper()
	root := lbtest.ModuleRoot(t)
	dir := t.TempDir()
	for _, sub := range []string{"bin", "tmp", "home"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.CopyFS(filepath.Join(dir, "examples"), os.DirFS(filepath.Join(root, "examples"))); err != nil {
		t.Fatal(err)
	}
	for _, pkg := range []string{"cmd/wsctl", "cmd/wsecho", "cmd/wsload"} {
		if err := os.Symlink(lbtest.GoBinary(t, pkg), filepath.Join(dir, "bin", filepath.Base(pkg))); err != nil {
			t.Fatal(err)
		}
	}
	mk := "build:\n\ttest -x bin/wsctl && test -x bin/wsecho && test -x bin/wsload\n"
	if err := os.WriteFile(filepath.Join(dir, "Makefile"), []byte(mk), 0o644); err != nil {
		t.Fatal(err)
	}
	path := []string{filepath.Dir(lbtest.Binary(t, "haproxy")), filepath.Dir(lbtest.Binary(t, "nginx")), "/usr/local/bin", "/usr/bin", "/bin"}
	return &firstHour{dir: dir, env: []string{
		"PATH=" + strings.Join(path, ":"),
		"HOME=" + filepath.Join(dir, "home"),
		"TMPDIR=" + filepath.Join(dir, "tmp"),
	}}
}

// run runs script with bash in the copy, in a process group of its own
// that is killed when it ends or the test does, and returns its stdout and
// stderr. Processes that left the group (haproxy -D) are the caller's.
func (f *firstHour) run(t *testing.T, script string, extraEnv ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = f.dir
	cmd.Env = append(append([]string{}, f.env...), extraEnv...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Start()
	if err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	defer syscall.Kill(-pgid, syscall.SIGKILL) // the backends, if the script failed before its kill
	err = cmd.Wait()
	return out.String(), errOut.String(), err
}

// quickstart returns the first sh block under README.md's "## Quickstart".
func quickstart(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(lbtest.ModuleRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "\n## Quickstart\n")
	if !ok {
		t.Fatal("README.md has no ## Quickstart section")
	}
	_, block, ok := strings.Cut(after, "```sh\n")
	if !ok {
		t.Fatal("README.md's Quickstart has no sh block")
	}
	block, _, ok = strings.Cut(block, "```")
	if !ok {
		t.Fatal("README.md's Quickstart sh block is not closed")
	}
	return block
}

// TestReadmeQuickstart runs the README's Quickstart as written, line by
// line with bash -e, in a fresh copy: any failing command, and any warning
// or alert of HAProxy's, fails the test. It needs the basic example's
// fixed ports free.
func TestReadmeQuickstart(t *testing.T) {
	f := newFirstHour(t)
	for _, port := range []int{8080, 8404, 9001, 9002, 9003} {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Fatalf("port %d is in use: the Quickstart's basic example needs 8080, 8404 and 9001-9003", port)
		}
	}
	// haproxy -D leaves the script's process group: stop it by its pid
	// file whatever happened.
	t.Cleanup(func() {
		pids, _ := filepath.Glob(filepath.Join(f.dir, "tmp", "*", "haproxy.pid"))
		for _, p := range pids {
			b, _ := os.ReadFile(p)
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	script := quickstart(t)
	out, errOut, err := f.run(t, script)
	if err != nil {
		t.Fatalf("the Quickstart failed: %v\nscript:\n%s\nstdout:\n%s\nstderr:\n%s", err, script, out, errOut)
	}
	for _, bad := range []string{"[WARNING]", "[ALERT]", "DOWN"} {
		if strings.Contains(out+errOut, bad) {
			t.Errorf("the Quickstart's output has %s:\nstdout:\n%s\nstderr:\n%s", bad, out, errOut)
		}
	}
	for _, want := range []string{"same", "backend1", "backend3"} {
		if !strings.Contains(out, want) {
			t.Errorf("the Quickstart's stdout lacks %q:\n%s", want, out)
		}
	}
	// Its last line stopped everything it started.
	lbtest.WaitFor(t, 10*time.Second, "the Quickstart's processes to stop", func() bool {
		c, err := net.DialTimeout("tcp", "127.0.0.1:8080", 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
}

// TestExamplesCheck runs `wsctl check` on every example for both targets
// in a fresh copy with nothing but WSCTL_RUN_DIR set: no certificate, no
// nginx temp dir, no Consul.
func TestExamplesCheck(t *testing.T) {
	f := newFirstHour(t)
	specs, err := filepath.Glob(filepath.Join(f.dir, "examples", "*", "wsctl.yaml"))
	if err != nil || len(specs) < 3 {
		t.Fatalf("examples: %v %v", specs, err)
	}
	for _, spec := range specs {
		rel, _ := filepath.Rel(f.dir, spec)
		for _, target := range []string{"haproxy", "nginx"} {
			t.Run(filepath.Base(filepath.Dir(spec))+"/"+target, func(t *testing.T) {
				runDir := t.TempDir()
				out, errOut, err := f.run(t, fmt.Sprintf("bin/wsctl check -c %s --target %s", rel, target), "WSCTL_RUN_DIR="+runDir)
				if err != nil {
					t.Fatalf("wsctl check -c %s --target %s: %v\nstdout:\n%s\nstderr:\n%s", rel, target, err, out, errOut)
				}
				if !strings.Contains(out, "is valid") {
					t.Errorf("stdout lacks the verdict:\n%s", out)
				}
			})
		}
	}
}

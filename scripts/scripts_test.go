// Package scripts holds the set-up scripts; its tests run them with fake
// tools on PATH, so nothing is installed, built or stopped.
package scripts

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// sandbox is a copy of the scripts in a tree of their own (no .cache), a
// PATH of fakes and the few real tools the scripts use, and a log each fake
// appends its command line to.
type sandbox struct {
	root, bin, log string
}

func newSandbox(t *testing.T) *sandbox {
	t.Helper()
	dir := t.TempDir()
	s := &sandbox{root: filepath.Join(dir, "repo"), bin: filepath.Join(dir, "bin"), log: filepath.Join(dir, "calls.log")}
	for _, d := range []string{filepath.Join(s.root, "scripts"), s.bin} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"consul.sh", "deps.sh"} {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(s.root, "scripts", name), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, tool := range []string{"bash", "dirname", "id", "head", "mktemp", "mkdir", "rm", "mv", "env"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Fatalf("%s: %v", tool, err)
		}
		if err := os.Symlink(p, filepath.Join(s.bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	// Whatever would install, build or stop something only says it was
	// called; go fails too, so a build can't go on.
	s.fake(t, "apt-get", "")
	s.fake(t, "systemctl", "")
	s.fake(t, "go", "exit 1")
	s.fake(t, "sudo", `exec "$@"`)
	return s
}

// fake writes a tool that logs its command line, then runs body.
func (s *sandbox) fake(t *testing.T, name, body string) {
	t.Helper()
	script := "#!/bin/sh\necho \"" + name + " $*\" >>" + s.log + "\n" + body + "\n"
	if err := os.WriteFile(filepath.Join(s.bin, name), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// run runs a script of the sandbox with PATH holding only its bin.
func (s *sandbox) run(t *testing.T, script string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(s.bin, "bash"), append([]string{filepath.Join(s.root, "scripts", script)}, args...)...)
	cmd.Env = []string{"PATH=" + s.bin, "HOME=" + s.root, "CONSUL_VERSION=v9.9.9"}
	out, err := cmd.Output()
	return string(out), err
}

func (s *sandbox) calls(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(s.log)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

// TestConsulOnPathAtThePinnedVersion: a consul on PATH that reports the
// pinned version is used, and nothing is built.
func TestConsulOnPathAtThePinnedVersion(t *testing.T) {
	s := newSandbox(t)
	s.fake(t, "consul", `echo "Consul v9.9.9"; echo "Revision 0"`)
	out, err := s.run(t, "consul.sh")
	if want := filepath.Join(s.bin, "consul") + "\n"; err != nil || out != want {
		t.Errorf("consul.sh printed %q, %v; want %q", out, err, want)
	}
	if calls := s.calls(t); strings.Contains(calls, "go ") {
		t.Errorf("consul.sh built consul:\n%s", calls)
	}
	if _, err := os.Stat(filepath.Join(s.root, ".cache")); !os.IsNotExist(err) {
		t.Errorf(".cache was created: %v", err)
	}
}

// TestConsulOnPathAtAnotherVersion: another version on PATH is not used;
// the pinned one is built (here the fake go fails, so the script does).
func TestConsulOnPathAtAnotherVersion(t *testing.T) {
	s := newSandbox(t)
	s.fake(t, "consul", `echo "Consul v1.0.0"`)
	out, err := s.run(t, "consul.sh")
	if err == nil || out != "" || !strings.Contains(s.calls(t), "go mod init consulbuild") {
		t.Errorf("consul.sh printed %q, %v; want a build (calls: %s)", out, err, s.calls(t))
	}
}

// TestDepsInstallsOnlyWhatIsAskedAndStopsNothing: with socat missing, the
// demo's `deps.sh haproxy` installs nothing; the full set installs socat
// alone, uses the consul on PATH, and never touches a service.
func TestDepsInstallsOnlyWhatIsAskedAndStopsNothing(t *testing.T) {
	s := newSandbox(t)
	s.fake(t, "haproxy", "")
	s.fake(t, "nginx", "")
	s.fake(t, "promtool", "")
	s.fake(t, "tmux", "")
	s.fake(t, "consul", `echo "Consul v9.9.9"`)

	if _, err := s.run(t, "deps.sh", "haproxy"); err != nil {
		t.Fatalf("deps.sh haproxy: %v", err)
	}
	if calls := s.calls(t); calls != "" {
		t.Errorf("deps.sh haproxy with haproxy present ran:\n%s", calls)
	}

	if _, err := s.run(t, "deps.sh"); err != nil {
		t.Fatalf("deps.sh: %v", err)
	}
	calls := s.calls(t)
	if !strings.Contains(calls, "apt-get install -y -qq --no-install-recommends socat\n") {
		t.Errorf("socat not installed alone:\n%s", calls)
	}
	for _, bad := range []string{"systemctl", "service", "haproxy", "nginx", "go "} {
		if strings.Contains(calls, bad) {
			t.Errorf("deps.sh ran %q:\n%s", bad, calls)
		}
	}

	if _, err := s.run(t, "deps.sh", "envoy"); err == nil {
		t.Error("deps.sh envoy: want an error")
	}
}

// Package statefiletest makes the hostile directory a state file may live
// in, for tests that prove a writer or reader of state refuses what another
// user planted there.
package statefiletest

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Nobody is the uid and gid that own the hostile directory and the files
// planted in it.
const Nobody = 65534

// Dir is a directory like Debian's /run/haproxy (mode 2775, owned by
// another user) and a root-only file outside it that links planted in it
// point at.
type Dir struct {
	// Path is the directory.
	Path string
	// Target is the root-only file (mode 0600) that must never change.
	Target string
}

const secret = "root only\n"

// New makes the directory and the target. Changing owners needs root, as
// the tests run.
func New(t testing.TB) *Dir {
	t.Helper()
	d := &Dir{Path: filepath.Join(t.TempDir(), "run-haproxy"), Target: filepath.Join(t.TempDir(), "root-only")}
	if err := os.Mkdir(d.Path, 0o755); err != nil {
		t.Fatal(err)
	}
	// chmod after chown: chown clears the setgid bit.
	if err := os.Chown(d.Path, Nobody, Nobody); err != nil {
		t.Fatalf("chown (tests run as root): %v", err)
	}
	if err := os.Chmod(d.Path, 0o775|os.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.Target, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	return d
}

// Link plants name in the directory as a symbolic link to Target, as the
// directory's owner would, and returns its path.
func (d *Dir) Link(t testing.TB, name string) string {
	t.Helper()
	path := filepath.Join(d.Path, name)
	if err := os.Symlink(d.Target, path); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(path, Nobody, Nobody); err != nil {
		t.Fatal(err)
	}
	return path
}

// Foreign plants name in the directory as a regular file holding data,
// owned by the directory's owner, and returns its path.
func (d *Dir) Foreign(t testing.TB, name, data string) string {
	t.Helper()
	path := filepath.Join(d.Path, name)
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, Nobody, Nobody); err != nil {
		t.Fatal(err)
	}
	return path
}

// Check fails t unless Target still holds what New wrote, with its mode and
// owner, and each link planted at paths is still a link.
func (d *Dir) Check(t testing.TB, links ...string) {
	t.Helper()
	got, err := os.ReadFile(d.Target)
	fi, serr := os.Stat(d.Target)
	if err != nil || serr != nil || !bytes.Equal(got, []byte(secret)) {
		t.Errorf("%s was written through a link: holds %q (%v, %v)", d.Target, got, err, serr)
		return
	}
	if st := fi.Sys().(*syscall.Stat_t); fi.Mode().Perm() != 0o600 || st.Uid != 0 {
		t.Errorf("%s changed: mode %v, uid %d", d.Target, fi.Mode().Perm(), st.Uid)
	}
	for _, l := range links {
		if fi, err := os.Lstat(l); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Errorf("%s is no longer the planted link (%v)", l, err)
		}
	}
}

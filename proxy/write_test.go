package proxy

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/wsctl/wsctl/internal/inputfile/inputfiletest"
)

// TestWriteAtomicRefusesNonRegularFiles: each kind of file render -o must not
// replace (as root it replaced /dev/null, read a device until out of memory,
// hung on a FIFO) is refused by name and kind and left as it was.
func TestWriteAtomicRefusesNonRegularFiles(t *testing.T) {
	paths := inputfiletest.Specials(t)
	for kind, path := range paths {
		before, _ := os.Lstat(path)
		changed, err := WriteAtomic(path, []byte("global\n"))
		want := "write " + path + ": not a regular file (" + kind + ")"
		if changed || err == nil || err.Error() != want {
			t.Errorf("%s: changed %v, err %v; want %q", kind, changed, err, want)
		}
		after, err := os.Lstat(path)
		if err != nil || after.Mode() != before.Mode() {
			t.Errorf("%s: was replaced: mode %v, now %v (%v)", kind, before.Mode(), after.Mode(), err)
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(paths["FIFO"]))
	if len(entries) != len(paths) {
		t.Errorf("temp files left behind: %v", entries)
	}
}

// TestWriteAtomicThroughSymlink: the link's target is replaced, the link stays
// a link; a link to a device is refused.
func TestWriteAtomicThroughSymlink(t *testing.T) {
	repo, etc := t.TempDir(), t.TempDir()
	target := filepath.Join(repo, "haproxy.cfg")
	link := filepath.Join(etc, "haproxy.cfg")
	if err := os.WriteFile(target, []byte("old\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if changed, err := WriteAtomic(link, []byte("new\n")); err != nil || !changed {
		t.Fatalf("changed %v, err %v", changed, err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced: %v, %v", fi.Mode(), err)
	}
	got, _ := os.ReadFile(target)
	fi, _ := os.Stat(target)
	if string(got) != "new\n" || fi.Mode().Perm() != 0o640 {
		t.Errorf("target holds %q mode %v, want %q mode 0640", got, fi.Mode().Perm(), "new\n")
	}
	if entries, _ := os.ReadDir(etc); len(entries) != 1 {
		t.Errorf("temp files left next to the link: %v", entries)
	}
	if changed, err := WriteAtomic(link, []byte("new\n")); err != nil || changed {
		t.Errorf("same bytes through the link: changed %v, err %v", changed, err)
	}

	dev := filepath.Join(repo, "null")
	if err := syscall.Mknod(dev, syscall.S_IFCHR|0o666, 1<<8|3); err != nil {
		t.Fatal(err)
	}
	devLink := filepath.Join(etc, "null.cfg")
	if err := os.Symlink(dev, devLink); err != nil {
		t.Fatal(err)
	}
	_, err := WriteAtomic(devLink, []byte("x"))
	if want := "write " + devLink + ": link to " + dev + ": not a regular file (character device)"; err == nil || err.Error() != want {
		t.Errorf("link to a device: got %v, want %q", err, want)
	}
	if fi, _ := os.Lstat(dev); fi.Mode()&os.ModeCharDevice == 0 {
		t.Errorf("the device was replaced: %v", fi.Mode())
	}

	dangling := filepath.Join(etc, "dangling.cfg")
	if err := os.Symlink(filepath.Join(repo, "missing"), dangling); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteAtomic(dangling, []byte("x")); err == nil || !strings.Contains(err.Error(), dangling+": symbolic link to a missing") {
		t.Errorf("dangling link: got %v", err)
	}
}

// TestWriteAtomicKeepsOwner: a config owned by another user (haproxy's, say)
// keeps its owner and group when root replaces it.
func TestWriteAtomicKeepsOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("tests run as root: only root can give a file away")
	}
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte("old\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, 12345, 23456); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteAtomic(path, []byte("new\n")); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	st := fi.Sys().(*syscall.Stat_t)
	if st.Uid != 12345 || st.Gid != 23456 || fi.Mode().Perm() != 0o640 {
		t.Errorf("got owner %d:%d mode %v, want 12345:23456 mode 0640", st.Uid, st.Gid, fi.Mode().Perm())
	}
}

// TestWriteAtomicDiskFull: a write that fails for want of space says so
// in the same words every time (no random temp name), so the agent's log
// counts the repeats instead of printing one line a second, and leaves
// no temp file behind.
func TestWriteAtomicDiskFull(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=16k"); err != nil {
		t.Fatalf("mount a 16 KiB tmpfs (the tests run as root): %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, 0) })
	path := filepath.Join(dir, "haproxy.cfg")
	data := bytes.Repeat([]byte("x"), 64<<10)
	_, err1 := WriteAtomic(path, data)
	_, err2 := WriteAtomic(path, data)
	if err1 == nil || !errors.Is(err1, syscall.ENOSPC) {
		t.Fatalf("WriteAtomic on a full disk: %v, want ENOSPC", err1)
	}
	if err2 == nil || err1.Error() != err2.Error() {
		t.Errorf("two failures read differently:\n%v\n%v", err1, err2)
	}
	if strings.Contains(err1.Error(), ".tmp-") {
		t.Errorf("error names the temp file: %v", err1)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}

// TestWriteAtomicNewFileNotWorldReadable: a config can hold the stats
// page's password, so a new file is 0640, not 0644.
func TestWriteAtomicNewFileNotWorldReadable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if _, err := WriteAtomic(path, []byte("global\n")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o640 {
		t.Errorf("new file mode %v, want 0640", got)
	}
}

package statefile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/wsctl/wsctl/internal/inputfile/inputfiletest"
	"github.com/wsctl/wsctl/internal/statefile/statefiletest"
)

var writers = map[string]func(string, []byte) (bool, error){"Write": Write, "Replace": Replace, "Overwrite": Overwrite}

// TestRefusesPlantedLink: in a directory another user can write (Debian's
// /run/haproxy), a link planted under a state file's name is refused by
// every reader and writer, and its root-only target is left as it was.
func TestRefusesPlantedLink(t *testing.T) {
	d := statefiletest.New(t)
	link := d.Link(t, "server-state")
	want := link + ": refusing to follow symbolic link (to " + d.Target + "): a state file must be a regular file"
	for name, write := range writers {
		if changed, err := write(link, []byte("1\n")); changed || err == nil || err.Error() != want {
			t.Errorf("%s: changed %v, err %v; want %q", name, changed, err, want)
		}
	}
	if _, err := Read(link, 1<<20); err == nil || err.Error() != want {
		t.Errorf("Read: got %v, want %q", err, want)
	}
	lock := d.Link(t, "wsctl-intents.json.lock")
	if f, err := Lock(lock); err == nil || !strings.Contains(err.Error(), "refusing to follow symbolic link") {
		t.Errorf("Lock: got %v, want a refusal", err)
		if f != nil {
			f.Close()
		}
	}
	d.Check(t, link, lock)
	if entries, _ := os.ReadDir(d.Path); len(entries) != 2 {
		t.Errorf("files left behind: %v", entries)
	}
}

// TestRefusesForeignFiles: a file another user owns or may write, or that
// has another name elsewhere, is refused by name and reason, and not
// replaced.
func TestRefusesForeignFiles(t *testing.T) {
	d := statefiletest.New(t)
	foreign := d.Foreign(t, "foreign.json", "[]\n")
	writable := filepath.Join(d.Path, "writable.json")
	if err := os.WriteFile(writable, []byte("[]\n"), 0o664); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(writable, 0o664); err != nil { // past the umask
		t.Fatal(err)
	}
	hard := filepath.Join(d.Path, "hard.json")
	if err := os.Link(d.Target, hard); err != nil {
		t.Fatal(err)
	}
	for path, why := range map[string]string{
		foreign:  "owned by uid 65534, not 0: refusing a state file another user controls",
		writable: "writable by group or others (mode 0664): refusing a state file another user controls",
		hard:     "has 2 hard links: refusing a state file that may be another file",
	} {
		want := path + ": " + why
		if _, err := Read(path, 1<<20); err == nil || err.Error() != want {
			t.Errorf("Read: got %v, want %q", err, want)
		}
		if _, err := Write(path, []byte("[{}]\n")); err == nil || err.Error() != want {
			t.Errorf("Write: got %v, want %q", err, want)
		}
	}
	if got, _ := os.ReadFile(foreign); string(got) != "[]\n" {
		t.Errorf("%s replaced: %q", foreign, got)
	}
	d.Check(t)
}

// TestRefusesNonRegularFiles: a FIFO or a device is neither opened nor
// replaced.
func TestRefusesNonRegularFiles(t *testing.T) {
	for kind, path := range inputfiletest.Specials(t) {
		want := path + ": not a regular file (" + kind + ")"
		if _, err := Read(path, 1<<20); err == nil || err.Error() != want {
			t.Errorf("Read %s: got %v, want %q", kind, err, want)
		}
		if _, err := Write(path, []byte("x")); err == nil || err.Error() != want {
			t.Errorf("Write %s: got %v, want %q", kind, err, want)
		}
	}
}

// TestWriteAndRead: the normal path, in the hostile directory too: a new
// file is created 0644, an equal write is skipped, a replaced file keeps
// its mode, nothing is left behind, and a missing file is fs.ErrNotExist.
func TestWriteAndRead(t *testing.T) {
	dir := statefiletest.New(t).Path
	path := filepath.Join(dir, "wsctl-agent-state.json")
	if _, err := Read(path, 1<<20); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing: got %v, want not exist", err)
	}
	for name, write := range writers {
		if changed, err := write(path, []byte(name)); err != nil || !changed {
			t.Fatalf("%s: changed %v, err %v", name, changed, err)
		}
		if changed, err := write(path, []byte(name)); err != nil || changed {
			t.Errorf("%s again: changed %v, err %v; want skipped", name, changed, err)
		}
		if got, err := Read(path, 1<<20); err != nil || string(got) != name {
			t.Errorf("Read after %s: %q, %v", name, got, err)
		}
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Errorf("new file mode %v, want 0644", fi.Mode().Perm())
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Write(path, []byte("more")); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("replaced file mode %v, want 0600 kept", fi.Mode().Perm())
	}
	if _, err := Read(path, 3); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("over the limit: got %v", err)
	}
	lock, err := Lock(path + ".lock")
	if err != nil {
		t.Fatal(err)
	}
	lock.Close()
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("want the file and its lock, got %v", entries)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(path+".lock", &st); err != nil || st.Mode&0o777 != 0o600 {
		t.Errorf("lock file mode %o, %v; want 0600", st.Mode&0o777, err)
	}
}

// TestOverwriteInPlace: Overwrite rewrites the file itself (same inode: no
// temp file, no rename in the path of every change), longer or shorter,
// and keeps its mode; a missing file is created.
func TestOverwriteInPlace(t *testing.T) {
	path := filepath.Join(statefiletest.New(t).Path, "wsctl-agent-state.json")
	inode := func() uint64 {
		var st syscall.Stat_t
		if err := syscall.Stat(path, &st); err != nil {
			t.Fatal(err)
		}
		return st.Ino
	}
	if _, err := Overwrite(path, []byte(`{"changing": ["ws/a", "ws/b"]}`)); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	created := inode()
	for _, data := range []string{`{}`, `{"changing": ["ws/a", "ws/b", "ws/c"]}`, `{"drains": {}}`} {
		if changed, err := Overwrite(path, []byte(data)); err != nil || !changed {
			t.Fatalf("Overwrite %s: changed %v, err %v", data, changed, err)
		}
		if got, err := Read(path, 1<<20); err != nil || string(got) != data {
			t.Errorf("Read after Overwrite %s: %q, %v", data, got, err)
		}
		if inode() != created {
			t.Errorf("Overwrite %s replaced the file (a new inode)", data)
		}
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("overwritten file mode %v, want 0600 kept", fi.Mode().Perm())
	}
}

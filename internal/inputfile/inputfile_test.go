package inputfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/wsctl/wsctl/internal/inputfile/inputfiletest"
)

func TestReadRefusesNonRegularFiles(t *testing.T) {
	for kind, path := range inputfiletest.Specials(t) {
		_, err := Read(path, MaxConfig)
		want := path + ": not a regular file (" + kind + ")"
		if err == nil || err.Error() != want || !errors.Is(err, ErrNotRegular) {
			t.Errorf("%s: got %v, want %q", kind, err, want)
		}
	}
}

func TestReadFollowsSymlinks(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real.yaml")
	link := filepath.Join(dir, "link.yaml")
	if err := os.WriteFile(target, []byte("proxy: haproxy\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	got, err := Read(link, MaxSpec)
	if err != nil || string(got) != "proxy: haproxy\n" {
		t.Errorf("got %q, %v", got, err)
	}
	// A link to a FIFO is refused like the FIFO itself.
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(fifo, filepath.Join(dir, "fifolink")); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(filepath.Join(dir, "fifolink"), MaxSpec); !errors.Is(err, ErrNotRegular) {
		t.Errorf("link to a FIFO: got %v, want %v", err, ErrNotRegular)
	}
}

func TestReadLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.cfg")
	if err := os.WriteFile(path, make([]byte, 2<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := Read(path, 2<<10); err != nil || len(got) != 2<<10 {
		t.Errorf("at the limit: got %d bytes, %v", len(got), err)
	}
	_, err := Read(path, 1<<10)
	want := path + ": too large (over the 1 KiB limit)"
	if err == nil || err.Error() != want || !errors.Is(err, ErrTooLarge) {
		t.Errorf("over the limit: got %v, want %q", err, want)
	}
	if _, err := Read(filepath.Join(t.TempDir(), "missing"), 1); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: got %v, want not exist", err)
	}
}

func TestReadFrom(t *testing.T) {
	if got, err := ReadFrom("<stdin>", strings.NewReader("abc"), 3); err != nil || string(got) != "abc" {
		t.Errorf("got %q, %v", got, err)
	}
	_, err := ReadFrom("<stdin>", strings.NewReader("abcd"), 3)
	if want := "<stdin>: too large (over the 3 bytes limit)"; err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
}

// Package inputfiletest makes the files that are not regular files, for tests
// that prove a reader or writer refuses them.
package inputfiletest

import (
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Specials makes one file of each kind a reader or writer of config files
// must refuse, in a new temp dir (never the real /dev), and returns their
// paths by the kind inputfile.Kind names. The character device has /dev/zero's
// numbers, so reading it never ends; the FIFO has no writer, so opening it for
// reading blocks. Making a device needs root, as the tests run.
func Specials(t testing.TB) map[string]string {
	t.Helper()
	dir := t.TempDir()
	paths := map[string]string{
		"FIFO":             filepath.Join(dir, "fifo"),
		"character device": filepath.Join(dir, "zero"),
		"directory":        filepath.Join(dir, "dir"),
		"socket":           filepath.Join(dir, "sock"),
	}
	if err := syscall.Mkfifo(paths["FIFO"], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mknod(paths["character device"], syscall.S_IFCHR|0o666, 1<<8|5); err != nil {
		t.Fatalf("mknod (tests run as root): %v", err)
	}
	if err := os.Mkdir(paths["directory"], 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", paths["socket"])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return paths
}

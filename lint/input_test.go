package lint

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestLintFileRefusesNonRegularFiles: a zero device read until memory ran out
// and a FIFO hung lint, as the main file or as an nginx include. Both live in
// a temp dir (never the real /dev).
func TestLintFileRefusesNonRegularFiles(t *testing.T) {
	dir := t.TempDir()
	zero := filepath.Join(dir, "zero")
	if err := syscall.Mknod(zero, syscall.S_IFCHR|0o666, 1<<8|5); err != nil {
		t.Fatalf("mknod (tests run as root): %v", err)
	}
	fifo := filepath.Join(dir, "upstreams.conf")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LintFile(zero, testOptions); err == nil || err.Error() != "lint: "+zero+": not a regular file (character device)" {
		t.Errorf("device: got %v", err)
	}
	if _, err := LintFile(fifo, testOptions); err == nil || err.Error() != "lint: "+fifo+": not a regular file (FIFO)" {
		t.Errorf("FIFO: got %v", err)
	}
	main := filepath.Join(dir, "nginx.conf")
	config := strings.Replace(nginxClean, "http {", "http {\n    include upstreams.conf;", 1)
	if err := os.WriteFile(main, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LintFile(main, testOptions); err == nil || !strings.Contains(err.Error(), fifo+": not a regular file (FIFO)") {
		t.Errorf("FIFO include: got %v", err)
	}
}

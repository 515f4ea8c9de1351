package lint

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wsctl/wsctl/internal/inputfile/inputfiletest"
)

// TestLintFileRefusesNonRegularFiles: a zero device read until memory ran out
// and a FIFO hung lint, as the main file or as an nginx include.
func TestLintFileRefusesNonRegularFiles(t *testing.T) {
	special := inputfiletest.Specials(t)
	zero, fifo := special["character device"], special["FIFO"]
	if _, err := LintFile(zero, testOptions); err == nil || err.Error() != "lint: "+zero+": not a regular file (character device)" {
		t.Errorf("device: got %v", err)
	}
	if _, err := LintFile(fifo, testOptions); err == nil || err.Error() != "lint: "+fifo+": not a regular file (FIFO)" {
		t.Errorf("FIFO: got %v", err)
	}
	main := filepath.Join(filepath.Dir(fifo), "nginx.conf")
	config := strings.Replace(nginxClean, "http {", "http {\n    include "+filepath.Base(fifo)+";", 1)
	if err := os.WriteFile(main, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LintFile(main, testOptions); err == nil || !strings.Contains(err.Error(), fifo+": not a regular file (FIFO)") {
		t.Errorf("FIFO include: got %v", err)
	}
}

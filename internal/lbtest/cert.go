package lbtest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/wsctl/wsctl/internal/selfsigned"
)

// WriteCert writes a self-signed certificate and its key into one PEM file,
// the form HAProxy's `crt` and nginx both read.
func WriteCert(t testing.TB, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := selfsigned.WriteFile(path, "localhost"); err != nil {
		t.Fatal(err)
	}
}

package main

import (
	"path/filepath"
	"testing"

	"github.com/wsctl/wsctl/internal/lbtest"
)

// TestPackagedSpecChecks keeps the spec the Debian package installs as
// /etc/wsctl/wsctl.yaml valid: CI runs `wsctl check` on it after install.
func TestPackagedSpecChecks(t *testing.T) {
	lbtest.Binary(t, "haproxy")
	io, out, errOut := testIO()
	spec := filepath.Join(lbtest.ModuleRoot(t), "packaging", "wsctl.yaml")
	if code := Main([]string{"check", "-c", spec}, io); code != 0 {
		t.Fatalf("wsctl check -c %s: exit %d\n%s%s", spec, code, out, errOut)
	}
}

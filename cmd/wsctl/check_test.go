package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wsctl/wsctl/internal/binpath"
	"github.com/wsctl/wsctl/internal/lbtest"
)

// TestCheckWithGivenBinary validates with the binary --haproxy names (in
// `make test`'s second pass, HAProxy 3.0), over $WSCTL_HAPROXY; a binary
// that is not there, or a flag for the other proxy, is exit 2.
func TestCheckWithGivenBinary(t *testing.T) {
	real := lbtest.Binary(t, "haproxy")
	spec := basicSpec(t)
	dir := t.TempDir()
	// Its own name shows in the output: proof that it, not the default, ran.
	prod := filepath.Join(dir, "haproxy-prod")
	if err := os.Symlink(real, prod); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "no-haproxy")
	t.Setenv(binpath.EnvHAProxy, missing)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string // substring of stdout
		wantErr  string // substring of stderr
	}{
		{"the flag's binary", []string{"--haproxy", prod}, 0, "haproxy-prod: config for 1 backend(s) is valid", ""},
		{"WSCTL_HAPROXY without the flag", nil, 2, "", binpath.EnvHAProxy + "=" + missing},
		{"a missing binary", []string{"--haproxy", missing}, 2, "", "haproxy binary " + missing + ": binary not found"},
		{"nginx's flag for haproxy", []string{"--nginx", prod}, 2, "", "--nginx: the config is for haproxy"},
		{"haproxy's flag for nginx", []string{"--target", "nginx", "--haproxy", prod}, 2, "", "--haproxy: the config is for nginx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			io, out, errOut := testIO()
			code := Main(append([]string{"check", "-c", spec}, tt.args...), io)
			if code != tt.wantCode || !strings.Contains(out.String(), tt.wantOut) || !strings.Contains(errOut.String(), tt.wantErr) {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantCode, out, errOut)
			}
		})
	}
}

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"

	"github.com/wsctl/wsctl/internal/buildinfo"
)

// decodeJSON decodes a command's whole stdout into v, strictly: a field
// the test's struct does not know fails, so a rename cannot pass.
func decodeJSON(t *testing.T, out string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode: %v\n%s", err, out)
	}
	if dec.More() {
		t.Fatalf("more than one JSON value:\n%s", out)
	}
}

// TestVersionJSON: version -o json is one object with the version, the
// commit and the Go version, the same as the text.
func TestVersionJSON(t *testing.T) {
	io, out, errOut := testIO()
	if code := Main([]string{"version", "-o", "json"}, io); code != 0 {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	var got buildinfo.Info
	decodeJSON(t, out.String(), &got)
	if got != build() || got.GoVersion != goruntime.Version() || got.Version == "" {
		t.Errorf("got %+v, want %+v with go %s", got, build(), goruntime.Version())
	}
	io, _, errOut = testIO()
	if code := Main([]string{"version", "-o", "yaml"}, io); code != exitError {
		t.Errorf("-o yaml: exit %d, want 2 (%s)", code, errOut)
	}
}

// TestDiffJSON: diff -o json says same or not, with the diff text and the
// paths, and keeps the exit codes (0 same, 1 differs).
func TestDiffJSON(t *testing.T) {
	spec := basicSpec(t)
	deployed := filepath.Join(t.TempDir(), "haproxy.cfg")
	io, _, errOut := testIO()
	if code := Main([]string{"render", "-c", spec, "-o", deployed}, io); code != 0 {
		t.Fatalf("render: exit %d, %s", code, errOut)
	}
	var got diffJSON
	io, out, errOut := testIO()
	if code := Main([]string{"diff", "-c", spec, "--against", deployed, "-o", "json"}, io); code != 0 {
		t.Fatalf("exit %d, want 0\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	decodeJSON(t, out.String(), &got)
	if want := (diffJSON{Same: true, Against: deployed, Spec: spec, Target: "haproxy"}); got != want {
		t.Errorf("same config: got %+v, want %+v", got, want)
	}

	text, err := os.ReadFile(deployed)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, deployed, strings.Replace(string(text), "timeout tunnel", "timeout tunnel 1s\n    # timeout tunnel", 1))
	io, out, errOut = testIO()
	if code := Main([]string{"diff", "-c", spec, "--against", deployed, "-o", "json"}, io); code != exitFindings {
		t.Fatalf("exit %d, want 1\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	got = diffJSON{}
	decodeJSON(t, out.String(), &got)
	if got.Same || !strings.HasPrefix(got.Diff, "--- "+deployed+"\n+++ generated\n") || !strings.Contains(got.Diff, "\n-    timeout tunnel 1s\n") {
		t.Errorf("drifted config: got %+v, want the unified diff", got)
	}
}

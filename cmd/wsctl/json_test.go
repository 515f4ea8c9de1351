package main

import (
	"encoding/json"
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

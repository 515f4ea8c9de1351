package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/wsctl/wsctl/check"
	"github.com/wsctl/wsctl/internal/buildinfo"
	"github.com/wsctl/wsctl/internal/lbtest"
	"github.com/wsctl/wsctl/proxy"
	"github.com/wsctl/wsctl/templates"
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
	if got != build() || got.GoVersion != runtime.Version() || got.Version == "" {
		t.Errorf("got %+v, want %+v with go %s", got, build(), runtime.Version())
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

// TestCheckJSON: check -o json carries the binary's judgement with each
// complaint at its generated line, the binary and its version, the host's
// judgement, lint's findings and the stand-ins, with check's exit codes.
func TestCheckJSON(t *testing.T) {
	bin := lbtest.Binary(t, "haproxy")
	version, err := proxy.BinaryVersion(context.Background(), bin)
	if err != nil {
		t.Fatal(err)
	}
	basic := basicSpec(t)
	big := writeFile(t, filepath.Join(t.TempDir(), "wsctl.yaml"), strings.Replace(basicSpecText(t), "connections: 4000", "connections: 100000", 1))
	embedded, err := templates.Embedded("haproxy")
	if err != nil {
		t.Fatal(err)
	}
	broken := writeFile(t, filepath.Join(t.TempDir(), "broken.tmpl"), embedded+"    wsctl-bogus-keyword on\n")
	chat := filepath.Join(lbtest.ModuleRoot(t), "examples", "chat", "wsctl.yaml")
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		check    func(t *testing.T, got check.Report)
	}{
		{name: "valid", args: []string{"-c", basic, "--haproxy", bin}, wantCode: 0, check: func(t *testing.T, got check.Report) {
			if !got.Passed || !got.Valid || got.Target != "haproxy" || got.Backends != 1 || got.Host != nil ||
				got.Lint == nil || len(got.Problems) != 0 || len(got.StandIns) != 0 {
				t.Errorf("got %+v, want a passed check", got)
			}
		}},
		{name: "rejected", args: []string{"-c", basic, "--haproxy", bin, "--template", broken}, wantCode: 1, check: func(t *testing.T, got check.Report) {
			if got.Passed || got.Valid || got.Lint != nil || got.Output == "" {
				t.Errorf("got %+v, want a rejected config, not linted", got)
			}
			found := false
			for _, p := range got.Problems {
				found = found || p.Severity == "error" && p.Line > 0 && p.Text == "wsctl-bogus-keyword on"
			}
			if !found {
				t.Errorf("problems %+v: none at the bogus line", got.Problems)
			}
		}},
		{name: "host too small", args: []string{"-c", big, "--haproxy", bin, "--fd-limit", "20000"}, wantCode: 1, check: func(t *testing.T, got check.Report) {
			if got.Passed || !got.Valid || got.Host == nil || got.Host.Severity != "error" || !strings.Contains(got.Host.Message, "allows 20000 open files") {
				t.Errorf("got %+v (host %+v), want a valid config the host fails", got, got.Host)
			}
		}},
		{name: "stand-in certificate", args: []string{"-c", chat, "--haproxy", bin}, wantCode: 0, check: func(t *testing.T, got check.Report) {
			if !got.Passed || len(got.StandIns) != 1 || got.StandIns[0].Field != "listeners[0].tls.cert" || got.StandIns[0].Path != "tls/site.pem" {
				t.Errorf("got %+v, want the certificate stood in for", got)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("WSCTL_RUN_DIR", t.TempDir())
			io, out, errOut := testIO()
			if code := Main(append([]string{"check", "-o", "json"}, tc.args...), io); code != tc.wantCode {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.wantCode, out, errOut)
			}
			var got check.Report
			decodeJSON(t, out.String(), &got)
			if got.Binary != "haproxy" || got.BinaryPath != bin || got.BinaryVersion != version {
				t.Errorf("binary %q at %q, version %q; want haproxy at %q, %q", got.Binary, got.BinaryPath, got.BinaryVersion, bin, version)
			}
			tc.check(t, got)
		})
	}
}

// TestCheckJSONLayered: a spec with front: is checked as both layers, and
// -o json gives one object holding each layer's report and the chain.
func TestCheckJSONLayered(t *testing.T) {
	lbtest.Binary(t, "haproxy")
	lbtest.Binary(t, "nginx")
	t.Setenv("WSCTL_RUN_DIR", t.TempDir())
	layered := filepath.Join(lbtest.ModuleRoot(t), "examples", "layered", "wsctl.yaml")
	io, out, errOut := testIO()
	if code := Main([]string{"check", "-o", "json", "-c", layered}, io); code != 0 {
		t.Fatalf("exit %d, want 0\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	var got check.Layered
	decodeJSON(t, out.String(), &got)
	if !got.Passed || len(got.Layers) != 2 || got.Chain == nil {
		t.Fatalf("got %+v, want both layers passed and a chain", got)
	}
	targets := []string{got.Layers[0].Target, got.Layers[1].Target}
	if !slices.Contains(targets, "haproxy") || !slices.Contains(targets, "nginx") {
		t.Errorf("layers %v, want haproxy and nginx", targets)
	}
	for _, l := range got.Layers {
		if !l.Passed || !l.Valid {
			t.Errorf("layer %s: %+v, want passed and valid", l.Target, l)
		}
	}
}

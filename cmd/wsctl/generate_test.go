package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wsctl/wsctl/internal/cli"
	"github.com/wsctl/wsctl/internal/inputfile/inputfiletest"
	"github.com/wsctl/wsctl/internal/lbtest"
	"github.com/wsctl/wsctl/templates"
)

// testIO returns streams writing into buffers.
func testIO() (*cli.IOStreams, *bytes.Buffer, *bytes.Buffer) {
	var out, errOut bytes.Buffer
	return &cli.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, &out, &errOut
}

// basicSpec returns the path of the basic example with WSCTL_RUN_DIR set to a
// temp dir.
func basicSpec(t *testing.T) string {
	t.Helper()
	t.Setenv("WSCTL_RUN_DIR", t.TempDir())
	return filepath.Join(lbtest.ModuleRoot(t), "examples", "basic", "wsctl.yaml")
}

// basicSpecText returns the text of the basic example, with WSCTL_RUN_DIR
// set to a temp dir, to copy elsewhere.
func basicSpecText(t *testing.T) string {
	t.Helper()
	text, err := os.ReadFile(basicSpec(t))
	if err != nil {
		t.Fatal(err)
	}
	return string(text)
}

func writeFile(t *testing.T, path, text string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestMainExitCodes(t *testing.T) {
	spec := basicSpec(t)
	dir := t.TempDir()
	deployed := filepath.Join(dir, "haproxy.cfg")
	broken := writeFile(t, filepath.Join(dir, "broken.yaml"), "proxy: haproxy\nbogus: 1\n")
	// Stand-ins for /dev/zero, a named pipe and a directory: the real ones
	// were replaced, read until out of memory, or hung on.
	special := inputfiletest.Specials(t)
	dev, fifo, subdir := special["character device"], special["FIFO"], special["directory"]
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string // substring of stdout
		wantErr  string // substring of stderr
	}{
		{"render writes", []string{"render", "-c", spec, "-o", deployed}, 0, "", "wrote " + deployed},
		{"render unchanged", []string{"render", "-c", spec, "-o", deployed}, 0, "", "unchanged"},
		{"diff identical", []string{"diff", "-c", spec, "--against", deployed}, 0, "", ""},
		{"diff against nginx differs", []string{"diff", "-c", spec, "--target", "nginx", "--against", deployed}, 1, "+worker_processes auto;", ""},
		{"diff missing file", []string{"diff", "-c", spec, "--against", filepath.Join(dir, "nope")}, 2, "", "nope: no such file"},
		{"diff against a FIFO", []string{"diff", "-c", spec, "--against", fifo}, 2, "", "diff: " + fifo + ": not a regular file (FIFO)"},
		{"render onto a device", []string{"render", "-c", spec, "-o", dev}, 2, "", "write " + dev + ": not a regular file (character device)"},
		{"render onto a FIFO", []string{"render", "-c", spec, "-o", fifo}, 2, "", "write " + fifo + ": not a regular file (FIFO)"},
		{"render onto a directory", []string{"render", "-c", spec, "-o", subdir}, 2, "", "write " + subdir + ": not a regular file (directory)"},
		{"spec from a FIFO", []string{"render", "-c", fifo}, 2, "", "spec: " + fifo + ": not a regular file (FIFO)"},
		{"template from a device", []string{"render", "-c", spec, "--template", dev}, 2, "", "templates: " + dev + ": not a regular file (character device)"},
		{"bad spec", []string{"render", "-c", broken}, 2, "", "broken.yaml:2: bogus: unknown key"},
		{"missing spec", []string{"check", "-c", filepath.Join(dir, "absent.yaml")}, 2, "", "absent.yaml: no such file"},
		{"unknown target", []string{"render", "-c", spec, "--target", "envoy"}, 2, "", `unknown target "envoy"`},
		{"version", []string{"version"}, 0, "\ngo: go1.", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			io, out, errOut := testIO()
			code := Main(tt.args, io)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantCode, out, errOut)
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("stdout %q does not contain %q", out, tt.wantOut)
			}
			if !strings.Contains(errOut.String(), tt.wantErr) {
				t.Errorf("stderr %q does not contain %q", errOut, tt.wantErr)
			}
		})
	}
}

// TestBadSpecWritesNothing proves a broken spec leaves the output file as it
// was.
func TestBadSpecWritesNothing(t *testing.T) {
	dir := t.TempDir()
	out := writeFile(t, filepath.Join(dir, "haproxy.cfg"), "deployed\n")
	bad := writeFile(t, filepath.Join(dir, "wsctl.yaml"), "heartbeat: 30s\ntimeouts:\n  tunnel: 10s\n")
	io, _, errOut := testIO()
	if code := Main([]string{"render", "-c", bad, "-o", out}, io); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	if !strings.Contains(errOut.String(), "wsctl.yaml:3: timeouts.tunnel: 10s must be above the heartbeat") {
		t.Errorf("stderr: %s", errOut)
	}
	if got, _ := os.ReadFile(out); string(got) != "deployed\n" {
		t.Errorf("output file changed to %q", got)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("stray files: %v", entries)
	}
}

func TestCheck(t *testing.T) {
	spec := basicSpec(t)
	for _, target := range []string{"haproxy", "nginx"} {
		t.Run(target, func(t *testing.T) {
			lbtest.Binary(t, target)
			if target == "nginx" {
				if err := os.MkdirAll(filepath.Join(os.Getenv("WSCTL_RUN_DIR"), "nginx"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			io, out, errOut := testIO()
			if code := Main([]string{"check", "-c", spec, "--target", target, "--strict"}, io); code != 0 {
				t.Errorf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
			}
			if !strings.Contains(out.String(), "is valid") {
				t.Errorf("stdout: %s", out)
			}
		})
	}
}

// TestCheckRejectsBadTemplate renders through a user template the binary
// refuses and expects exit 1 with the offending generated line.
func TestCheckRejectsBadTemplate(t *testing.T) {
	lbtest.Binary(t, "haproxy")
	spec := basicSpec(t)
	tmpl := writeFile(t, filepath.Join(t.TempDir(), "bad.tmpl"), editedTemplate(t, "    master-worker\n", "    master-worker\n    tune.nonsense {{ .MaxConn | add 1 }}\n"))
	io, out, errOut := testIO()
	if code := Main([]string{"check", "-c", spec, "--template", tmpl}, io); code != 1 {
		t.Fatalf("exit %d, want 1\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if !strings.Contains(out.String(), ": error") || !strings.Contains(out.String(), "| tune.nonsense 4401") {
		t.Errorf("stdout does not point at the tune.nonsense line:\n%s", out)
	}
}

// editedTemplate returns the embedded HAProxy template with old replaced by
// new.
func editedTemplate(t *testing.T, old, new string) string {
	t.Helper()
	text, err := templates.Embedded("haproxy")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, old) {
		t.Fatalf("the embedded template no longer holds %q", old)
	}
	return strings.Replace(text, old, new, 1)
}

func TestRenderUserTemplateErrors(t *testing.T) {
	spec := basicSpec(t)
	tmpl := writeFile(t, filepath.Join(t.TempDir(), "typo.tmpl"), "maxconn {{ .MaxConns }}\n")
	io, _, errOut := testIO()
	if code := Main([]string{"render", "-c", spec, "--template", tmpl}, io); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	if !strings.Contains(errOut.String(), "typo.tmpl") || !strings.Contains(errOut.String(), "MaxConns") {
		t.Errorf("stderr: %s", errOut)
	}
}

func TestNginxStickyCookieNeedsFallback(t *testing.T) {
	dir := t.TempDir()
	spec := writeFile(t, filepath.Join(dir, "wsctl.yaml"), `listeners:
  - name: f
    bind: 127.0.0.1:8080
    default_backend: ws
backends:
  - name: ws
    sticky:
      cookie: SERVERID
    servers:
      - name: a
        address: 127.0.0.1:9001
`)
	io, _, errOut := testIO()
	if code := Main([]string{"render", "-c", spec, "--target", "nginx"}, io); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	if !strings.Contains(errOut.String(), "wsctl.yaml:7: backends[0].sticky: open-source nginx cannot insert a sticky cookie") {
		t.Errorf("stderr: %s", errOut)
	}
}

// TestCheckLintsTheOutput renders through a user template that HAProxy
// accepts but that would cut idle WebSockets: check must fail on the lint.
func TestCheckLintsTheOutput(t *testing.T) {
	lbtest.Binary(t, "haproxy")
	spec := basicSpec(t)
	tmpl := writeFile(t, filepath.Join(t.TempDir(), "short.tmpl"), editedTemplate(t, "timeout tunnel {{ .Timeouts.Tunnel }}", "timeout tunnel 10s"))
	io, out, errOut := testIO()
	if code := Main([]string{"check", "-c", spec, "--template", tmpl}, io); code != 1 {
		t.Fatalf("exit %d, want 1\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if !strings.Contains(out.String(), "haproxy/tunnel-timeout") {
		t.Errorf("stdout lacks the tunnel-timeout finding:\n%s", out)
	}
}

// TestDiffIgnoresSpecPath renders the spec given by one path and diffs it
// given by others (relative, absolute, a copy elsewhere under another
// name): the generated bytes depend on the spec's content only, so a CI
// checkout and /etc/wsctl/wsctl.yaml agree.
func TestDiffIgnoresSpecPath(t *testing.T) {
	text := basicSpecText(t)
	dir := t.TempDir()
	abs := writeFile(t, filepath.Join(dir, "wsctl.yaml"), text)
	if err := os.Mkdir(filepath.Join(dir, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	copied := writeFile(t, filepath.Join(dir, "etc", "prod.yaml"), text)
	deployed := filepath.Join(dir, "haproxy.cfg")
	t.Chdir(dir)
	io, out, errOut := testIO()
	if code := Main([]string{"render", "-c", "wsctl.yaml", "-o", deployed}, io); code != 0 {
		t.Fatalf("render: exit %d: %s", code, errOut)
	}
	for _, path := range []string{abs, "./wsctl.yaml", copied, "etc/prod.yaml"} {
		io, out, errOut = testIO()
		if code := Main([]string{"diff", "-c", path, "--against", deployed}, io); code != 0 {
			t.Errorf("diff -c %s: exit %d, want 0\n%s%s", path, code, out, errOut)
		}
	}
}

// TestSpecLookup runs render without -c: the spec comes from
// $WSCTL_CONFIG, else the first search path that exists, and when there is
// none the error names every place looked at and hints -c.
func TestSpecLookup(t *testing.T) {
	text := basicSpecText(t)
	dir := t.TempDir()
	local := writeFile(t, filepath.Join(dir, "wsctl.yaml"), text)
	other := writeFile(t, filepath.Join(dir, "other.yaml"), strings.Replace(text, "connections: 4000", "connections: 1234", 1))
	absent := filepath.Join(dir, "etc", "wsctl.yaml")
	tests := []struct {
		name     string
		args     []string
		env      string // $WSCTL_CONFIG
		search   []string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{name: "first found", search: []string{absent, local}, wantOut: "Sized for 4000 "},
		{name: "the variable before the search", env: other, search: []string{local}, wantOut: "Sized for 1234 "},
		{name: "-c before the variable", args: []string{"-c", local}, env: other, wantOut: "Sized for 4000 "},
		{name: "nothing found", search: []string{"wsctl.yaml", absent}, wantCode: 2,
			wantErr: "wsctl: spec: no spec found: looked at $WSCTL_CONFIG (unset), ./wsctl.yaml, " + absent + "; give it with -c FILE\n"},
		{name: "the variable names a missing file", env: absent, search: []string{local}, wantCode: 2,
			wantErr: absent + ": no such file or directory (from $WSCTL_CONFIG)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			io, out, errOut := testIO()
			io.Getenv = func(k string) string {
				if k == "WSCTL_CONFIG" {
					return tt.env
				}
				return os.Getenv(k)
			}
			io.SpecSearch = tt.search
			code := Main(append([]string{"render"}, tt.args...), io)
			if code != tt.wantCode || !strings.Contains(out.String(), tt.wantOut) || !strings.Contains(errOut.String(), tt.wantErr) {
				t.Errorf("exit %d, stdout %.80q, stderr %q; want %d, %q, %q", code, out, errOut, tt.wantCode, tt.wantOut, tt.wantErr)
			}
		})
	}
}

// TestRenderOutputStreams: -o - and -o /dev/stdout print the config as no
// -o does (no file named "-", no lstat of a /proc pipe link); a pipe
// behind a /proc fd link, as /dev/stderr is in a pipeline, is refused as
// the FIFO it is, pointing to -o -.
func TestRenderOutputStreams(t *testing.T) {
	spec := basicSpec(t)
	dir := t.TempDir()
	t.Chdir(dir)
	io, want, _ := testIO()
	if code := Main([]string{"render", "-c", spec}, io); code != 0 || want.Len() == 0 {
		t.Fatalf("render to stdout: exit %d, %d bytes", code, want.Len())
	}
	for _, o := range []string{"-", "/dev/stdout"} {
		io, out, errOut := testIO()
		if code := Main([]string{"render", "-c", spec, "-o", o}, io); code != 0 || out.String() != want.String() || errOut.Len() != 0 {
			t.Errorf("-o %s: exit %d, stdout %d bytes (want %d), stderr %s", o, code, out.Len(), want.Len(), errOut)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files written: %v", entries)
	}

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	link := filepath.Join(t.TempDir(), "stderr")
	if err := os.Symlink(fmt.Sprintf("/proc/self/fd/%d", w.Fd()), link); err != nil {
		t.Fatal(err)
	}
	io, _, errOut := testIO()
	code := Main([]string{"render", "-c", spec, "-o", link}, io)
	if msg := errOut.String(); code != exitError || !strings.Contains(msg, "write "+link+": not a regular file (FIFO); -o - writes to stdout") || strings.Contains(msg, "pipe:[") {
		t.Errorf("-o a pipe link: exit %d, stderr %s", code, msg)
	}
}

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wsctl/wsctl/spec"
)

// TestImportRun imports lint's warnings-only config, which carries over
// whole, and variants of it.
func TestImportRun(t *testing.T) {
	dir := t.TempDir()
	clean := writeFile(t, filepath.Join(dir, "clean.cfg"), lintWarnOnly)
	lossy := writeFile(t, filepath.Join(dir, "lossy.cfg"), strings.Replace(lintWarnOnly, "balance leastconn", "balance uri", 1))
	fragment := writeFile(t, filepath.Join(dir, "fragment.cfg"), "backend ws\n    server s1 10.0.0.1:8080\n")
	broken := writeFile(t, filepath.Join(dir, "broken.cfg"), "global\n    log \"/dev/log\n")
	tests := []struct {
		name     string
		opts     ImportOptions
		wantCode int
		wantErr  string // substring of stderr or the error
	}{
		{name: "clean", opts: ImportOptions{File: clean}, wantCode: exitOK},
		{name: "important loss", opts: ImportOptions{File: lossy}, wantCode: exitFindings,
			wantErr: "lossy.cfg:19: balance uri: changed: balance leastconn"},
		{name: "explain", opts: ImportOptions{File: clean, Explain: true}, wantCode: exitOK,
			wantErr: "server-state-file"},
		{name: "fragment", opts: ImportOptions{File: fragment}, wantCode: exitError, wantErr: "at least one listener"},
		{name: "unparsable", opts: ImportOptions{File: broken}, wantCode: exitError, wantErr: "unmatched quote"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			io, out, errOut := testIO()
			opts := tt.opts
			opts.IO = io
			err := importRun(&opts)
			if got := exitCode(err); got != tt.wantCode {
				t.Fatalf("exit %d, want %d (err %v, stderr %s)", got, tt.wantCode, err, errOut)
			}
			msg := errOut.String()
			if err != nil {
				msg += err.Error()
			}
			if !strings.Contains(msg, tt.wantErr) {
				t.Errorf("stderr and error %q, want %q", msg, tt.wantErr)
			}
			if tt.wantCode == exitError {
				return
			}
			p := filepath.Join(t.TempDir(), "wsctl.yaml")
			if err := os.WriteFile(p, out.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := spec.Load(p); err != nil {
				t.Errorf("the printed spec does not load: %v\n%s", err, out)
			}
		})
	}
}

func TestNewCmdImportFlags(t *testing.T) {
	io, _, _ := testIO()
	var got *ImportOptions
	cmd := NewCmdImport(&Factory{IO: io}, func(o *ImportOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"haproxy.cfg", "--target", "haproxy", "-o", "w.yaml", "--explain"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.File != "haproxy.cfg" || got.Target != "haproxy" || got.Output != "w.yaml" || !got.Explain {
		t.Errorf("options %+v", got)
	}
	cmd = NewCmdImport(&Factory{IO: io}, func(*ImportOptions) error { return nil })
	cmd.SetArgs([]string{"x.cfg", "--target", "apache"})
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "want haproxy or nginx") {
		t.Errorf("--target apache: %v", err)
	}
}

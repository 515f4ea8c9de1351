package proxy

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wsctl/wsctl/internal/lbtest"
	"github.com/wsctl/wsctl/model"
)

func TestWriteAtomic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	changed, err := WriteAtomic(path, []byte("one\n"))
	if err != nil || !changed {
		t.Fatalf("first write: changed %v, err %v", changed, err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(path)
	changed, err = WriteAtomic(path, []byte("one\n"))
	if err != nil || changed {
		t.Fatalf("same bytes: changed %v, err %v; want no write", changed, err)
	}
	after, _ := os.Stat(path)
	if !after.ModTime().Equal(before.ModTime()) {
		t.Error("same bytes rewrote the file")
	}
	if changed, err = WriteAtomic(path, []byte("two\n")); err != nil || !changed {
		t.Fatalf("new bytes: changed %v, err %v", changed, err)
	}
	got, _ := os.ReadFile(path)
	fi, _ := os.Stat(path)
	if string(got) != "two\n" || fi.Mode().Perm() != 0o640 {
		t.Errorf("got %q mode %v, want %q mode 0640", got, fi.Mode().Perm(), "two\n")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temp files left behind: %v", entries)
	}
}

func TestWriteAtomicMissingDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope", "haproxy.cfg")
	if _, err := WriteAtomic(path, []byte("x")); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("got %v, want an error naming %s", err, path)
	}
}

// TestValidateReportsTheLine runs the real binaries on broken configs and
// checks the complaint points at the right line of the given text.
func TestValidateReportsTheLine(t *testing.T) {
	tests := []struct {
		name, target, config string
		line                 int
		text                 string
	}{
		{"haproxy unknown keyword", HAProxyBinary, "global\n    maxconn 100\n\ndefaults\n    mode http\n    timeout tunnel forever\n", 6, "timeout tunnel forever"},
		{"nginx unknown directive", NginxBinary, "events {}\nhttp {\n    server {\n        listen 127.0.0.1:1;\n        proxy_bufering off;\n    }\n}\n", 5, "proxy_bufering off;"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lbtest.Binary(t, tt.target)
			_, err := Validator{Dir: t.TempDir()}.Validate(context.Background(), tt.target, []byte(tt.config))
			var rej *Rejected
			if !errors.As(err, &rej) {
				t.Fatalf("got %v, want *Rejected", err)
			}
			var found bool
			for _, p := range rej.Problems {
				if p.Severity == "error" && p.Line == tt.line && p.Text == tt.text {
					found = true
				}
			}
			if !found {
				t.Errorf("no error at line %d (%q) in %+v\noutput:\n%s", tt.line, tt.text, rej.Problems, rej.Output)
			}
		})
	}
}

func TestValidateAcceptsAndReportsWarnings(t *testing.T) {
	lbtest.Binary(t, HAProxyBinary)
	// timeout tunnel in a frontend alone is ignored with a warning.
	config := "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n\nfrontend f\n    bind 127.0.0.1:1\n    timeout tunnel 1h\n"
	res, err := Validator{}.Validate(context.Background(), HAProxyBinary, []byte(config))
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if len(res.Warnings) == 0 || res.Warnings[0].Line != 9 {
		t.Errorf("want a warning on line 9, got %+v", res.Warnings)
	}
	if _, err := (Validator{Strict: true}).Validate(context.Background(), HAProxyBinary, []byte(config)); err == nil {
		t.Error("strict validation accepted a config with warnings")
	}
}

func TestHostProblem(t *testing.T) {
	m := &model.Model{Target: model.TargetHAProxy, Connections: 10000, MaxConn: 11000}
	if p := HostProblem(m, 20000); p == nil || !strings.Contains(p.Message, "Lower connections to 9070") {
		t.Errorf("got %+v, want a problem suggesting 9070 connections", p)
	}
	m.MaxConn = 4400
	if p := HostProblem(m, 20000); p != nil {
		t.Errorf("4400 maxconn fits 20000 files, got %+v", p)
	}
}

// TestBinaryVersion reads the version each real binary reports, checked
// against the `-v` output's own words.
func TestBinaryVersion(t *testing.T) {
	for _, target := range []string{HAProxyBinary, NginxBinary} {
		t.Run(target, func(t *testing.T) {
			bin := lbtest.Binary(t, target)
			got, err := BinaryVersion(context.Background(), bin)
			if err != nil {
				t.Fatal(err)
			}
			out, _ := exec.Command(bin, "-v").CombinedOutput()
			if got == "" || strings.ContainsAny(got, " \n") || !strings.Contains(string(out), "version"+map[string]string{HAProxyBinary: " ", NginxBinary: ": nginx/"}[target]+got) {
				t.Errorf("version %q, from:\n%s", got, out)
			}
		})
	}
	if _, err := BinaryVersion(context.Background(), "/bin/true"); err == nil {
		t.Error("a binary that prints no version gave one")
	}
}

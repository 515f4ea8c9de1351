package spec

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/wsctl/wsctl/internal/inputfile"
)

// aliasBomb is a spec whose few kilobytes of anchors expand to n*n servers:
// n aliases of a backend whose servers are n aliases of one server.
func aliasBomb(n int) string {
	var b strings.Builder
	b.WriteString("proxy: haproxy\nlisteners:\n  - name: front\n    bind: 127.0.0.1:8080\n    default_backend: ws\nbackends:\n")
	b.WriteString("  - &b\n    name: ws\n    servers: &s\n      - &v {name: s1, address: 127.0.0.1:9001}\n")
	for range n {
		b.WriteString("      - *v\n")
	}
	for range n {
		b.WriteString("  - *b\n")
	}
	return b.String()
}

// TestParseBoundsAliasExpansion: before the bound, 1,000 aliases of a backend
// holding 1,000 aliases of a server (12 KB) decoded a million servers (with
// 3,000 of each: 68 s and 7.8 GB).
func TestParseBoundsAliasExpansion(t *testing.T) {
	text := aliasBomb(1000)
	_, err := Parse("bomb.yaml", []byte(text), noEnv)
	// backends[0] holds 1,000 aliases of 3 nodes each; the third alias of it
	// crosses the limit, and the error points at that use.
	want := fmt.Sprintf("bomb.yaml:%d: backends[3]: aliases expand to more than %d YAML nodes", 1000+13, MaxAliasNodes)
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("got %v, want %q", err, want)
	}
	var fe *FieldError
	if !errors.As(err, &fe) || strings.Count(err.Error(), "aliases expand") != 1 {
		t.Errorf("want one FieldError, got %v", err)
	}
}

// TestParseKeepsAnchors: anchors shared a few times still work.
func TestParseKeepsAnchors(t *testing.T) {
	text := `proxy: haproxy
listeners:
  - name: front
    bind: 127.0.0.1:8080
    default_backend: a
backends:
  - name: a
    health: &health {path: /healthz, interval: 2s}
    servers: &servers
      - {name: s1, address: 127.0.0.1:9001}
      - {name: s2, address: 127.0.0.1:9002}
  - name: b
    health: *health
    servers: *servers
`
	s, err := Parse("anchors.yaml", []byte(text), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	b := s.Backends[1]
	if b.Health.Path != "/healthz" || len(b.Servers) != 2 || b.Servers[1].Address != "127.0.0.1:9002" {
		t.Errorf("backend b: %+v", b)
	}
}

func TestLoadRefusesNonRegularAndLargeFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "wsctl.yaml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(fifo); err == nil || err.Error() != "spec: "+fifo+": not a regular file (FIFO)" {
		t.Errorf("FIFO: got %v", err)
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte("# "+strings.Repeat("x", inputfile.MaxSpec)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big); err == nil || err.Error() != "spec: "+big+": too large (over the 1 MiB limit)" {
		t.Errorf("2 MiB spec: got %v", err)
	}
}

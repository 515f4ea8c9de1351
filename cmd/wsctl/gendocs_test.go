package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGenDocs generates what the package ships and checks a page per
// command, no page for the hidden gen-docs itself, and the three
// completion scripts.
func TestGenDocs(t *testing.T) {
	dir := t.TempDir()
	io, _, errOut := testIO()
	if code := Main([]string{"gen-docs", dir}, io); code != 0 {
		t.Fatalf("gen-docs exit %d: %s", code, errOut)
	}
	for _, page := range []string{"wsctl.1", "wsctl-agent.1", "wsctl-check.1", "wsctl-version.1"} {
		text, err := os.ReadFile(filepath.Join(dir, "man", page))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(text), ".nh\n.TH \"WSCTL\" \"1\"") {
			t.Errorf("%s does not start like a man page:\n%.200s", page, text)
		}
	}
	if text, _ := os.ReadFile(filepath.Join(dir, "man", "wsctl-agent.1")); !strings.Contains(string(text), `\fB--haproxy-config\fP`) {
		t.Errorf("wsctl-agent.1 does not document --haproxy-config")
	}
	if _, err := os.Stat(filepath.Join(dir, "man", "wsctl-gen-docs.1")); !os.IsNotExist(err) {
		t.Errorf("hidden gen-docs got a man page (stat err %v)", err)
	}
	for name, want := range map[string]string{
		"wsctl.bash": "complete -o default -F __start_wsctl wsctl",
		"_wsctl":     "#compdef wsctl",
		"wsctl.fish": "complete -c wsctl",
	} {
		text, err := os.ReadFile(filepath.Join(dir, "completions", name))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(text), want) {
			t.Errorf("%s lacks %q", name, want)
		}
	}
}

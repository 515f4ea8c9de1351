package lint

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/lint")

// corpusDir holds real-world-shaped configs: the seeds' published configs
// and others of the same shape. Each config lints to FILE.golden.json.
const corpusDir = "../testdata/lint"

// corpusFiles are the configs to lint: every HAProxy *.cfg, every nginx
// *.conf at the top of nginx/, and the nginx.conf of each nginx/ directory
// (whose includes are not linted on their own).
func corpusFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, pattern := range []string{"haproxy/*.cfg", "nginx/*.conf", "nginx/*/nginx.conf"} {
		m, err := filepath.Glob(filepath.Join(corpusDir, pattern))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	slices.Sort(files)
	if len(files) == 0 {
		t.Fatal("no corpus files")
	}
	return files
}

func TestCorpus(t *testing.T) {
	for _, path := range corpusFiles(t) {
		name, _ := filepath.Rel(corpusDir, path)
		t.Run(name, func(t *testing.T) {
			// Lint from the corpus directory so findings name files as
			// "nginx/seed-map/conf.d/websocket.conf" on every machine.
			t.Chdir(corpusDir)
			fs, err := LintFile(name, testOptions)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			if err := enc.Encode(fs); err != nil {
				t.Fatal(err)
			}
			got := buf.Bytes()
			golden := name + ".golden.json"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./lint -run Corpus -update)", err)
			}
			if !bytes.Equal(want, got) {
				t.Errorf("%s (-want +got):\n%s", golden, cmp.Diff(string(want), string(got)))
			}
		})
	}
}

// sizedFor reads the "Sized for N concurrent WebSockets (...), heartbeat D"
// header wsctl writes into what it renders.
var sizedFor = regexp.MustCompile(`Sized for (\d+) concurrent WebSockets.*heartbeat (\w+)`)

// TestRenderedOutputLintsClean lints wsctl's own rendered examples (the
// templates' golden files) for the connections and heartbeat they were
// rendered for: wsctl's output must not trip its own linter (beyond the
// info that nginx cannot pace its reloads).
func TestRenderedOutputLintsClean(t *testing.T) {
	files, _ := filepath.Glob("../testdata/golden/*")
	if len(files) == 0 {
		t.Skip("no rendered examples in testdata/golden")
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			opt := testOptions
			if m := sizedFor.FindSubmatch(data); m != nil {
				opt.Connections, _ = strconv.Atoi(string(m[1]))
				if opt.Heartbeat, err = time.ParseDuration(string(m[2])); err != nil {
					t.Fatal(err)
				}
			}
			fs, err := Lint(filepath.Base(path), data, opt)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range withoutReloadInfo(fs) {
				if f.Rule == "haproxy/ws-readiness-check" {
					continue // the spec chooses the check (health.websocket); a plain one is info by design
				}
				t.Errorf("%s:%d: %s %s: %s", f.File, f.Line, f.Severity, f.Rule, f.Message)
			}
		})
	}
}

package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wsctl/wsctl/internal/inputfile"
	"github.com/wsctl/wsctl/internal/lbtest"
	"github.com/wsctl/wsctl/lint"
)

// lintWarnOnly has warnings (no hard-stop-after, no stats socket) and no error.
const lintWarnOnly = `global
    maxconn 5000

defaults
    mode http
    option redispatch
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    timeout tunnel 1h
    timeout client-fin 30s
    timeout server-fin 30s

frontend fe
    bind :80
    default_backend ws

backend ws
    balance leastconn
    option httpchk
    http-check send meth GET uri /ws ver HTTP/1.1 hdr Host example.com hdr Connection Upgrade hdr Upgrade websocket hdr Sec-WebSocket-Key dGhlIHNhbXBsZSBub25jZQ== hdr Sec-WebSocket-Version 13
    http-check expect status 101
    server s1 10.0.0.1:8080 check inter 2s fall 3 rise 2

frontend stats
    bind 127.0.0.1:8404
    stats enable
`

func TestNewCmdLintFlags(t *testing.T) {
	io, _, _ := testIO()
	var got *LintOptions
	cmd := NewCmdLint(&Factory{IO: io}, func(o *LintOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"a.cfg", "b.conf", "--target", "nginx", "--heartbeat", "45s", "--connections", "500", "--fd-limit", "4096", "--cpus", "8", "--host", "--strict", "-o", "json"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	want := lint.Options{Target: "nginx", Heartbeat: 45 * time.Second, Connections: 500, FDLimit: 4096, CPUs: 8, Host: true}
	if got.Lint != want || !got.Strict || got.Output != "json" || strings.Join(got.Files, ",") != "a.cfg,b.conf" {
		t.Errorf("parsed %+v, want files a.cfg,b.conf, %+v, strict, json", got, want)
	}

	cmd = NewCmdLint(&Factory{IO: io}, func(o *LintOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"a.cfg"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Lint.Heartbeat != 30*time.Second || got.Lint.Connections != 0 || got.Lint.Host || got.Output != "text" || got.Strict {
		t.Errorf("defaults: got %+v", got)
	}

	for _, args := range [][]string{{}, {"a.cfg", "-o", "yaml"}} {
		cmd = NewCmdLint(&Factory{IO: io}, func(*LintOptions) error { return nil })
		cmd.SetArgs(args)
		cmd.SetErr(&strings.Builder{})
		if err := cmd.Execute(); err == nil {
			t.Errorf("%q: want an error", args)
		}
	}
}

func TestLintRun(t *testing.T) {
	dir := t.TempDir()
	warnOnly := writeFile(t, filepath.Join(dir, "warn.cfg"), lintWarnOnly)
	withError := writeFile(t, filepath.Join(dir, "error.cfg"), strings.Replace(lintWarnOnly, "timeout tunnel 1h", "timeout tunnel 10s", 1))
	notConfig := writeFile(t, filepath.Join(dir, "values.yaml"), "replicas: 3\n")
	broken := writeFile(t, filepath.Join(dir, "broken.cfg"), "global\n    log \"/dev/log\n")
	fifo := filepath.Join(dir, "fifo.cfg")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	golden := func(name string) string {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "golden", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	front := writeFile(t, filepath.Join(dir, "nginx.conf"), strings.Replace(golden("layered.nginx.conf"), "proxy_read_timeout 2m", "proxy_read_timeout 60s", 1))
	balancer := writeFile(t, filepath.Join(dir, "haproxy.cfg"), golden("layered.haproxy.cfg"))
	opt := lint.Options{Connections: 5000, FDLimit: 20000}
	tests := []struct {
		name     string
		files    []string
		strict   bool
		output   string
		stdin    string
		wantCode int
		wantOut  string // substring of the output
		wantErr  string // substring of the error
	}{
		{name: "warnings only", files: []string{warnOnly}, output: "text", wantCode: exitOK,
			wantOut: warnOnly + ":1: warning haproxy/hard-stop-after: "},
		{name: "warnings with strict", files: []string{warnOnly}, strict: true, output: "text", wantCode: exitFindings},
		{name: "an error finding", files: []string{withError}, output: "text", wantCode: exitFindings,
			wantOut: withError + ":10: error haproxy/tunnel-timeout: timeout tunnel 10s is not above the 30s heartbeat"},
		{name: "fix and count", files: []string{withError}, output: "text", wantCode: exitFindings,
			wantOut: "  fix: timeout tunnel 1h (well above the heartbeat)\n3 finding(s): 1 error(s), 2 warning(s), 0 info\n"},
		{name: "several files", files: []string{warnOnly, withError}, output: "text", wantCode: exitFindings, wantOut: "error.cfg:10:"},
		{name: "two layers", files: []string{front, balancer}, output: "text", wantCode: exitOK,
			wantOut: "nginx.conf:62: warning chain/timeout: location / proxies to HAProxy frontend \"ws_frontend\""},
		{name: "two layers, strict", files: []string{balancer, front}, strict: true, output: "text", wantCode: exitFindings, wantOut: "chain/timeout"},
		{name: "standard input", files: []string{"-"}, stdin: lintWarnOnly, output: "text", wantCode: exitOK, wantOut: "<stdin>:1: warning"},
		{name: "not a config", files: []string{notConfig}, output: "text", wantCode: exitError, wantErr: "not an HAProxy or nginx config"},
		{name: "parse error", files: []string{broken}, output: "text", wantCode: exitError, wantErr: "broken.cfg:2: unmatched quote"},
		{name: "missing file", files: []string{filepath.Join(dir, "nope.cfg")}, output: "text", wantCode: exitError, wantErr: "no such file"},
		{name: "a FIFO", files: []string{fifo}, output: "text", wantCode: exitError, wantErr: "lint: " + fifo + ": not a regular file (FIFO)"},
		{name: "standard input too large", files: []string{"-"}, stdin: "#" + strings.Repeat("x", inputfile.MaxConfig), output: "text", wantCode: exitError,
			wantErr: "lint: standard input: too large (over the 16 MiB limit)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			io, out, _ := testIO()
			io.In = strings.NewReader(tt.stdin)
			err := lintRun(&LintOptions{IO: io, Files: tt.files, Lint: opt, Strict: tt.strict, Output: tt.output})
			if code := exitCode(err); code != tt.wantCode {
				t.Errorf("exit %d (%v), want %d", code, err, tt.wantCode)
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("output:\n%s\nwant it to contain %q", out, tt.wantOut)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("error %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestLintRunJSON(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, filepath.Join(dir, "haproxy.cfg"), lintWarnOnly)
	io, out, _ := testIO()
	err := lintRun(&LintOptions{IO: io, Files: []string{path}, Lint: lint.Options{Connections: 5000, FDLimit: 20000}, Output: "json"})
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if len(got) != 2 || got[0]["rule"] != "haproxy/hard-stop-after" || got[0]["line"] != 1.0 || got[0]["file"] != path || got[0]["severity"] != "warning" {
		t.Errorf("got %v", got)
	}

	clean := writeFile(t, filepath.Join(dir, "clean.cfg"), strings.Replace(lintWarnOnly, "    maxconn 5000\n",
		"    maxconn 5000\n    hard-stop-after 30m\n    stats socket /run/a.sock level admin\n", 1))
	io, out, _ = testIO()
	if err := lintRun(&LintOptions{IO: io, Files: []string{clean}, Lint: lint.Options{Connections: 5000, FDLimit: 20000}, Output: "json"}); err != nil {
		t.Fatal(err)
	}
	if out.String() != "[]\n" {
		t.Errorf("clean config: got %q, want []", out)
	}
}

func TestLintRunUnknownFormat(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, filepath.Join(dir, "values.yaml"), "replicas: 3\n")
	io, _, _ := testIO()
	err := lintRun(&LintOptions{IO: io, Files: []string{path}, Output: "text"})
	if !errors.Is(err, lint.ErrUnknownFormat) || exitCode(err) != exitError {
		t.Errorf("got %v (exit %d), want ErrUnknownFormat, exit 2", err, exitCode(err))
	}
}

// TestLintAssumesNothingFails lints a correctly sized hand-written nginx
// config (worker_connections 8192, two upstream servers, every WebSocket
// header and timeout right) as CI would: without --connections the
// capacity finding rests on an assumption, so it is info and passes; stated,
// it counts. The one info left when all is right is nginx/reload-handover.
func TestLintAssumesNothingFails(t *testing.T) {
	conf := filepath.Join(lbtest.ModuleRoot(t), "testdata", "lint", "nginx", "hand-sized.conf")
	for _, tc := range []struct {
		args     []string
		wantCode int
		wantOut  string
	}{
		{[]string{"--cpus", "1"}, exitOK, "info nginx/worker-connections"},
		{[]string{"--cpus", "1"}, exitOK, "this assumes 5,000 WebSockets, the default: state the real number with --connections\n"},
		{[]string{"--connections", "4000", "--cpus", "1"}, exitOK, "1 finding(s): 0 error(s), 0 warning(s), 1 info\n"},
		{[]string{"--connections", "10000", "--cpus", "1"}, exitFindings, "error nginx/worker-connections"},
	} {
		io, out, errOut := testIO()
		code := Main(append([]string{"lint", conf}, tc.args...), io)
		if code != tc.wantCode || !strings.Contains(out.String(), tc.wantOut) || tc.wantOut == "" && out.Len() != 0 {
			t.Errorf("lint %v: exit %d, stdout %q, stderr %q; want %d and %q", tc.args, code, out, errOut, tc.wantCode, tc.wantOut)
		}
	}
}

// TestUsageMessages: a missing argument or a duration without a unit says
// what to write, for every command that takes one.
func TestUsageMessages(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"lint"}, "lint: give the config files to lint, or - to read standard input (e.g. wsctl lint /etc/haproxy/haproxy.cfg)"},
		{[]string{"lint", "a.cfg", "--heartbeat", "5"}, `--heartbeat "5": a duration needs a unit, e.g. 5s or 5m`},
		{[]string{"drain", "ws/s1", "--timeout", "5"}, `--timeout "5": a duration needs a unit, e.g. 5s or 5m`},
		{[]string{"drain", "ws/s1", "--timeout", "soon"}, `invalid argument "soon" for "--timeout" flag`},
	} {
		io, out, errOut := testIO()
		if code := Main(tc.args, io); code != exitError || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("wsctl %v: exit %d, stderr %q, want exit %d and %q (stdout %q)", tc.args, code, errOut, exitError, tc.want, out)
		}
	}
}

// TestLintRunSARIF decodes -o sarif as a code-scanning service reads it:
// version 2.1.0, the catalog's rules under tool.driver, each finding a
// result with its rule, level, message and file:line, pointing at its rule.
func TestLintRunSARIF(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, filepath.Join(dir, "haproxy.cfg"), lintWarnOnly)
	io, out, _ := testIO()
	err := lintRun(&LintOptions{IO: io, Files: []string{path}, Lint: lint.Options{Connections: 5000, FDLimit: 20000}, Output: "sarif"})
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name  string `json:"name"`
					Rules []struct {
						ID string `json:"id"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID    string `json:"ruleId"`
				RuleIndex int    `json:"ruleIndex"`
				Level     string `json:"level"`
				Message   struct {
					Text string `json:"text"`
				} `json:"message"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct {
							URI string `json:"uri"`
						} `json:"artifactLocation"`
						Region struct {
							StartLine int `json:"startLine"`
						} `json:"region"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if got.Version != "2.1.0" || len(got.Runs) != 1 {
		t.Fatalf("version %q, %d runs; want 2.1.0 and 1", got.Version, len(got.Runs))
	}
	run := got.Runs[0]
	if rules := run.Tool.Driver.Rules; len(rules) != len(lint.Rules()) || run.Tool.Driver.Name == "" {
		t.Errorf("driver %q with %d rules, want the catalog's %d", run.Tool.Driver.Name, len(rules), len(lint.Rules()))
	}
	if len(run.Results) != 2 {
		t.Fatalf("%d results, want 2:\n%s", len(run.Results), out)
	}
	r := run.Results[0]
	loc := r.Locations[0].PhysicalLocation
	if r.RuleID != "haproxy/hard-stop-after" || r.Level != "warning" || r.Message.Text == "" ||
		loc.ArtifactLocation.URI != "file://"+path || loc.Region.StartLine != 1 {
		t.Errorf("first result %+v", r)
	}
	for _, r := range run.Results {
		if r.RuleIndex >= len(run.Tool.Driver.Rules) || run.Tool.Driver.Rules[r.RuleIndex].ID != r.RuleID {
			t.Errorf("result %s: ruleIndex %d points elsewhere", r.RuleID, r.RuleIndex)
		}
	}
}

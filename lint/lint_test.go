package lint

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wsctl/wsctl/model"
)

func TestDetect(t *testing.T) {
	for _, tc := range []struct {
		name, data, want string
	}{
		{"haproxy", "# haproxy\n\nglobal\n    maxconn 100\n", TargetHAProxy},
		{"haproxy after a conditional", ".if defined(X)\nglobal\n.endif\n", TargetHAProxy},
		{"haproxy starting with a backend", "backend ws\n    server a 1.2.3.4:80\n", TargetHAProxy},
		{"nginx main", "user nginx;\nevents {}\nhttp {}\n", TargetNginx},
		{"nginx conf.d fragment", "upstream a { server 1.2.3.4; }\nserver { listen 80; }\n", TargetNginx},
		{"nginx snippet", "location /ws { proxy_pass http://a; }\n", TargetNginx},
		{"nginx listen is not the haproxy section", "listen 80;\n", TargetNginx},
		{"yaml", "apiVersion: v1\nkind: ConfigMap\n", ""},
		{"json", `{"global": 1}`, ""},
		{"shell", "#!/bin/sh\necho hi\n", ""},
		{"unknown nginx-like directives", "foo bar;\n", ""},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Detect([]byte(tc.data)); got != tc.want {
				t.Errorf("Detect = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLintUnknownFormat(t *testing.T) {
	_, err := Lint("values.yaml", []byte("replicas: 3\n"), Options{})
	if !errors.Is(err, ErrUnknownFormat) {
		t.Fatalf("got %v, want ErrUnknownFormat", err)
	}
	if want := `lint: values.yaml: not an HAProxy or nginx config (it starts with "replicas: 3")`; err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
}

func TestLintFileErrors(t *testing.T) {
	if _, err := LintFile(filepath.Join(t.TempDir(), "missing.cfg"), Options{}); !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), "lint: ") {
		t.Errorf("missing file: got %v", err)
	}
	if _, err := Lint("x", []byte("global\n"), Options{Target: "envoy"}); err == nil || !strings.Contains(err.Error(), `target "envoy"`) {
		t.Errorf("bad target: got %v", err)
	}
}

func TestFails(t *testing.T) {
	warn := []Finding{{Severity: SeverityWarning}, {Severity: SeverityInfo}}
	for _, tc := range []struct {
		name     string
		findings []Finding
		strict   bool
		want     bool
	}{
		{"none", nil, true, false},
		{"info only, strict", []Finding{{Severity: SeverityInfo}}, true, false},
		{"warnings", warn, false, false},
		{"warnings, strict", warn, true, true},
		{"an error", append(slices.Clone(warn), Finding{Severity: SeverityError}), false, true},
	} {
		if got := Fails(tc.findings, tc.strict); got != tc.want {
			t.Errorf("%s: Fails = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestFindingsSortedAndDeduplicated(t *testing.T) {
	// One short read timeout at http level, inherited by two locations: one finding.
	config := edit(t, nginxClean,
		"http {\n", "http {\n    proxy_read_timeout 20s;\n",
		"            proxy_read_timeout 1h;\n", "",
		"    server {\n", "    server {\n        location /ws2/ {\n            proxy_pass http://app;\n        }\n")
	fs, err := Lint("nginx.conf", []byte(config), testOptions)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range fs {
		if f.Rule == "nginx/read-timeout" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("got %d read-timeout findings, want 1: %+v", n, fs)
	}
	if !slices.IsSortedFunc(fs, func(a, b Finding) int { return a.Line - b.Line }) {
		t.Errorf("findings are not sorted by line: %+v", fs)
	}
}

func TestJSONShape(t *testing.T) {
	fs, err := Lint("nginx.conf", []byte(edit(t, nginxClean, "proxy_read_timeout 1h;", "proxy_read_timeout 5s;")), testOptions)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(fs)
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := []string{"file", "fix", "line", "message", "rule", "severity"}
	for _, obj := range got {
		var keys []string
		for k := range obj {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if diff := cmp.Diff(want, keys); diff != "" {
			t.Errorf("keys (-want +got):\n%s", diff)
		}
	}
	clean, _ := Lint("nginx.conf", []byte(nginxClean), testOptions)
	if b, _ := json.Marshal(withoutReloadInfo(clean)); string(b) != "[]" {
		t.Errorf("a clean config marshals as %s, want []", b)
	}
}

func TestNginxIncludes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	main := edit(t, nginxClean,
		"    server {\n", "    include conf.d/*.conf;\n    include missing.conf;\n    server {\n",
		"            proxy_read_timeout 1h;\n", "            include snippets/timeouts.conf;\n")
	write("nginx.conf", main)
	write("conf.d/a.conf", "# upstreams\nupstream other {\n    ip_hash;\n    server 10.0.0.5:80 max_fails=3;\n}\n")
	write("conf.d/.hidden.conf", "this is { not nginx")
	// Relative to the main file's directory, as nginx resolves includes.
	write("snippets/timeouts.conf", "\n\nproxy_read_timeout 10s;\n")

	fs, err := LintFile(filepath.Join(dir, "nginx.conf"), testOptions)
	if err != nil {
		t.Fatal(err)
	}
	fs = withoutReloadInfo(fs)
	var got []string
	for _, f := range fs {
		rel, _ := filepath.Rel(dir, f.File)
		got = append(got, rel+":"+f.Rule)
	}
	// The included upstream no location uses is linted all the same.
	want := []string{"conf.d/a.conf:nginx/unused-upstream", "conf.d/a.conf:nginx/ip-hash", "nginx.conf:nginx/include", "snippets/timeouts.conf:nginx/read-timeout"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
	for _, f := range fs {
		if f.Rule == "nginx/read-timeout" && f.Line != 3 {
			t.Errorf("read-timeout at line %d of the snippet, want 3", f.Line)
		}
	}

	// In memory, includes are not followed: the same text lints without them.
	mem, err := Lint("nginx.conf", []byte(main), testOptions)
	if err != nil {
		t.Fatal(err)
	}
	if mem = withoutReloadInfo(mem); len(mem) != 0 {
		t.Errorf("in memory: got %+v, want no findings", mem)
	}

	write("loop.conf", "http { include loop2.conf; }\n")
	write("loop2.conf", "include loop.conf;\n")
	if _, err := LintFile(filepath.Join(dir, "loop.conf"), testOptions); err == nil || !strings.Contains(err.Error(), "includes itself") {
		t.Errorf("include cycle: got %v", err)
	}
	write("bad.conf", "http { include broken.conf; }\n")
	write("broken.conf", "\nserver {\n")
	wantErr := "lint: parse " + filepath.Join(dir, "broken.conf") + `:3: unexpected end of file, expecting "}"`
	if _, err := LintFile(filepath.Join(dir, "bad.conf"), testOptions); err == nil || err.Error() != wantErr {
		t.Errorf("broken include: got %v, want %s", err, wantErr)
	}
}

func TestOptionsResolve(t *testing.T) {
	s := Options{}.resolve()
	if s.Heartbeat != 30*time.Second || s.Connections != DefaultConnections || s.CPUs < 1 || s.FDLimit != hardFDLimit() {
		t.Errorf("resolve() = %+v", s)
	}
	if s.assumedConnections == "" || s.assumedFDLimit == "" || s.assumedCPUs == "" {
		t.Errorf("the zero Options assume nothing: %+v", s)
	}
	host := Options{Connections: 10, Host: true}.resolve()
	if host.assumedConnections != "" || host.assumedFDLimit != "" || host.assumedCPUs != "" || host.FDLimit != hardFDLimit() {
		t.Errorf("stated connections on the proxy's host assume: %+v", host)
	}
	given := Options{Connections: 10, FDLimit: 4096, CPUs: 8}.resolve()
	if given.assumedConnections != "" || given.assumedFDLimit != "" || given.assumedCPUs != "" {
		t.Errorf("stated values assume: %+v", given)
	}
}

// TestAssumptionsAreInfo lints configs whose capacity or host findings rest
// on what was not stated (the connections, this machine as the proxy's
// host): info naming the assumption, an error or warning once stated. In CI
// neither the load nor the load balancer's limits are known.
func TestAssumptionsAreInfo(t *testing.T) {
	// On Linux the hard limit is at most fs.nr_open (under 2^30), so this
	// maxconn is above whatever this machine allows.
	hugeMaxconn := edit(t, haproxyClean, "maxconn 5000", "maxconn 600000000\n    ulimit-n 1200000100")
	lowMaxconn := edit(t, haproxyClean, "maxconn 5000", "maxconn 2000")
	fewWorkers := edit(t, nginxClean, "worker_processes 2;", "worker_processes auto;", "worker_connections 8192;", "worker_connections 100;")
	for _, tc := range []struct {
		name, config string
		opt          Options
		rule, sev    string
		assumes      string // part of the message; "" when nothing is assumed
	}{
		{"nginx, connections assumed", edit(t, nginxClean, "worker_connections 8192;", "worker_connections 2048;"), Options{FDLimit: 20000, CPUs: 2},
			"nginx/worker-connections", SeverityInfo, "this assumes 5,000 WebSockets, the default: state the real number with --connections"},
		{"nginx, connections stated", nginxClean, Options{Connections: 10000, FDLimit: 20000, CPUs: 2},
			"nginx/worker-connections", SeverityError, ""},
		{"nginx, CPUs assumed", fewWorkers, Options{Connections: 5000, FDLimit: 20000},
			"nginx/worker-connections", SeverityInfo, "CPUs: lint on that host with --host, or give --cpus"},
		{"nginx, CPUs of the host", fewWorkers, Options{Connections: 5000, FDLimit: 20000, Host: true},
			"nginx/worker-connections", SeverityError, ""},
		{"haproxy, fd limit assumed", hugeMaxconn, Options{Connections: 5000},
			"haproxy/maxconn-fd-limit", SeverityInfo, "this assumes the proxy's host has this machine's hard limit of"},
		{"haproxy, fd limit of the host", hugeMaxconn, Options{Connections: 5000, Host: true},
			"haproxy/maxconn-fd-limit", SeverityError, ""},
		{"haproxy, connections assumed", lowMaxconn, Options{FDLimit: 20000},
			"haproxy/maxconn-low", SeverityInfo, "this assumes 5,000 WebSockets"},
		{"haproxy, connections stated", lowMaxconn, Options{Connections: 5000, FDLimit: 20000},
			"haproxy/maxconn-low", SeverityWarning, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, err := Lint("cfg", []byte(tc.config), tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, f := range fs {
				if f.Rule != tc.rule {
					continue
				}
				n++
				if f.Severity != tc.sev || tc.assumes != "" && !strings.Contains(f.Message, tc.assumes) || tc.assumes == "" && strings.Contains(f.Message, "this assumes") {
					t.Errorf("%s: %s; want %s and %q", f.Severity, f.Message, tc.sev, tc.assumes)
				}
			}
			if n == 0 {
				t.Errorf("no %s finding: %+v", tc.rule, fs)
			}
		})
	}
}

// TestReadmeListsEveryRule keeps README.md's rule table in step with the catalog.
func TestReadmeListsEveryRule(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z]+/[a-z0-9-]+)` \\| ([a-z]+) \\|").FindAllStringSubmatch(string(b), -1) {
		rows[m[1]] = m[2]
	}
	for _, r := range Rules() {
		if sev, ok := rows[r.ID]; !ok || sev != r.Severity {
			t.Errorf("README.md: rule %s: got severity %q, want a row with %q", r.ID, sev, r.Severity)
		}
		delete(rows, r.ID)
	}
	for id := range rows {
		t.Errorf("README.md lists %s, which is not a rule", id)
	}
	// The project's README gives the count.
	top, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("The %d rules", len(Rules())); !strings.Contains(string(top), want) {
		t.Errorf("../README.md does not say %q", want)
	}
}

// TestTopReadmeCountsTheRules keeps "The N rules" in the top-level
// README.md true as rules are added.
func TestTopReadmeCountsTheRules(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`The (\d+) rules`).FindAllSubmatch(b, -1)
	if len(m) == 0 {
		t.Fatal(`README.md: no "The N rules"`)
	}
	for _, c := range m {
		if got, want := string(c[1]), strconv.Itoa(len(Rules())); got != want {
			t.Errorf("README.md: The %s rules, want The %s rules", got, want)
		}
	}
}

// TestFixTextsQuoteNoAssumedLimit: a fix names a file-descriptor limit only
// when it is the proxy host's (--fd-limit or --host), never this machine's
// when lint runs elsewhere.
func TestFixTextsQuoteNoAssumedLimit(t *testing.T) {
	limit := hardFDLimit()
	if limit == 0 || model.HAProxyMaxConnWithin(limit) >= 1_000_000 {
		t.Skip("no finite hard open-file limit below 2,000,000 here")
	}
	noMaxconn := edit(t, haproxyClean, "defaults\n", "global\n    hard-stop-after 30m\n    stats socket /run/haproxy/admin.sock level admin\n\ndefaults\n")
	nginx := edit(t, nginxClean, "worker_rlimit_nofile 16384;\n", "", "worker_connections 8192", "worker_connections 1000000")
	for _, tc := range []struct {
		name, target, config string
		opt                  Options
		wantLimit            bool
	}{
		{name: "haproxy, host assumed", target: TargetHAProxy, config: noMaxconn, opt: Options{Connections: 1_000_000}},
		{name: "haproxy, --host", target: TargetHAProxy, config: noMaxconn, opt: Options{Connections: 1_000_000, Host: true}, wantLimit: true},
		{name: "nginx, host assumed", target: TargetNginx, config: nginx, opt: Options{Connections: 1_000_000, CPUs: 2}},
		{name: "nginx, --host", target: TargetNginx, config: nginx, opt: Options{Connections: 1_000_000, Host: true}, wantLimit: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opt.Target = tc.target
			fs, err := Lint("f", []byte(tc.config), tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			quoted := false
			for _, f := range fs {
				for _, n := range []int{limit, model.HAProxyMaxConnWithin(limit)} {
					if regexp.MustCompile(`\b(` + strconv.Itoa(n) + `|` + fmtInt(n) + `)\b`).MatchString(f.Fix) {
						quoted = true
						if !tc.wantLimit {
							t.Errorf("%s: fix quotes this machine's limit: %s", f.Rule, f.Fix)
						}
					}
				}
			}
			if tc.wantLimit && !quoted {
				t.Errorf("no fix quotes the host's limit %d: %+v", limit, fs)
			}
		})
	}
}

// FuzzLint checks that no input makes the linter panic.
func FuzzLint(f *testing.F) {
	f.Add([]byte(haproxyClean))
	f.Add([]byte(nginxClean))
	f.Add([]byte("backend b\n    option httpchk GET / HTTP/1.1\\r\\nUpgrade:\\ websocket\n    cookie\n    balance\n    server\n"))
	f.Add([]byte("http { map $http_upgrade $c { default; } server { location / { proxy_set_header Connection $c; proxy_pass http://$c; } } }"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, target := range []string{TargetHAProxy, TargetNginx, ""} {
			_, _ = Lint("fuzz", data, Options{Target: target, FDLimit: 20000, CPUs: 2})
		}
	})
}

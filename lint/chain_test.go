package lint

import (
	"cmp"
	"os"
	"strconv"
	"strings"
	"testing"
)

func readGolden(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../testdata/golden/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestChainLayeredClean: the two layers wsctl renders from one spec are
// linked (nginx's upstream is HAProxy's frontend) and lint clean together.
func TestChainLayeredClean(t *testing.T) {
	fs, err := Chain("nginx.conf", []byte(readGolden(t, "layered.nginx.conf")), "haproxy.cfg", []byte(readGolden(t, "layered.haproxy.cfg")), testOptions)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		t.Errorf("%s:%d: %s %s: %s", f.File, f.Line, f.Severity, f.Rule, f.Message)
	}
}

// TestChainFindings: each break of the chain is reported where it is
// written, in the file that has it.
func TestChainFindings(t *testing.T) {
	nginx, haproxy := readGolden(t, "layered.nginx.conf"), readGolden(t, "layered.haproxy.cfg")
	tests := []struct {
		name           string
		nginx, haproxy string
		want           []string // rule@file:text
	}{
		{name: "HTTP/1.0", nginx: edit(t, nginx, "        proxy_http_version 1.1;\n", ""),
			want: []string{"chain/http-version@nginx.conf:location /"}},
		{name: "no Upgrade", nginx: edit(t, nginx, "        proxy_set_header Upgrade $wsctl_upgrade;\n", ""),
			want: []string{"chain/upgrade-headers@nginx.conf:location /"}},
		{name: "nginx times out first", nginx: edit(t, nginx, "proxy_read_timeout 2m;", "proxy_read_timeout 60s;"),
			want: []string{"chain/timeout@nginx.conf:proxy_read_timeout 60s"}},
		{name: "nginx default timeouts below the tunnel", nginx: edit(t, nginx, "        proxy_read_timeout 2m;\n", ""),
			haproxy: edit(t, haproxy, "timeout tunnel 90s", "timeout tunnel 10m"),
			want:    []string{"chain/timeout@nginx.conf:location /", "chain/timeout@nginx.conf:proxy_send_timeout 2m"}},
		{name: "no X-Forwarded-Proto", nginx: edit(t, nginx, "        proxy_set_header X-Forwarded-Proto https;\n", ""),
			want: []string{"chain/forwarded@nginx.conf:location /"}},
		{name: "HAProxy overwrites the scheme", haproxy: edit(t, haproxy, "X-Forwarded-Proto http unless from_front", "X-Forwarded-Proto http"),
			want: []string{"chain/forwarded@haproxy.cfg:X-Forwarded-Proto http"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, h := cmp.Or(tt.nginx, nginx), cmp.Or(tt.haproxy, haproxy)
			fs, err := Chain("nginx.conf", []byte(n), "haproxy.cfg", []byte(h), testOptions)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range fs {
				got = append(got, f.Rule+"@"+f.File+":"+strconv.Itoa(f.Line))
			}
			if len(got) != len(tt.want) {
				t.Errorf("got %v, want %d findings %v", got, len(tt.want), tt.want)
			}
			for _, w := range tt.want {
				rule, rest, _ := strings.Cut(w, "@")
				file, text, _ := strings.Cut(rest, ":")
				src := n
				if file == "haproxy.cfg" {
					src = h
				}
				key := rule + "@" + file + ":" + strconv.Itoa(lineOf(t, src, text))
				if !strings.Contains(strings.Join(got, " "), key) {
					t.Errorf("missing %s; got %v", key, got)
				}
			}
		})
	}
}

// TestChainUnlinked: an nginx config whose upstreams are not HAProxy's
// frontends is not a chain.
func TestChainUnlinked(t *testing.T) {
	fs, err := Chain("nginx.conf", []byte(readGolden(t, "basic.nginx.conf")), "haproxy.cfg", []byte(readGolden(t, "layered.haproxy.cfg")), testOptions)
	if err != nil || len(fs) != 0 {
		t.Errorf("Chain = %v, %v; want no finding", fs, err)
	}
}

// TestFiles: each file and stdin ("-", named <stdin>) linted, then the
// chain between them given more than one; [] when clean.
func TestFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := dir + "/" + name
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	front := write("nginx.conf", strings.Replace(readGolden(t, "layered.nginx.conf"), "proxy_read_timeout 2m", "proxy_read_timeout 60s", 1))
	balancer := write("haproxy.cfg", readGolden(t, "layered.haproxy.cfg"))
	opt := Options{Connections: 5000, FDLimit: 20000}
	rules := func(fs []Finding, file string) (out []string) {
		for _, f := range fs {
			if f.File == file {
				out = append(out, f.Rule)
			}
		}
		return out
	}
	t.Run("one file and stdin", func(t *testing.T) {
		fs, err := Files([]string{"-"}, strings.NewReader(readGolden(t, "layered.haproxy.cfg")), opt)
		if err != nil {
			t.Fatal(err)
		}
		if fs == nil || len(rules(fs, "<stdin>")) != len(fs) {
			t.Errorf("got %+v, want [] or findings on <stdin> only", fs)
		}
	})
	t.Run("both layers", func(t *testing.T) {
		fs, err := Files([]string{front, balancer}, nil, opt)
		if err != nil {
			t.Fatal(err)
		}
		chain := false
		for _, f := range fs {
			chain = chain || f.File == front && f.Rule == "chain/timeout"
		}
		if !chain {
			t.Errorf("got %+v, want chain/timeout on %s", fs, front)
		}
	})
	t.Run("stdin too large", func(t *testing.T) {
		_, err := Files([]string{balancer, "-"}, strings.NewReader("#"+strings.Repeat("x", 16<<20)), opt)
		if err == nil || !strings.Contains(err.Error(), "lint: standard input: too large") {
			t.Errorf("got %v, want stdin refused", err)
		}
	})
}

package importer

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wsctl/wsctl/discovery/static"
	"github.com/wsctl/wsctl/internal/lbtest"
	"github.com/wsctl/wsctl/lint"
	"github.com/wsctl/wsctl/proxy"
	"github.com/wsctl/wsctl/render"
	"github.com/wsctl/wsctl/spec"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// corpus is every config import is tested on: lint's corpus and the
// real-world-shaped ones of testdata/import.
func corpus(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, pattern := range []string{
		"../testdata/lint/haproxy/*.cfg", "../testdata/lint/nginx/*.conf", "../testdata/lint/nginx/*/nginx.conf",
		"../testdata/import/*.cfg", "../testdata/import/*/nginx.conf",
	} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 15 {
		t.Fatalf("corpus: %d files", len(files))
	}
	return files
}

// goldenName is the golden file of a corpus config.
func goldenName(file string) string {
	rel := strings.TrimPrefix(file, "../testdata/")
	return filepath.Join("testdata", strings.ReplaceAll(rel, "/", "_")+".golden")
}

// TestImportCorpus imports every corpus config and compares the notes and
// the spec with golden files: every uncarried line at its line number.
func TestImportCorpus(t *testing.T) {
	for _, file := range corpus(t) {
		t.Run(strings.TrimPrefix(file, "../testdata/"), func(t *testing.T) {
			var got strings.Builder
			r, err := File(file, "")
			switch {
			case errors.Is(err, ErrNoSpec):
				fmt.Fprintf(&got, "error: %v\n", err)
			case err != nil:
				t.Fatal(err)
			default:
				for _, n := range r.Notes {
					fmt.Fprintf(&got, "%s important=%t\n", n, n.Important)
				}
				fmt.Fprintf(&got, "---\n%s", r.YAML)
			}
			golden := goldenName(file)
			if *update {
				if err := os.WriteFile(golden, []byte(got.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if got.String() != string(want) {
				t.Errorf("%s differs from %s (-update rewrites it):\n%s", file, golden, got.String())
			}
		})
	}
}

// TestImportRoundTrip renders every imported spec, validates the rendering
// with the real haproxy -c or nginx -t, parses it back with lint's parser
// and compares it with the original: the same frontends, backends,
// servers, cookie, balance and tunnel timeout, or an important note at the
// line that differs.
func TestImportRoundTrip(t *testing.T) {
	for _, file := range corpus(t) {
		t.Run(strings.TrimPrefix(file, "../testdata/"), func(t *testing.T) {
			r, err := File(file, "")
			if errors.Is(err, ErrNoSpec) {
				t.Skip("a fragment: no spec to render")
			}
			if err != nil {
				t.Fatal(err)
			}
			lbtest.Binary(t, r.Target)
			res, err := render.Config(r.Spec, r.Target, static.Snapshot(r.Spec), "")
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			s := validatable(t, r.Spec, dir)
			checked, err := render.Config(s, r.Target, static.Snapshot(s), "")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := (proxy.Validator{Dir: dir}).Validate(context.Background(), r.Target, checked.Config); err != nil {
				t.Fatalf("%v\n%s", err, checked.Config)
			}
			var orig, back outline
			if r.Target == lint.TargetHAProxy {
				orig, back = haproxyOutline(t, file, nil), haproxyOutline(t, "rendered", res.Config)
			} else {
				orig, back = nginxOutline(t, file, nil), nginxOutline(t, "rendered", res.Config)
			}
			for key, o := range orig {
				if back[key].value == o.value {
					continue
				}
				if !slices.ContainsFunc(r.Notes, func(n Note) bool { return n.Important && n.Line == o.line }) {
					t.Errorf("%s: %s: original %q (line %d), rendered %q, and no important note at line %d", file, key, o.value, o.line, back[key].value, o.line)
				}
			}
		})
	}
}

// validatable is s with every path pointing into dir, one self-signed
// certificate for every TLS bind and servers on loopback (both binaries
// resolve host names), so the binary can check it here.
func validatable(t *testing.T, s *spec.Spec, dir string) *spec.Spec {
	t.Helper()
	c := *s
	c.Listeners = slices.Clone(s.Listeners)
	cert := filepath.Join(dir, "site.pem")
	lbtest.WriteCert(t, cert)
	stand := func(t *spec.TLS) *spec.TLS {
		if t == nil {
			return nil
		}
		return &spec.TLS{Cert: cert, ALPN: t.ALPN}
	}
	for i := range c.Listeners {
		l := &c.Listeners[i]
		l.TLS = stand(l.TLS)
		l.Binds = slices.Clone(l.Binds)
		for j := range l.Binds {
			l.Binds[j].TLS = stand(l.Binds[j].TLS)
		}
	}
	c.Backends = slices.Clone(s.Backends)
	for i := range c.Backends {
		c.Backends[i].Servers = slices.Clone(s.Backends[i].Servers)
		for j, srv := range c.Backends[i].Servers {
			_, port, _ := net.SplitHostPort(srv.Address)
			c.Backends[i].Servers[j].Address = net.JoinHostPort("127.0.0.1", port)
		}
	}
	c.HAProxy.Log = ""
	c.Nginx.ErrorLog, c.Nginx.PidFile, c.Nginx.TempDir = "stderr", filepath.Join(dir, "nginx.pid"), dir
	return &c
}

// outline maps "backend X balance", "backend X server S", … to the value
// and the original line it was read from.
type outline map[string]origin

type origin struct {
	value string
	line  int
}

func (o outline) set(key, value string, line int) { o[key] = origin{value, line} }

func haproxyOutline(t *testing.T, name string, data []byte) outline {
	t.Helper()
	if data == nil {
		var err error
		if data, err = os.ReadFile(name); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := lint.ParseHAProxy(name, data)
	if err != nil {
		t.Fatal(err)
	}
	o := outline{}
	for _, s := range cfg.Sections {
		if d, ok := s.Lookup("tune.bufsize"); ok && s.Kind == "global" {
			o.set("global tune.bufsize", arg(d.Args, 0), d.Line)
		}
		if s.Kind == "frontend" || s.Kind == "listen" {
			o.set("frontend "+s.Name, "present", s.Line)
			for _, d := range s.Lines {
				if d.Name == "bind" && len(d.Args) > 0 {
					o.set("frontend "+s.Name+" bind "+strings.TrimPrefix(d.Args[0], "*"), bindTLS(d.Args[1:]), d.Line)
				}
			}
		}
		if s.Kind != "backend" && s.Kind != "listen" {
			continue
		}
		o.set("backend "+s.Name, "present", s.Line)
		balance := "roundrobin"
		line := s.Line
		if d, ok := s.Lookup("balance"); ok {
			balance, line = strings.Join(d.Args, " "), d.Line
		}
		o.set("backend "+s.Name+" balance", balance, line)
		if d, ok := s.Lookup("cookie"); ok {
			cookie := d.Args[0]
			if slices.Contains(d.Args[1:], "httponly") {
				cookie += " httponly"
			}
			o.set("backend "+s.Name+" cookie", cookie, d.Line)
		}
		if d, ok := s.Lookup("timeout", "tunnel"); ok {
			v, _ := lint.ParseHAProxyTime(d.Args[1])
			o.set("backend "+s.Name+" tunnel", v.String(), d.Line)
		}
		for _, d := range s.Lines {
			if d.Name == "server" && len(d.Args) > 1 {
				o.set("backend "+s.Name+" server "+d.Args[0], d.Args[1], d.Line)
			}
		}
	}
	return o
}

// bindTLS is "plain", "ssl", or "ssl h2" when the bind offers HTTP/2 (and
// with it RFC 8441 WebSockets).
func bindTLS(opts []string) string {
	if !slices.Contains(opts, "ssl") {
		return "plain"
	}
	if i := slices.Index(opts, "alpn"); i >= 0 && i+1 < len(opts) && slices.Contains(strings.Split(opts[i+1], ","), "h2") {
		return "ssl h2"
	}
	return "ssl"
}

func nginxOutline(t *testing.T, name string, data []byte) outline {
	t.Helper()
	var cfg *lint.NginxConfig
	var err error
	if data == nil {
		cfg, err = lint.ParseNginxFile(name)
	} else {
		cfg, err = lint.ParseNginx(name, data)
	}
	if err != nil {
		t.Fatal(err)
	}
	o := outline{}
	http2On := false // the server block being walked has `http2 on`
	var walk func(ds []lint.Directive, upstream string)
	walk = func(ds []lint.Directive, upstream string) {
		for _, d := range ds {
			switch {
			case d.Name == "server" && d.IsBlock:
				http2On = slices.ContainsFunc(d.Block, func(c lint.Directive) bool { return c.Name == "http2" && arg(c.Args, 0) == "on" })
				walk(d.Block, upstream)
			case d.Name == "upstream":
				o.set("upstream "+arg(d.Args, 0), "present", d.Line)
				o.set("upstream "+arg(d.Args, 0)+" balance", "round-robin", d.Line)
				walk(d.Block, arg(d.Args, 0))
			case upstream != "" && d.Name == "server":
				o.set("upstream "+upstream+" server "+arg(d.Args, 0), "present", d.Line)
			case upstream != "" && (d.Name == "least_conn" || d.Name == "ip_hash" || d.Name == "hash"):
				o.set("upstream "+upstream+" balance", strings.Join(d.Words(), " "), d.Line)
			case d.Name == "listen":
				addr := arg(d.Args, 0)
				if !strings.Contains(addr, ":") {
					addr = ":" + addr
				}
				tls := "plain"
				if slices.Contains(d.Args, "ssl") {
					tls = "ssl"
				}
				if tls == "ssl" && (http2On || slices.Contains(d.Args, "http2")) {
					tls += " http2"
				}
				o.set("listen "+strings.TrimPrefix(addr, "*"), tls, d.Line)
			case d.Name == "proxy_read_timeout":
				v, _ := lint.ParseNginxTime(arg(d.Args, 0))
				o.set("tunnel", v.String(), d.Line)
			default:
				walk(d.Block, upstream)
			}
		}
	}
	walk(cfg.Root, "")
	return o
}

package proxy

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"

	"github.com/wsctl/wsctl/spec"
)

// TestStandIns: a missing certificate becomes a self-signed one that loads
// as a key pair, a missing nginx temp dir an empty directory, each named;
// what exists is left alone.
func TestStandIns(t *testing.T) {
	dir, scratch := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "real.pem"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &spec.Spec{
		Listeners: []spec.Listener{
			{Name: "a", TLS: &spec.TLS{Cert: "real.pem"}},
			{Name: "b", TLS: &spec.TLS{Cert: "tls/site.pem", Key: "tls/site.key"}},
			{Name: "c"},
			{Name: "d", Binds: []spec.Bind{{Address: ":80"}, {Address: ":443", TLS: &spec.TLS{Cert: "tls/d.pem"}}}},
		},
		Nginx: spec.Nginx{TempDir: filepath.Join(dir, "run", "nginx")},
	}
	got, err := StandIns(s, NginxBinary, dir, scratch)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Field != "listeners[1].tls.cert" || got[0].Path != "tls/site.pem" || got[1].Field != "listeners[3].binds[1].tls.cert" || got[2].Field != "nginx.temp_dir" {
		t.Fatalf("stand-ins %+v, want listeners[1].tls.cert, listeners[3].binds[1].tls.cert and nginx.temp_dir", got)
	}
	if d := s.Listeners[3].Binds[1].TLS.Cert; d != s.Listeners[1].TLS.Cert {
		t.Errorf("a bind's missing certificate: got %s, want the stand-in %s", d, s.Listeners[1].TLS.Cert)
	}
	if s.Listeners[0].TLS.Cert != "real.pem" {
		t.Errorf("an existing certificate was replaced: %s", s.Listeners[0].TLS.Cert)
	}
	b := s.Listeners[1].TLS
	if _, err := tls.LoadX509KeyPair(b.Cert, b.Key); err != nil {
		t.Errorf("stand-in certificate %s: %v", b.Cert, err)
	}
	if fi, err := os.Stat(s.Nginx.TempDir); err != nil || !fi.IsDir() || filepath.Dir(s.Nginx.TempDir) != scratch {
		t.Errorf("stand-in temp dir %s: %v", s.Nginx.TempDir, err)
	}

	// For HAProxy the temp dir is no matter.
	s = &spec.Spec{Nginx: spec.Nginx{TempDir: filepath.Join(dir, "missing")}}
	if got, err := StandIns(s, HAProxyBinary, dir, t.TempDir()); err != nil || len(got) != 0 {
		t.Errorf("haproxy: stand-ins %+v, %v; want none", got, err)
	}
}

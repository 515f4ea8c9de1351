package proxy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/wsctl/wsctl/spec"
)

// StandIn is one file or directory of a spec that does not exist on this
// machine and that a check validated with a throwaway one instead.
type StandIn struct {
	Field string // the spec's field, such as "listeners[0].tls.cert"
	Path  string // the path the spec gives
	// Note says what was used instead and what the proxy's host needs.
	Note string
}

// StandIns points the files and directories of s that the proxy's host
// provides at run time, but that do not exist here, at throwaway ones in
// scratch (an existing directory the caller removes): a missing TLS
// certificate becomes a self-signed one, a missing nginx.temp_dir an empty
// directory. A check on a laptop or in CI then judges the config, not the
// machine; each stand-in is returned so the caller can say so. Relative
// paths resolve against dir ("": the current directory), as the proxy
// resolves them when it runs there. s is changed in place.
func StandIns(s *spec.Spec, target, dir, scratch string) ([]StandIn, error) {
	var out []StandIn
	cert := ""
	for i := range s.Listeners {
		l := &s.Listeners[i]
		for j, b := range l.AllBinds() {
			tls := b.TLS // the listener's own: changed in place
			if tls == nil || (exists(dir, tls.Cert) && (tls.Key == "" || exists(dir, tls.Key))) {
				continue
			}
			if cert == "" {
				cert = filepath.Join(scratch, "throwaway.pem")
				if err := writeSelfSigned(cert); err != nil {
					return nil, fmt.Errorf("stand-in certificate: %w", err)
				}
			}
			_, tlsField := l.BindFields(j)
			out = append(out, StandIn{Field: fmt.Sprintf("listeners[%d].%s.cert", i, tlsField), Path: tls.Cert,
				Note: "validated with a throwaway self-signed certificate; the proxy's host needs the real one there"})
			tls.Cert = cert
			if tls.Key != "" {
				tls.Key = cert
			}
		}
	}
	if target == NginxBinary && s.Nginx.TempDir != "" && !exists(dir, s.Nginx.TempDir) {
		tmp := filepath.Join(scratch, "nginx-temp")
		if err := os.Mkdir(tmp, 0o700); err != nil {
			return nil, fmt.Errorf("stand-in temp dir: %w", err)
		}
		out = append(out, StandIn{Field: "nginx.temp_dir", Path: s.Nginx.TempDir,
			Note: fmt.Sprintf("validated with an empty scratch directory; nginx creates its subdirectories but not it: mkdir -p %s before nginx starts", s.Nginx.TempDir)})
		s.Nginx.TempDir = tmp
	}
	return out, nil
}

// exists reports whether path, resolved against dir when relative, exists.
func exists(dir, path string) bool {
	if !filepath.IsAbs(path) && dir != "" {
		path = filepath.Join(dir, path)
	}
	_, err := os.Stat(path)
	return !errors.Is(err, fs.ErrNotExist)
}

// writeSelfSigned writes a PEM holding a self-signed certificate for
// localhost and its key, which both HAProxy and nginx accept in one file.
func writeSelfSigned(path string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "wsctl check stand-in"},
		DNSNames:     []string{"localhost"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	data = append(data, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})...)
	return os.WriteFile(path, data, 0o600)
}

package proxy

import (
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"os"
	"path/filepath"

	"github.com/wsctl/wsctl/internal/selfsigned"
	"github.com/wsctl/wsctl/spec"
)

// StandIn is one file or directory of a spec that does not exist on this
// machine and that a check validated with a throwaway one instead.
// Its JSON is part of `wsctl check -o json`, a documented contract.
type StandIn struct {
	Field string `json:"field"` // the spec's field, such as "listeners[0].tls.cert"
	Path  string `json:"path"`  // the path the spec gives
	// Note says what was used instead and what the proxy's host needs.
	Note string `json:"note"`
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
	for field, tls := range certificates(s, target) {
		if exists(dir, tls.Cert) && (tls.Key == "" || exists(dir, tls.Key)) {
			continue
		}
		if cert == "" {
			cert = filepath.Join(scratch, "throwaway.pem")
			if err := selfsigned.WriteFile(cert, "wsctl check stand-in"); err != nil {
				return nil, fmt.Errorf("stand-in certificate: %w", err)
			}
		}
		out = append(out, StandIn{Field: field, Path: tls.Cert,
			Note: "validated with a throwaway self-signed certificate; the proxy's host needs the real one there"})
		tls.Cert = cert
		if tls.Key != "" {
			tls.Key = cert
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

// certificates yields the TLS settings target's config uses, by their
// field: the front layer's when nginx is rendered in front of HAProxy, the
// listeners' otherwise.
func certificates(s *spec.Spec, target string) iter.Seq2[string, *spec.TLS] {
	return func(yield func(string, *spec.TLS) bool) {
		front := s.Front != nil && target == NginxBinary
		for i, l := range s.Listeners {
			if front {
				break
			}
			for j, b := range l.AllBinds() { // the listener's own TLS pointers
				if _, field := l.BindFields(j); b.TLS != nil && !yield(fmt.Sprintf("listeners[%d].%s.cert", i, field), b.TLS) {
					return
				}
			}
		}
		if !front {
			return
		}
		for i, l := range s.Front.Listeners {
			if l.TLS != nil && !yield(fmt.Sprintf("front.listeners[%d].tls.cert", i), l.TLS) {
				return
			}
		}
	}
}

// exists reports whether path, resolved against dir when relative, exists.
func exists(dir, path string) bool {
	if !filepath.IsAbs(path) && dir != "" {
		path = filepath.Join(dir, path)
	}
	_, err := os.Stat(path)
	return !errors.Is(err, fs.ErrNotExist)
}

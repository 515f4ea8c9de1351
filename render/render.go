// Package render is the one path from a spec and a discovery snapshot to a
// proxy config: build the model, render it through the template, then parse
// the text back and check that it holds exactly the model's frontends,
// backends and servers. `wsctl render`, `diff`, `check`, the agent, the
// end-to-end tests and the benchmarks all go through Config, so what the
// CLI proves is what the agent writes.
package render

import (
	"path/filepath"

	"github.com/wsctl/wsctl/discovery"
	"github.com/wsctl/wsctl/model"
	"github.com/wsctl/wsctl/spec"
	"github.com/wsctl/wsctl/templates"
)

// Result is a rendered config and the model it came from.
type Result struct {
	Model  *model.Model
	Config []byte
}

// Config renders s joined with snap for target ("": the spec's proxy).
// template, when not empty, is a template file used instead of the spec's
// (templates.haproxy / templates.nginx, resolved against the spec's
// directory) or the embedded one. The error names what failed: a spec the
// target cannot serve, a template, or a rendered config that does not
// parse back to the model (wrapping ErrMismatch). When only the template or
// the check failed, the Result still carries the Model (and no Config), so
// the agent can follow it through the runtime API.
func Config(s *spec.Spec, target string, snap discovery.Snapshot, template string) (*Result, error) {
	if target == "" {
		target = s.Proxy
	}
	m, err := model.Build(s, target, snap)
	if err != nil {
		return nil, err
	}
	text, err := Text(s, m, template)
	if err != nil {
		return &Result{Model: m}, err
	}
	return &Result{Model: m, Config: text}, nil
}

// Text renders m, built from s, through template ("": the spec's or the
// embedded one, as for Config) and checks the text parses back to m
// (Verify). It is Config's second half, for a caller (the agent) that
// acts on the model before it needs the text.
func Text(s *spec.Spec, m *model.Model, template string) ([]byte, error) {
	if template == "" {
		template = SpecTemplate(s, m.Target)
	}
	text, err := templates.Render(m, template)
	if err != nil {
		return nil, err
	}
	if err := Verify(m, text); err != nil {
		return nil, err
	}
	return text, nil
}

// SpecTemplate returns the spec's template file for target, resolved
// against the spec's directory so it does not depend on the working
// directory; "" when the spec names none.
func SpecTemplate(s *spec.Spec, target string) string {
	p := s.Templates.HAProxy
	if target == model.TargetNginx {
		p = s.Templates.Nginx
	}
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(s.File), p)
}

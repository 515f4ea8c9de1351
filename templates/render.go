// Package templates holds the embedded HAProxy and nginx templates and renders
// a model through them (or through a user's own template, with the same model
// and the same functions: sprig's hermetic ones, bounded; see funcMap).
package templates

import (
	"embed"
	"fmt"
	"path/filepath"
	"text/template"

	"github.com/wsctl/wsctl/internal/inputfile"
	"github.com/wsctl/wsctl/model"
)

//go:embed haproxy.cfg.tmpl nginx.conf.tmpl
var embedded embed.FS

var embeddedName = map[string]string{
	model.TargetHAProxy: "haproxy.cfg.tmpl",
	model.TargetNginx:   "nginx.conf.tmpl",
}

// Render renders m through the embedded template of m.Target, or through the
// template file at override when it is not empty (a regular file of at most
// inputfile.MaxConfig bytes). A config over MaxOutput is an error.
func Render(m *model.Model, override string) ([]byte, error) {
	name, text, err := source(m.Target, override)
	if err != nil {
		return nil, err
	}
	t, err := template.New(name).Funcs(funcMap()).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("templates: parse %s: %w", name, explainParseError(err))
	}
	out := &limitedBuffer{limit: MaxOutput}
	if err := t.Execute(out, m); err != nil {
		return nil, fmt.Errorf("templates: render %s: %w", name, err)
	}
	return out.buf, nil
}

// Embedded returns the text of the embedded template for target, the starting
// point for a user's own.
func Embedded(target string) (string, error) {
	_, text, err := source(target, "")
	return text, err
}

func source(target, override string) (name, text string, err error) {
	if override != "" {
		b, err := inputfile.Read(override, inputfile.MaxConfig)
		if err != nil {
			return "", "", fmt.Errorf("templates: %w", err)
		}
		return filepath.Base(override), string(b), nil
	}
	file, ok := embeddedName[target]
	if !ok {
		return "", "", fmt.Errorf("templates: unknown target %q (want haproxy or nginx)", target)
	}
	b, err := embedded.ReadFile(file)
	if err != nil {
		return "", "", fmt.Errorf("templates: %w", err)
	}
	return file, string(b), nil
}

package main

import (
	"context"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsctl/wsctl/discovery"
	"github.com/wsctl/wsctl/discovery/consul"
	"github.com/wsctl/wsctl/discovery/static"
	"github.com/wsctl/wsctl/model"
	"github.com/wsctl/wsctl/spec"
	"github.com/wsctl/wsctl/templates"
)

// defaultSpecPath is where commands look for the spec without -c.
const defaultSpecPath = "wsctl.yaml"

// GenerateOptions are the flags shared by the commands that render a config.
type GenerateOptions struct {
	SpecPath string
	Target   string // "" means the spec's proxy
	Template string // "" means the spec's template, else the embedded one
}

func (g *GenerateOptions) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&g.SpecPath, "config", "c", defaultSpecPath, "path of the wsctl spec")
	cmd.Flags().StringVar(&g.Target, "target", "", "proxy to render for: haproxy or nginx (default: the spec's proxy)")
	cmd.Flags().StringVar(&g.Template, "template", "", "render with this template file instead of the embedded one")
	_ = cmd.RegisterFlagCompletionFunc("target", cobra.FixedCompletions([]string{"haproxy", "nginx"}, cobra.ShellCompDirectiveNoFileComp))
}

// generated is a rendered config and what it came from.
type generated struct {
	Spec   *spec.Spec
	Model  *model.Model
	Config []byte
}

// generate runs the data flow: spec → discovery → model → template.
func (g *GenerateOptions) generate() (*generated, error) {
	s, err := spec.Load(g.SpecPath)
	if err != nil {
		return nil, err
	}
	target := g.Target
	if target == "" {
		target = s.Proxy
	}
	snap, err := snapshot(s)
	if err != nil {
		return nil, err
	}
	m, err := model.Build(s, target, snap)
	if err != nil {
		return nil, err
	}
	tmpl := g.Template
	if tmpl == "" {
		tmpl = specTemplate(s, target)
	}
	out, err := templates.Render(m, tmpl)
	if err != nil {
		return nil, err
	}
	return &generated{Spec: s, Model: m, Config: out}, nil
}

// consulTimeout bounds the one-shot Consul queries of render, diff and check.
const consulTimeout = 10 * time.Second

// snapshot discovers every backend's servers once: the spec's own, and those
// of Consul-backed backends with one (non-blocking) query each.
func snapshot(s *spec.Spec) (discovery.Snapshot, error) {
	snap := static.Snapshot(s)
	ctx, cancel := context.WithTimeout(context.Background(), consulTimeout)
	defer cancel()
	fromConsul, err := consul.Once(ctx, s)
	if err != nil {
		return discovery.Snapshot{}, err
	}
	for b, instances := range fromConsul.Backends {
		snap.Backends[b] = instances
	}
	return snap, nil
}

// specTemplate returns the spec's template override for target, resolved
// against the spec's directory.
func specTemplate(s *spec.Spec, target string) string {
	p := s.Templates.HAProxy
	if target == model.TargetNginx {
		p = s.Templates.Nginx
	}
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(s.File), p)
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsctl/wsctl/discovery"
	"github.com/wsctl/wsctl/discovery/consul"
	"github.com/wsctl/wsctl/discovery/static"
	"github.com/wsctl/wsctl/model"
	"github.com/wsctl/wsctl/render"
	"github.com/wsctl/wsctl/spec"
)

// GenerateOptions are the flags shared by the commands that render a config.
type GenerateOptions struct {
	// SpecPath is -c; "" looks for the spec (loadSpec).
	SpecPath string
	Target   string // "" means the spec's proxy
	Template string // "" means the spec's template, else the embedded one
}

func (g *GenerateOptions) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&g.SpecPath, "config", "c", "", "path of the wsctl spec "+specDefaultHelp)
	cmd.Flags().StringVar(&g.Target, "target", "", "proxy to render for: haproxy or nginx (default: the spec's proxy)")
	cmd.Flags().StringVar(&g.Template, "template", "", "render with this template file instead of the embedded one")
	_ = cmd.RegisterFlagCompletionFunc("target", cobra.FixedCompletions([]string{model.TargetHAProxy, model.TargetNginx}, cobra.ShellCompDirectiveNoFileComp))
}

// generated is a rendered config and what it came from.
type generated struct {
	Spec   *spec.Spec
	Model  *model.Model
	Config []byte
	// ConsulErr is why Consul's servers were left out (generateWith's
	// leniency); nil when they are in, or the spec has none.
	ConsulErr error
}

// generate runs the data flow: spec → discovery → render. Warnings about
// discovered instances left out (an address that is not an IP, a bad port)
// go to io.ErrOut: the config is rendered from the others.
func (g *GenerateOptions) generate(io *IOStreams) (*generated, error) {
	return g.generateWith(io, nil)
}

// generateWith is generate with a check's leniency: prepare, when not nil,
// may change the loaded spec before it is rendered, and a Consul that does
// not answer leaves out the servers it would add (saying so on io.ErrOut)
// instead of failing.
func (g *GenerateOptions) generateWith(io *IOStreams, prepare func(*spec.Spec) error) (*generated, error) {
	s, err := loadSpec(io, g.SpecPath)
	if errors.Is(err, spec.ErrNotFound) {
		return nil, fmt.Errorf("%w; give it with -c FILE", err)
	}
	if err != nil {
		return nil, err
	}
	if prepare != nil {
		if err := prepare(s); err != nil {
			return nil, err
		}
	}
	snap, err := snapshot(s, warnLogger(io.ErrOut))
	var consulErr error
	if err != nil && prepare != nil {
		consulErr = err
		fmt.Fprintf(io.ErrOut, "wsctl: %v\nwsctl: validated without the servers Consul would add (consul.address or CONSUL_HTTP_ADDR names the agent; each server from Consul is validated when it is added)\n", err)
		snap, err = static.Snapshot(s), nil
	}
	if err != nil {
		return nil, err
	}
	r, err := render.Config(s, g.Target, snap, g.Template)
	if err != nil || r.Config == nil {
		return nil, err
	}
	return &generated{Spec: s, Model: r.Model, Config: r.Config, ConsulErr: consulErr}, nil
}

// consulTimeout bounds the one-shot Consul queries of render, diff and check.
const consulTimeout = 10 * time.Second

// snapshot discovers every backend's servers once: the spec's own, and those
// of Consul-backed backends with one (non-blocking) query each.
func snapshot(s *spec.Spec, log *slog.Logger) (discovery.Snapshot, error) {
	snap := static.Snapshot(s)
	ctx, cancel := context.WithTimeout(context.Background(), consulTimeout)
	defer cancel()
	fromConsul, err := consul.Once(ctx, s, log)
	if err != nil {
		return discovery.Snapshot{}, err
	}
	for b, instances := range fromConsul.Backends {
		snap.Backends[b] = instances
	}
	return snap, nil
}

// warnLogger logs warnings and errors to w as text lines without a time.
func warnLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		Level: slog.LevelWarn,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
}

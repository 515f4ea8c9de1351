package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/wsctl/wsctl/discovery"
	"github.com/wsctl/wsctl/discovery/consul"
	"github.com/wsctl/wsctl/internal/cli"
	"github.com/wsctl/wsctl/internal/logging"
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

// load loads the spec -c names, or the one found; none found says how to
// give one.
func (g *GenerateOptions) load(io *cli.IOStreams) (*spec.Spec, error) {
	s, err := loadSpec(io, g.SpecPath)
	if errors.Is(err, spec.ErrNotFound) {
		return nil, fmt.Errorf("%w; give it with -c FILE", err)
	}
	return s, err
}

// generate renders the config (render.Generate). Warnings about
// discovered instances left out (an address that is not an IP, a bad port)
// go to io.ErrOut: the config is rendered from the others.
func (g *GenerateOptions) generate(io *cli.IOStreams) (*render.Generated, error) {
	s, err := g.load(io)
	if err != nil {
		return nil, err
	}
	return render.Generate(context.Background(), s, render.Options{Target: g.Target, Template: g.Template,
		Discover: func(ctx context.Context, s *spec.Spec) (discovery.Snapshot, error) {
			return consul.Snapshot(ctx, s, logging.Warnings(io.ErrOut))
		}})
}

// consulTimeout bounds rollout's one-shot Consul query as render's.
const consulTimeout = render.DiscoverTimeout

// Package check is `wsctl check`: render a spec, validate the config with
// the real haproxy or nginx binary, judge the proxy's host, lint the
// output, and for a spec with front: (nginx in front of HAProxy) do it for
// both layers and lint the chain between them. It joins render, proxy and
// lint, which know nothing of each other's verdicts; its reports are the
// documented JSON of `wsctl check -o json`.
package check

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/wsctl/wsctl/discovery"
	"github.com/wsctl/wsctl/discovery/consul"
	"github.com/wsctl/wsctl/lint"
	"github.com/wsctl/wsctl/proxy"
	"github.com/wsctl/wsctl/render"
	"github.com/wsctl/wsctl/spec"
)

// Options say what to check and with what.
type Options struct {
	// Target is the proxy to check ("": the spec's, and both layers of a
	// spec with front:).
	Target   string
	Template string // "" means the spec's template, else the embedded one
	// Strict fails on the binary's and lint's warnings too.
	Strict bool
	// Dir is where relative paths in the config (certificates) resolve.
	Dir string
	// HAProxy and Nginx are the binaries to validate with ("": found, see
	// proxy.FindBinary).
	HAProxy, Nginx string
	// Host describes the proxy's host (FDLimit, CPUs, Host only: the rest
	// comes from the spec).
	Host lint.Options
	// Version reads the binary's version into the report, which runs it
	// once more: only a pipeline reads it.
	Version bool
	// Log gets discovery's warnings; nil is slog.Default().
	Log *slog.Logger
	// Validate judges a rendered config; nil runs the real binary
	// (proxy.Validator with Dir, Strict, HAProxy and Nginx). A test gives
	// a fake to check what is made of the verdict.
	Validate func(ctx context.Context, target string, config []byte) (*proxy.Result, error)
}

// Report is what the check of one layer found. It is the output of `wsctl
// check -o json`: a documented contract, so fields are only ever added.
type Report struct {
	Target string `json:"target"`
	// Passed is the exit status: 0 when true, 1 when false.
	Passed bool `json:"passed"`
	// Valid is the binary's judgement: it accepted the config (with
	// --strict, without warnings).
	Valid         bool   `json:"valid"`
	Binary        string `json:"binary"`
	BinaryPath    string `json:"binary_path"`
	BinaryVersion string `json:"binary_version"`
	Backends      int    `json:"backends"`
	// Problems are the binary's errors and warnings, each at its line of
	// the generated config.
	Problems []proxy.Problem `json:"problems"`
	// Output is all the binary printed when it rejected the config.
	Output string `json:"output,omitempty"`
	// Host is the open-file judgement of the proxy's host; nil when it
	// can carry the connections.
	Host *proxy.Problem `json:"host"`
	// Lint are wsctl lint's findings on the generated config; nil when
	// lint did not run (the binary rejected the config).
	Lint []lint.Finding `json:"lint"`
	// StandIns are what does not exist here and was stood in for; an
	// unreachable Consul is "consul.address".
	StandIns []proxy.StandIn `json:"stand_ins"`
}

// ConsulField is the StandIn field of a Consul that did not answer: the
// config was validated without the servers it would add.
const ConsulField = "consul.address"

// Layered is `wsctl check -o json` of both layers of a spec with front:,
// a documented contract like Report.
type Layered struct {
	Passed bool      `json:"passed"`
	Layers []*Report `json:"layers"`
	// Chain are lint's findings between the layers (timeouts, headers,
	// HTTP version); empty when a layer was rejected.
	Chain []lint.Finding `json:"chain"`
}

// Run checks the spec load returns: one layer, or both of a spec with
// front: when o.Target is "" and the first layer's config was accepted.
// The result holds one Report per layer checked; Passed is the verdict of
// all, chain included. load is called once per layer: the stand-ins
// change the spec for the layer checked. An error is one that stopped the
// check (a bad spec, a binary missing).
func Run(ctx context.Context, load func() (*spec.Spec, error), o Options) (*Layered, error) {
	rep, first, err := layer(ctx, load, o, o.Target, o.Target == "")
	if err != nil {
		return nil, err
	}
	res := &Layered{Passed: rep.Passed, Layers: []*Report{rep}, Chain: []lint.Finding{}}
	if o.Target != "" || first == nil || first.Spec.Front == nil {
		return res, nil
	}
	other := proxy.NginxBinary
	if rep.Target == proxy.NginxBinary {
		other = proxy.HAProxyBinary
	}
	rep2, second, err := layer(ctx, load, o, other, true)
	if err != nil {
		return nil, err
	}
	res.Layers = append(res.Layers, rep2)
	res.Passed = res.Passed && rep2.Passed
	if second == nil {
		return res, nil
	}
	front, balancer := first, second
	if front.Model.Target != proxy.NginxBinary {
		front, balancer = second, first
	}
	chain, err := lint.Chain("generated nginx config", front.Config, "generated haproxy config", balancer.Config,
		lint.Options{Heartbeat: first.Spec.Heartbeat.D(), Connections: first.Spec.Connections})
	if err != nil {
		return nil, err
	}
	if chain != nil {
		res.Chain = chain
	}
	res.Passed = res.Passed && !lint.Fails(chain, o.Strict)
	return res, nil
}

// layer renders for target ("": the spec's proxy), judges the host,
// validates and lints; the config is returned when the binary accepted
// it. both says every layer of a two-layer spec may be checked, so a
// binary for the other proxy is no mistake.
func layer(ctx context.Context, load func() (*spec.Spec, error), o Options, target string, both bool) (*Report, *render.Generated, error) {
	s, err := load()
	if err != nil {
		return nil, nil, err
	}
	if target == "" {
		target = s.Proxy
	}
	// The runtime files and certificates the proxy's host provides need
	// not exist where the check runs: throwaway ones in a scratch
	// directory stand in for those missing, and the report says which.
	scratch, err := os.MkdirTemp("", "wsctl-check-")
	if err != nil {
		return nil, nil, fmt.Errorf("check: %w", err)
	}
	defer os.RemoveAll(scratch)
	standIns, err := proxy.StandIns(s, target, o.Dir, scratch)
	if err != nil {
		return nil, nil, err
	}
	rep := &Report{Problems: []proxy.Problem{}, StandIns: append([]proxy.StandIn{}, standIns...)}
	g, err := render.Generate(ctx, s, render.Options{Target: target, Template: o.Template, Lenient: true,
		Discover: func(ctx context.Context, s *spec.Spec) (discovery.Snapshot, error) {
			return consul.Snapshot(ctx, s, o.Log)
		}})
	if err != nil {
		return nil, nil, err
	}
	if g.DiscoverErr != nil {
		rep.StandIns = append(rep.StandIns, proxy.StandIn{Field: ConsulField, Path: g.Spec.Consul.Address,
			Note: fmt.Sprintf("validated without the servers Consul would add: %v", g.DiscoverErr)})
	}
	rep.Target, rep.Backends = g.Model.Target, len(g.Model.Backends)
	if flag, own := o.otherBinary(rep.Target); flag != "" && !(both && g.Spec.Front != nil) {
		return nil, nil, fmt.Errorf("--%s: the config is for %s (give --%s, or --target %s)", flag, rep.Target, own, flag)
	}
	if rep.Host, err = proxy.JudgeHost(g.Model, o.Host.FDLimit, o.Host.Host); err != nil {
		return nil, nil, err
	}
	validate := o.Validate
	if validate == nil {
		validate = proxy.Validator{Dir: o.Dir, Strict: o.Strict, HAProxy: o.HAProxy, Nginx: o.Nginx}.Validate
	}
	res, err := validate(ctx, rep.Target, g.Config)
	var rejected *proxy.Rejected
	switch {
	case errors.As(err, &rejected):
		rep.Binary, rep.BinaryPath, rep.Output = rejected.Binary, rejected.Path, rejected.Output
		rep.Problems = append(rep.Problems, rejected.Problems...)
	case err != nil:
		return nil, nil, err
	default:
		rep.Valid, rep.Binary, rep.BinaryPath = true, res.Binary, res.Path
		rep.Problems = append(rep.Problems, res.Warnings...)
	}
	if o.Version {
		if rep.BinaryVersion, err = proxy.BinaryVersion(ctx, rep.BinaryPath); err != nil {
			return nil, nil, err
		}
	}
	if !rep.Valid {
		return rep, nil, nil
	}
	// The rendered output must also pass wsctl's own WebSocket lint: a user
	// template can drop what the embedded ones get right.
	rep.Lint, err = lint.Lint("generated "+rep.Target+" config", g.Config, lint.Options{
		Target: rep.Target, Heartbeat: g.Spec.Heartbeat.D(), Connections: g.Spec.Connections,
		FDLimit: o.Host.FDLimit, CPUs: o.Host.CPUs, Host: o.Host.Host,
	})
	if err != nil {
		return nil, nil, err
	}
	if rep.Lint == nil {
		rep.Lint = []lint.Finding{}
	}
	rep.Passed = !lint.Fails(rep.Lint, o.Strict) && (rep.Host == nil || rep.Host.Severity != "error")
	return rep, g, nil
}

// otherBinary returns the binary given for the other proxy than target,
// and target's own, or "" when there is none.
func (o Options) otherBinary(target string) (flag, own string) {
	switch {
	case target == proxy.HAProxyBinary && o.Nginx != "":
		return "nginx", "haproxy"
	case target == proxy.NginxBinary && o.HAProxy != "":
		return "haproxy", "nginx"
	}
	return "", ""
}

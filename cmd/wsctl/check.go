package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/wsctl/wsctl/lint"
	"github.com/wsctl/wsctl/proxy"
	"github.com/wsctl/wsctl/spec"
)

// CheckOptions are the flags of wsctl check.
type CheckOptions struct {
	IO     *IOStreams
	Gen    GenerateOptions
	Strict bool
	// Dir is where relative paths in the config (certificates) resolve.
	Dir string
	// HAProxy and Nginx are the binaries to validate with ("": found in
	// PATH, for haproxy $WSCTL_HAPROXY first).
	HAProxy, Nginx string
	// ProxyHost describes the proxy's host (FDLimit, CPUs, Host only: the
	// rest comes from the spec).
	ProxyHost lint.Options
}

// NewCmdCheck builds `wsctl check`.
func NewCmdCheck(io *IOStreams, runF func(*CheckOptions) error) *cobra.Command {
	opts := &CheckOptions{IO: io}
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Render the config and validate it with the real haproxy or nginx binary",
		Long: `Render the config, then validate it with the real binary (haproxy -c,
nginx -t) and report each complaint against the generated line. It also
checks that the proxy's host can carry the spec's connections (its open-file
hard limit), and lints the output for WebSocket pitfalls (wsctl lint): an
error finding (or, with --strict, a warning) fails the check.

The proxy's host is described as for wsctl lint: --fd-limit and --cpus give
its limits (in CI, production's, not the runner's), --host says this machine
is it. Without them this machine's limits are assumed, and what falls short
of them is info that says so and does not fail.

What the proxy's host provides but this machine may lack does not fail the
check: a TLS certificate that does not exist here is replaced by a throwaway
self-signed one, a missing nginx.temp_dir by a scratch directory, and a
Consul that does not answer leaves out the servers it would add; stderr
names each, and what the host needs.

The binary is haproxy or nginx from PATH (or /usr/sbin), for haproxy
$WSCTL_HAPROXY when set; --haproxy or --nginx names the one to use, such as
the one production runs: HAProxy 2.6 and 3.0 accept different keywords.

A spec with front: (nginx in front of HAProxy) is checked as both layers
when --target is not given: HAProxy with haproxy -c, nginx with nginx -t,
each linted, then the chain between them (wsctl lint's chain/ rules);
--target checks one layer.

Exit 0 valid, 1 rejected (or warnings with --strict), 2 error (bad spec,
binary missing).`,
		Example: `  # Validate the basic example with the installed HAProxy
  WSCTL_RUN_DIR=/tmp/ws wsctl check -c examples/basic/wsctl.yaml

  # ... and its nginx rendering, failing on warnings too
  WSCTL_RUN_DIR=/tmp/ws wsctl check -c examples/basic/wsctl.yaml --target nginx --strict

  # Both layers of a two-layer spec (nginx in front of HAProxy) and the chain
  WSCTL_RUN_DIR=/tmp/ws wsctl check -c examples/layered/wsctl.yaml

  # In CI: judge against production's limits, not the runner's
  wsctl check -c deploy/wsctl.yaml --fd-limit 1048576 --cpus 16

  # On the load balancer itself: its own limits are facts
  wsctl check -c /etc/wsctl/wsctl.yaml --host

  # ... with the HAProxy build production runs
  WSCTL_RUN_DIR=/tmp/ws wsctl check -c examples/basic/wsctl.yaml --haproxy /opt/haproxy-3.0/sbin/haproxy`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return checkRun(opts)
		},
	}
	opts.Gen.addFlags(cmd)
	cmd.Flags().BoolVar(&opts.Strict, "strict", false, "treat the binary's warnings as errors")
	cmd.Flags().StringVar(&opts.Dir, "dir", "", "directory relative paths in the config resolve against (default: current)")
	cmd.Flags().StringVar(&opts.HAProxy, "haproxy", "", "haproxy binary to validate with (default: $WSCTL_HAPROXY, else haproxy in PATH)")
	cmd.Flags().StringVar(&opts.Nginx, "nginx", "", "nginx binary to validate with (default: nginx in PATH)")
	addHostFlags(cmd.Flags(), &opts.ProxyHost)
	return cmd
}

func checkRun(opts *CheckOptions) error {
	g, err := checkTarget(opts, opts.Gen.Target, opts.Gen.Target == "")
	if err != nil || opts.Gen.Target != "" || g.Spec.Front == nil {
		return err
	}
	// A spec with front: describes two layers: check the other one too,
	// then the chain between them.
	other := proxy.NginxBinary
	if g.Model.Target == proxy.NginxBinary {
		other = proxy.HAProxyBinary
	}
	g2, err := checkTarget(opts, other, true)
	if err != nil {
		return err
	}
	front, balancer := g, g2
	if front.Model.Target != proxy.NginxBinary {
		front, balancer = g2, g
	}
	findings, err := lint.Chain("generated nginx config", front.Config, "generated haproxy config", balancer.Config, lint.Options{Heartbeat: g.Spec.Heartbeat.D(), Connections: g.Spec.Connections})
	if err != nil {
		return err
	}
	if len(findings) > 0 {
		fmt.Fprintln(opts.IO.Out, "wsctl lint findings on the chain between the layers:")
		if err := writeLintText(opts.IO.Out, findings); err != nil {
			return err
		}
		if lint.Fails(findings, opts.Strict) {
			return errDiffers
		}
	}
	return nil
}

// checkTarget renders the config for target ("": the spec's proxy) and
// validates it; both says that every layer of a two-layer spec may be
// checked, so a binary flag for the other proxy is no mistake.
func checkTarget(opts *CheckOptions, target string, both bool) (*generated, error) {
	// The runtime files and certificates the proxy's host provides need not
	// exist where the check runs: throwaway ones in a scratch directory
	// stand in for those missing, and stderr says which.
	scratch, err := os.MkdirTemp("", "wsctl-check-")
	if err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	defer os.RemoveAll(scratch)
	gen := opts.Gen
	gen.Target = target
	g, err := gen.generateWith(opts.IO, func(s *spec.Spec) error {
		target := target
		if target == "" {
			target = s.Proxy
		}
		standIns, err := proxy.StandIns(s, target, opts.Dir, scratch)
		for _, si := range standIns {
			fmt.Fprintf(opts.IO.ErrOut, "wsctl: %s %s does not exist here: %s\n", si.Field, si.Path, si.Note)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	target = g.Model.Target
	if flag, other := binaryFlagFor(opts, target); flag != "" && !(both && g.Spec.Front != nil) {
		return nil, fmt.Errorf("--%s: the config is for %s (give --%s, or --target %s)", flag, target, other, flag)
	}
	failed := false
	p, err := proxy.JudgeHost(g.Model, opts.ProxyHost.FDLimit, opts.ProxyHost.Host)
	if err != nil {
		return nil, err
	}
	if p != nil {
		fmt.Fprintf(opts.IO.Out, "host: %s: %s\n", p.Severity, p.Message)
		failed = p.Severity == "error"
	}
	v := proxy.Validator{Dir: opts.Dir, Strict: opts.Strict, HAProxy: opts.HAProxy, Nginx: opts.Nginx}
	res, err := v.Validate(context.Background(), target, g.Config)
	var rejected *proxy.Rejected
	switch {
	case errors.As(err, &rejected):
		fmt.Fprintf(opts.IO.Out, "%s rejected the generated config:\n", rejected.Binary)
		printProblems(opts.IO.Out, rejected.Problems)
		if len(rejected.Problems) == 0 {
			fmt.Fprintln(opts.IO.Out, rejected.Output)
		}
		return nil, errDiffers
	case err != nil:
		return nil, err
	}
	printProblems(opts.IO.Out, res.Warnings)
	// The rendered output must also pass wsctl's own WebSocket lint: a user
	// template can drop what the embedded ones get right.
	findings, err := lint.Lint("generated "+target+" config", g.Config, lint.Options{
		Target: target, Heartbeat: g.Spec.Heartbeat.D(), Connections: g.Spec.Connections,
		FDLimit: opts.ProxyHost.FDLimit, CPUs: opts.ProxyHost.CPUs, Host: opts.ProxyHost.Host,
	})
	if err != nil {
		return nil, err
	}
	if len(findings) > 0 {
		fmt.Fprintln(opts.IO.Out, "wsctl lint findings on the generated config:")
		if err := writeLintText(opts.IO.Out, findings); err != nil {
			return nil, err
		}
		failed = failed || lint.Fails(findings, opts.Strict)
	}
	if failed {
		return nil, errDiffers
	}
	fmt.Fprintf(opts.IO.Out, "%s: config for %d backend(s) is valid\n", res.Binary, len(g.Model.Backends))
	return g, nil
}

// binaryFlagFor returns the binary flag given for the other proxy than
// target, and target's own flag, or "" when there is none.
func binaryFlagFor(opts *CheckOptions, target string) (flag, own string) {
	switch {
	case target == proxy.HAProxyBinary && opts.Nginx != "":
		return "nginx", "haproxy"
	case target == proxy.NginxBinary && opts.HAProxy != "":
		return "haproxy", "nginx"
	}
	return "", ""
}

func printProblems(w io.Writer, problems []proxy.Problem) {
	for _, p := range problems {
		if p.Line > 0 {
			fmt.Fprintf(w, "  line %d: %s: %s\n", p.Line, p.Severity, p.Message)
			if p.Text != "" {
				fmt.Fprintf(w, "    %d | %s\n", p.Line, p.Text)
			}
			continue
		}
		fmt.Fprintf(w, "  %s: %s\n", p.Severity, p.Message)
	}
}

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
	// Output is "text" or "json".
	Output string
}

// NewCmdCheck builds `wsctl check`.
func NewCmdCheck(f *Factory, runF func(*CheckOptions) error) *cobra.Command {
	io := f.IO
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
binary missing).

With -o json one object, a stable contract (fields are only ever added),
with the same exit codes (errors go to stderr, no JSON):

  {"target": "haproxy", "passed": false, "valid": true,
   "binary": "haproxy", "binary_path": "/usr/sbin/haproxy",
   "binary_version": "2.6.12-1+deb12u4", "backends": 1,
   "problems": [{"severity": "warning", "line": 42, "message": "…",
     "text": "timeout tunnel 1h"}],
   "host": {"severity": "error", "message": "the host allows 20000 …"},
   "lint": [{"rule": "…", "severity": "…", "file": "…", "line": 7,
     "message": "…", "fix": "…"}],
   "stand_ins": [{"field": "listeners[0].tls.cert", "path": "tls/site.pem",
     "note": "…"}]}

"passed" is exit 0; "valid" is the binary's judgement. "host" is null
when the host can carry the connections, "lint" null when lint did not run
(the binary rejected the config); "output" holds all the binary printed
when it rejected it. Both layers of a two-layer spec print
{"passed": …, "layers": [one object as above per layer], "chain": [lint
findings between the layers]}.`,
		Example: `  # Validate the basic example with the installed HAProxy
  WSCTL_RUN_DIR=/tmp/ws wsctl check -c examples/basic/wsctl.yaml

  # ... and its nginx rendering, failing on warnings too
  WSCTL_RUN_DIR=/tmp/ws wsctl check -c examples/basic/wsctl.yaml --target nginx --strict

  # Both layers of a two-layer spec (nginx in front of HAProxy) and the chain
  WSCTL_RUN_DIR=/tmp/ws wsctl check -c examples/layered/wsctl.yaml

  # In CI: judge against production's limits, not the runner's
  wsctl check -c deploy/wsctl.yaml --fd-limit 1048576 --cpus 16

  # ... for a pipeline: did it pass, and which HAProxy judged it
  wsctl check -c deploy/wsctl.yaml --fd-limit 1048576 -o json | jq '{passed, binary_version}'

  # On the load balancer itself: its own limits are facts
  wsctl check -c /etc/wsctl/wsctl.yaml --host

  # ... with the HAProxy build production runs
  WSCTL_RUN_DIR=/tmp/ws wsctl check -c examples/basic/wsctl.yaml --haproxy /opt/haproxy-3.0/sbin/haproxy`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(opts.Output); err != nil {
				return err
			}
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
	addOutputFlag(cmd, &opts.Output)
	return cmd
}

func checkRun(opts *CheckOptions) error {
	rep, g, err := runCheck(opts, opts.Gen.Target, opts.Gen.Target == "")
	if err != nil {
		return err
	}
	if opts.Gen.Target != "" || g == nil || g.Spec.Front == nil {
		return writeResult(opts.IO.Out, opts.Output, rep, func(w io.Writer) error { return writeCheckText(w, rep) }, rep.Passed)
	}
	// A spec with front: describes two layers: check the other one too,
	// then the chain between them.
	other := proxy.NginxBinary
	if rep.Target == proxy.NginxBinary {
		other = proxy.HAProxyBinary
	}
	rep2, g2, err := runCheck(opts, other, true)
	if err != nil {
		return err
	}
	layered := layeredReport{Passed: rep.Passed && rep2.Passed, Layers: []*checkReport{rep, rep2}, Chain: []lint.Finding{}}
	if g2 != nil {
		front, balancer := g, g2
		if front.Model.Target != proxy.NginxBinary {
			front, balancer = g2, g
		}
		chain, err := lint.Chain("generated nginx config", front.Config, "generated haproxy config", balancer.Config,
			lint.Options{Heartbeat: g.Spec.Heartbeat.D(), Connections: g.Spec.Connections})
		if err != nil {
			return err
		}
		if chain != nil {
			layered.Chain = chain
		}
		layered.Passed = layered.Passed && !lint.Fails(chain, opts.Strict)
	}
	return writeResult(opts.IO.Out, opts.Output, layered, func(w io.Writer) error {
		for _, r := range layered.Layers {
			if err := writeCheckText(w, r); err != nil {
				return err
			}
		}
		if len(layered.Chain) == 0 {
			return nil
		}
		fmt.Fprintln(w, "wsctl lint findings on the chain between the layers:")
		return writeLintText(w, layered.Chain)
	}, layered.Passed)
}

// layeredReport is `wsctl check -o json` of both layers of a spec with
// front:, a documented contract like checkReport.
type layeredReport struct {
	Passed bool           `json:"passed"`
	Layers []*checkReport `json:"layers"`
	// Chain are lint's findings between the layers (timeouts, headers,
	// HTTP version); empty when a layer was rejected.
	Chain []lint.Finding `json:"chain"`
}

// checkReport is what a check found. It is the output of `wsctl check -o
// json`: a documented contract, so fields are only ever added.
type checkReport struct {
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
	Lint     []lint.Finding  `json:"lint"`
	StandIns []proxy.StandIn `json:"stand_ins"`
}

// runCheck renders for target ("": the spec's proxy), judges the host,
// validates and lints; the config is returned when the binary accepted it.
// both says every layer of a two-layer spec may be checked, so a binary
// flag for the other proxy is no mistake. An error is one that stopped the check
// (exit 2).
func runCheck(opts *CheckOptions, target string, both bool) (*checkReport, *generated, error) {
	// The runtime files and certificates the proxy's host provides need not
	// exist where the check runs: throwaway ones in a scratch directory
	// stand in for those missing, and stderr says which.
	scratch, err := os.MkdirTemp("", "wsctl-check-")
	if err != nil {
		return nil, nil, fmt.Errorf("check: %w", err)
	}
	defer os.RemoveAll(scratch)
	rep := &checkReport{Problems: []proxy.Problem{}, StandIns: []proxy.StandIn{}}
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
		rep.StandIns = append(rep.StandIns, standIns...)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	if g.ConsulErr != nil {
		rep.StandIns = append(rep.StandIns, proxy.StandIn{Field: "consul.address", Path: g.Spec.Consul.Address,
			Note: fmt.Sprintf("validated without the servers Consul would add: %v", g.ConsulErr)})
	}
	rep.Target, rep.Backends = g.Model.Target, len(g.Model.Backends)
	if flag, other := binaryFlagFor(opts, rep.Target); flag != "" && !(both && g.Spec.Front != nil) {
		return nil, nil, fmt.Errorf("--%s: the config is for %s (give --%s, or --target %s)", flag, rep.Target, other, flag)
	}
	if rep.Host, err = proxy.JudgeHost(g.Model, opts.ProxyHost.FDLimit, opts.ProxyHost.Host); err != nil {
		return nil, nil, err
	}
	ctx := context.Background()
	v := proxy.Validator{Dir: opts.Dir, Strict: opts.Strict, HAProxy: opts.HAProxy, Nginx: opts.Nginx}
	res, err := v.Validate(ctx, rep.Target, g.Config)
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
	// Only a pipeline reads the version: text output does not run the
	// binary a second time.
	if opts.Output == "json" {
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
		FDLimit: opts.ProxyHost.FDLimit, CPUs: opts.ProxyHost.CPUs, Host: opts.ProxyHost.Host,
	})
	if err != nil {
		return nil, nil, err
	}
	if rep.Lint == nil {
		rep.Lint = []lint.Finding{}
	}
	rep.Passed = !lint.Fails(rep.Lint, opts.Strict) && (rep.Host == nil || rep.Host.Severity != "error")
	return rep, g, nil
}

// writeCheckText prints rep for a human: the host's judgement, the
// binary's complaints at their lines, lint's findings, and the verdict.
func writeCheckText(w io.Writer, rep *checkReport) error {
	if rep.Host != nil {
		fmt.Fprintf(w, "host: %s: %s\n", rep.Host.Severity, rep.Host.Message)
	}
	if !rep.Valid {
		fmt.Fprintf(w, "%s rejected the generated config:\n", rep.Binary)
		printProblems(w, rep.Problems)
		if len(rep.Problems) == 0 {
			fmt.Fprintln(w, rep.Output)
		}
		return nil
	}
	printProblems(w, rep.Problems)
	if len(rep.Lint) > 0 {
		fmt.Fprintln(w, "wsctl lint findings on the generated config:")
		if err := writeLintText(w, rep.Lint); err != nil {
			return err
		}
	}
	if !rep.Passed {
		return nil
	}
	_, err := fmt.Fprintf(w, "%s: config for %d backend(s) is valid\n", rep.Binary, rep.Backends)
	return err
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

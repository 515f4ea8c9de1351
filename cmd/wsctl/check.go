package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/wsctl/wsctl/check"
	"github.com/wsctl/wsctl/internal/cli"
	"github.com/wsctl/wsctl/internal/logging"
	"github.com/wsctl/wsctl/lint"
	"github.com/wsctl/wsctl/proxy"
	"github.com/wsctl/wsctl/spec"
)

// CheckOptions are the flags of wsctl check.
type CheckOptions struct {
	IO     *cli.IOStreams
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
	cli.OutputFlag(cmd, &opts.Output)
	return cmd
}

func checkRun(opts *CheckOptions) error {
	res, err := check.Run(context.Background(), func() (*spec.Spec, error) { return opts.Gen.load(opts.IO) }, check.Options{
		Target: opts.Gen.Target, Template: opts.Gen.Template, Strict: opts.Strict, Dir: opts.Dir,
		HAProxy: opts.HAProxy, Nginx: opts.Nginx, Host: opts.ProxyHost,
		// Only a pipeline reads the version: text output does not run
		// the binary a second time.
		Version: opts.Output == "json", Log: logging.Warnings(opts.IO.ErrOut),
	})
	if err != nil {
		return err
	}
	for _, r := range res.Layers {
		writeStandIns(opts.IO.ErrOut, r.StandIns)
	}
	if len(res.Layers) == 1 {
		rep := res.Layers[0]
		return writeResult(opts.IO.Out, opts.Output, rep, func(w io.Writer) error { return writeCheckText(w, rep) }, rep.Passed)
	}
	return writeResult(opts.IO.Out, opts.Output, res, func(w io.Writer) error {
		for _, r := range res.Layers {
			if err := writeCheckText(w, r); err != nil {
				return err
			}
		}
		if len(res.Chain) == 0 {
			return nil
		}
		fmt.Fprintln(w, "wsctl lint findings on the chain between the layers:")
		return writeLintText(w, res.Chain)
	}, res.Passed)
}

// writeStandIns says on w what a check stood in for, and what the
// proxy's host needs.
func writeStandIns(w io.Writer, standIns []proxy.StandIn) {
	for _, si := range standIns {
		if si.Field == check.ConsulField {
			fmt.Fprintf(w, "wsctl: %s %s: %s; consul.address or CONSUL_HTTP_ADDR names the agent, and each server from Consul is validated when it is added\n", si.Field, si.Path, si.Note)
			continue
		}
		fmt.Fprintf(w, "wsctl: %s %s does not exist here: %s\n", si.Field, si.Path, si.Note)
	}
}

// writeCheckText prints rep for a human: the host's judgement, the
// binary's complaints at their lines, lint's findings, and the verdict.
func writeCheckText(w io.Writer, rep *check.Report) error {
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

package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/wsctl/wsctl/internal/cli"
	"github.com/wsctl/wsctl/lint"
)

// LintOptions are the flags of wsctl lint.
type LintOptions struct {
	IO *cli.IOStreams
	// Files are the configs to lint; "-" reads standard input.
	Files  []string
	Lint   lint.Options
	Strict bool
	// Output is "text" or "json".
	Output string
}

// NewCmdLint builds `wsctl lint`.
func NewCmdLint(f *Factory, runF func(*LintOptions) error) *cobra.Command {
	io := f.IO
	opts := &LintOptions{IO: io}
	cmd := &cobra.Command{
		Use:   "lint FILE...",
		Short: "Find the WebSocket pitfalls in an HAProxy or nginx config",
		Long: `Lint any HAProxy or nginx config, hand-written or generated, for what breaks
WebSockets: idle timeouts at or below the heartbeat, missing upgrade headers
(nginx proxy_set_header inheritance resolved), lost stickiness, old processes
kept alive by reloads, connection limits the host can't carry. Each finding
has a stable rule id, a severity (error, warning, info), file:line, what
happens to WebSocket users, and the fix. The rules are listed in lint/README.md.

What lint is not told it assumes: 5,000 WebSockets (the spec's default)
without --connections, and, without --host, a proxy host with this
machine's open-file limit and CPU count (in CI, not the load balancer). A finding that rests on an
assumption is info and says so; state the numbers (--connections,
--fd-limit, --cpus) or lint on the proxy's host with --host to make it count.

The target is detected from the content unless --target is given. nginx
includes are followed relative to the file's directory. FILE "-" reads
standard input (includes are then not followed).

Given an nginx config and an HAProxy config together (nginx in front of
HAProxy, as a spec with front: renders them), lint also checks the chain
between them wherever an nginx location proxies to an address an HAProxy
frontend binds (the chain/ rules): HTTP/1.1 and the Upgrade and Connection
headers on the hop, nginx's idle timeouts at least HAProxy's timeout tunnel
(so HAProxy's governs), and X-Forwarded-For/-Proto set by nginx and not
overwritten by HAProxy for it.

With -o json the output is an array (empty when clean), a stable contract:

  rule, severity, file, message, fix   strings
  line                                 1-based line number

With -o sarif it is a SARIF 2.1.0 log for code-scanning services: the
catalog's rules under runs[0].tool.driver.rules, each finding a result with
ruleId, level (error, warning, note), message (with the fix) and the file
and startLine. Exit codes are the same for every format.

Exit 0 no error finding, 1 an error finding (or a warning with --strict),
2 a file can't be read, isn't a config of either kind, or doesn't parse. Only
regular files of up to 16 MiB are read (each include too): a device, FIFO or
directory is an error.`,
		Example: `  # Lint a hand-written HAProxy config for a 25s heartbeat, on its host
  wsctl lint /etc/haproxy/haproxy.cfg --heartbeat 25s --host

  # Lint nginx with its includes, sized for 50,000 WebSockets, failing on warnings
  wsctl lint /etc/nginx/nginx.conf --connections 50000 --strict

  # Lint what wsctl renders, as JSON
  wsctl render -c examples/basic/wsctl.yaml | wsctl lint - -o json | jq '.[].rule'

  # Both layers of a spec with front: and the chain between them
  wsctl lint nginx.conf haproxy.cfg

  # For code-scanning annotations in CI (SARIF 2.1.0)
  wsctl lint deploy/haproxy.cfg -o sarif > lint.sarif`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return errors.New("lint: give the config files to lint, or - to read standard input (e.g. wsctl lint /etc/haproxy/haproxy.cfg)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Files = args
			if runF != nil {
				return runF(opts)
			}
			return lintRun(opts)
		},
	}
	fl := cmd.Flags()
	cli.ChoiceVar(cmd, &opts.Lint.Target, "target", "", "", "haproxy or nginx (default: detected from the content)", lint.TargetHAProxy, lint.TargetNginx)
	cli.PositiveDurationVar(fl, &opts.Lint.Heartbeat, "heartbeat", lint.DefaultHeartbeat, "longest silence on a healthy WebSocket (the ping interval); idle timeouts must exceed it")
	fl.IntVar(&opts.Lint.Connections, "connections", 0, fmt.Sprintf("concurrent WebSockets the proxy must carry (default: %d assumed, and what falls short of it is info)", lint.DefaultConnections))
	addHostFlags(fl, &opts.Lint)
	fl.BoolVar(&opts.Strict, "strict", false, "fail on warnings too")
	cli.OutputFlag(cmd, &opts.Output, "text", "json", "sarif")
	return cmd
}

// addHostFlags declares --fd-limit, --cpus and --host, which describe the
// proxy's host to lint and check: without them this machine's limits are
// assumed, and what rests on them does not fail.
func addHostFlags(f *pflag.FlagSet, o *lint.Options) {
	f.IntVar(&o.FDLimit, "fd-limit", 0, "open-file hard limit of the proxy's host (default: this machine's, assumed unless --host)")
	f.IntVar(&o.CPUs, "cpus", 0, "CPU count of the proxy's host, for worker_processes auto (default: this machine's, assumed unless --host)")
	f.BoolVar(&o.Host, "host", false, "this machine is the proxy's host: judge against its open-file limit and CPU count")
}

func lintRun(opts *LintOptions) error {
	findings, err := lint.Files(opts.Files, opts.IO.In, opts.Lint)
	if err != nil {
		return err
	}
	switch opts.Output {
	case "json":
		err = cli.WriteJSON(opts.IO.Out, findings)
	case "sarif":
		err = cli.WriteJSON(opts.IO.Out, lint.SARIF(findings, build().Version))
	default:
		err = writeLintText(opts.IO.Out, findings)
	}
	if err != nil {
		return err
	}
	if lint.Fails(findings, opts.Strict) {
		return errDiffers
	}
	return nil
}

// writeLintText prints each finding as "file:line: severity rule: message"
// with its fix on the next line, then a count. Nothing when clean.
func writeLintText(w io.Writer, findings []lint.Finding) error {
	count := map[string]int{}
	for _, f := range findings {
		count[f.Severity]++
		if _, err := fmt.Fprintf(w, "%s:%d: %s %s: %s\n", f.File, f.Line, f.Severity, f.Rule, f.Message); err != nil {
			return err
		}
		if f.Fix != "" {
			if _, err := fmt.Fprintf(w, "  fix: %s\n", f.Fix); err != nil {
				return err
			}
		}
	}
	if len(findings) == 0 {
		return nil
	}
	_, err := fmt.Fprintf(w, "%d finding(s): %d error(s), %d warning(s), %d info\n",
		len(findings), count[lint.SeverityError], count[lint.SeverityWarning], count[lint.SeverityInfo])
	return err
}

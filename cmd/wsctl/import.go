package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/wsctl/wsctl/importer"
	"github.com/wsctl/wsctl/internal/cli"
	"github.com/wsctl/wsctl/lint"
)

// ImportOptions are the flags of wsctl import.
type ImportOptions struct {
	IO   *cli.IOStreams
	File string
	// Target is haproxy, nginx or "" to detect it from the content.
	Target string
	// Output is the spec file to write; "", "-" and "/dev/stdout" print.
	Output  string
	Explain bool
}

// NewCmdImport builds `wsctl import`.
func NewCmdImport(f *Factory, runF func(*ImportOptions) error) *cobra.Command {
	io := f.IO
	opts := &ImportOptions{IO: io}
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Turn a hand-written HAProxy or nginx config into a wsctl.yaml",
		Long: `Read an HAProxy or nginx config with lint's parser (defaults and
default-server resolved, nginx includes followed relative to the file's
directory) and print the wsctl.yaml that renders the same proxies:
listeners (every bind with its TLS and ALPN, WebSocket and path routes,
default backend), backends (balance and hash key, sticky cookie with or
without httponly, health check, slowstart, maxconn), servers (names,
addresses, weights), timeouts and the heartbeat derived from the tunnel
timeout (a third of it: wsctl's default tunnel is three heartbeats), and
HAProxy's tune.bufsize.

Every directive not carried over, and every one changed on the way, is
printed on stderr as FILE:LINE: directive: why. Nothing is dropped
silently. Important is what changes where a WebSocket goes or how long it
lives: a route, a listener's address or TLS, a backend or server, the
balance algorithm, the sticky cookie, the tunnel timeout, a health check
added where none was (a server that does not answer it is marked down).

With --explain, what wsctl's rendering adds that the original lacked is
listed on stderr too (hard-stop-after, fin timeouts, redispatch, the state
file, master-worker, ...), found by rendering the imported spec and
comparing it with the original, each with what it does for WebSockets.

The notes and the rest of the file format are described in docs/import.md.

Exit 0 a spec was written and nothing important was lost, 1 a spec was
written but something important was not carried (read the notes marked
"important"), 2 the file can't be read or parsed, or holds too little for a
valid spec (a fragment without a frontend or a backend).`,
		Example: `  # Import the running HAProxy config and read what was not carried
  wsctl import /etc/haproxy/haproxy.cfg -o wsctl.yaml

  # nginx with its includes, and what wsctl's rendering adds
  wsctl import /etc/nginx/nginx.conf --explain > wsctl.yaml

  # Compare: render the imported spec and diff it with the original
  wsctl import haproxy.cfg -o wsctl.yaml && wsctl render -c wsctl.yaml | diff haproxy.cfg -`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("import: give one config file (e.g. wsctl import /etc/haproxy/haproxy.cfg)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.File = args[0]
			if runF != nil {
				return runF(opts)
			}
			return importRun(opts)
		},
	}
	fl := cmd.Flags()
	cli.ChoiceVar(cmd, &opts.Target, "target", "", "", "haproxy or nginx (default: detected from the content)", lint.TargetHAProxy, lint.TargetNginx)
	fl.StringVarP(&opts.Output, "output", "o", "", "write the spec to this file atomically instead of stdout (- or /dev/stdout: stdout)")
	fl.BoolVar(&opts.Explain, "explain", false, "also list what wsctl's rendering adds that the original lacked, and why it matters")
	return cmd
}

func importRun(opts *ImportOptions) error {
	r, err := importer.File(opts.File, opts.Target)
	if err != nil {
		return err
	}
	for _, n := range r.Notes {
		mark := ""
		if n.Important {
			mark = " (important)"
		}
		if _, err := fmt.Fprintf(opts.IO.ErrOut, "%s%s\n", n, mark); err != nil {
			return err
		}
	}
	if opts.Explain {
		adds, err := importer.Explain(r)
		if err != nil {
			return err
		}
		fmt.Fprintf(opts.IO.ErrOut, "wsctl's rendering adds:\n")
		for _, a := range adds {
			if a.Why == "" {
				fmt.Fprintf(opts.IO.ErrOut, "  %s\n", a.Directive)
			} else {
				fmt.Fprintf(opts.IO.ErrOut, "  %s: %s\n", a.Directive, a.Why)
			}
		}
	}
	if err := writeOutput(opts.IO, opts.Output, r.YAML); err != nil {
		return err
	}
	if r.Important() {
		return errDiffers
	}
	return nil
}

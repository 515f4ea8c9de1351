package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/wsctl/wsctl/internal/cli"
	"github.com/wsctl/wsctl/internal/inputfile"
	"github.com/wsctl/wsctl/model"
	"github.com/wsctl/wsctl/proxy"
	"github.com/wsctl/wsctl/serverstate"
)

// RenderOptions are the flags of wsctl render.
type RenderOptions struct {
	IO  *cli.IOStreams
	Gen GenerateOptions
	// Output is the file to write; "", "-" and "/dev/stdout" print to
	// stdout.
	Output string
}

// NewCmdRender builds `wsctl render`.
func NewCmdRender(f *Factory, runF func(*RenderOptions) error) *cobra.Command {
	io := f.IO
	opts := &RenderOptions{IO: io}
	cmd := &cobra.Command{
		Use:   "render",
		Short: "Render the HAProxy or nginx config from the spec",
		Long: `Render the proxy config from the spec and the discovered servers.

The output is deterministic: the same spec renders byte-identical output. With
-o the file is replaced atomically (temp file, fsync, rename) and left alone
when its bytes are already the same. It keeps its mode and, as root, its
owner. A symlink is written through: its target is replaced and the link
stays. -o refuses anything but a regular file or a new path (a device, FIFO,
socket or directory, also behind /dev/stderr or /dev/fd/N): a stream has no
file to replace. Without -o, or with -o - or -o /dev/stdout, the config goes
to stdout. An HAProxy config written with -o also gets its server-state-file
(haproxy.state_file) when that does not exist yet, holding no server, as the
agent creates it: HAProxy warns at start without one. render does not
validate: use wsctl check for that.`,
		Example: `  # Print the HAProxy config of the basic example
  WSCTL_RUN_DIR=/tmp/ws wsctl render -c examples/basic/wsctl.yaml

  # The same into a pipe
  wsctl render -c wsctl.yaml -o - | sha256sum

  # Write the nginx variant atomically
  wsctl render -c wsctl.yaml --target nginx -o /etc/nginx/nginx.conf`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return renderRun(opts)
		},
	}
	opts.Gen.addFlags(cmd)
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "", "write the config to this file atomically instead of stdout (- or /dev/stdout: stdout)")
	return cmd
}

func renderRun(opts *RenderOptions) error {
	g, err := opts.Gen.generate(opts.IO)
	if err != nil {
		return err
	}
	if err := writeOutput(opts.IO, opts.Output, g.Config); err != nil || toStdout(opts.Output) {
		return err
	}
	// HAProxy warns at start when its server-state-file is missing; the
	// agent and wsctl state save create it too, but a config written here
	// may be started by hand first.
	if path := g.Model.HAProxy.StateFile; g.Model.Target == model.TargetHAProxy && path != "" {
		created, err := serverstate.Ensure(path)
		if err != nil {
			return err
		}
		if created {
			fmt.Fprintf(opts.IO.ErrOut, "created %s (HAProxy's server state, empty)\n", path)
		}
	}
	return nil
}

// toStdout reports whether -o path means standard output.
func toStdout(path string) bool { return path == "" || path == "-" || path == "/dev/stdout" }

// writeOutput prints data, or with a file path writes it atomically.
func writeOutput(io *cli.IOStreams, path string, data []byte) error {
	if toStdout(path) {
		_, err := io.Out.Write(data)
		return err
	}
	// WriteAtomic refuses a stream too, but resolves links itself: behind
	// /dev/stderr or /dev/fd/N a pipe is a /proc link no path resolves,
	// and its refusal would be a puzzle. The kernel follows them.
	if fi, err := os.Stat(path); err == nil {
		if err := inputfile.Regular(path, fi.Mode()); err != nil {
			return fmt.Errorf("write %w; -o - writes to stdout", err)
		}
	}
	changed, err := proxy.WriteAtomic(path, data)
	if err != nil {
		return err
	}
	if changed {
		fmt.Fprintf(io.ErrOut, "wrote %s\n", path)
	} else {
		fmt.Fprintf(io.ErrOut, "%s unchanged\n", path)
	}
	return nil
}

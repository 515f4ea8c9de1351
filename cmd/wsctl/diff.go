package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/wsctl/wsctl/internal/cli"
	"github.com/wsctl/wsctl/internal/inputfile"
)

// DiffOptions are the flags of wsctl diff.
type DiffOptions struct {
	IO      *cli.IOStreams
	Gen     GenerateOptions
	Against string
	// Output is "text" or "json".
	Output string
}

// NewCmdDiff builds `wsctl diff`.
func NewCmdDiff(f *Factory, runF func(*DiffOptions) error) *cobra.Command {
	io := f.IO
	opts := &DiffOptions{IO: io}
	cmd := &cobra.Command{
		Use:   "diff --against FILE",
		Short: "Show how the deployed config differs from the generated one",
		Long: `Print a unified diff from FILE (the deployed config) to the config the
spec generates. Exit 0 when identical, 1 when they differ, 2 on error (missing
file, bad spec; FILE that is not a regular file or is over 16 MiB), so a
pipeline can gate on it.

With -o json one object, a stable contract (fields are only ever added),
with the same exit codes (errors go to stderr, no JSON):

  {"same": false, "against": "/etc/haproxy/haproxy.cfg",
   "spec": "wsctl.yaml", "target": "haproxy",
   "diff": "--- /etc/haproxy/haproxy.cfg\n+++ generated\n@@ …"}

"diff" is the unified diff of the text output, "" when "same".`,
		Example: `  # In CI: fail when the deployed config drifted from the spec
  wsctl diff -c wsctl.yaml --against /etc/haproxy/haproxy.cfg

  # ... and keep the diff for the job's report
  wsctl diff -c wsctl.yaml --against /etc/haproxy/haproxy.cfg -o json > drift.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return diffRun(opts)
		},
	}
	opts.Gen.addFlags(cmd)
	cmd.Flags().StringVar(&opts.Against, "against", "", "the deployed config to compare with (required)")
	_ = cmd.MarkFlagRequired("against")
	cli.OutputFlag(cmd, &opts.Output)
	return cmd
}

func diffRun(opts *DiffOptions) error {
	deployed, err := inputfile.Read(opts.Against, inputfile.MaxConfig)
	if err != nil {
		return fmt.Errorf("diff: %w", err)
	}
	g, err := opts.Gen.generate(opts.IO)
	if err != nil {
		return err
	}
	out := g.Drift(opts.Against, deployed)
	return writeResult(opts.IO.Out, opts.Output, out, func(w io.Writer) error {
		_, err := fmt.Fprint(w, out.Diff)
		return err
	}, out.Same)
}

package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/wsctl/wsctl/internal/buildinfo"
	"github.com/wsctl/wsctl/internal/cli"
)

// version and commit are set at build time with -ldflags "-X
// main.version=… -X main.commit=…" (make build, make package); without
// them the module version of `go install …@version` and the commit Go
// recorded are reported.
var version, commit = "dev", ""

// build is this binary's version, commit and Go version.
func build() buildinfo.Info { return buildinfo.Read(version).WithCommit(commit) }

// NewCmdRoot builds the command tree. Each subcommand lives in its own file
// as an options struct, a constructor and a run function.
func NewCmdRoot(f *Factory) *cobra.Command {
	io := f.IO
	root := &cobra.Command{
		Use:   "wsctl",
		Short: "Control plane for WebSocket load balancing with HAProxy and nginx",
		Long: `wsctl renders WebSocket-correct HAProxy and nginx configurations from a
declarative wsctl.yaml, checks and lints them in CI, and drives HAProxy's
runtime API so deploys drain WebSockets instead of dropping them.

Exit codes: 0 ok/identical, 1 differs or findings, 2 error, 3 drain or reload timed out.`,
		Example: `  # Render the basic example's HAProxy config and validate it
  export WSCTL_RUN_DIR=$(mktemp -d)
  wsctl render -c examples/basic/wsctl.yaml
  wsctl check -c examples/basic/wsctl.yaml

  # Take a server out for a deploy without dropping its WebSockets
  wsctl drain ws_cluster/backend2 --close-after 30s --close-rate 50 --timeout 5m
  wsctl ready ws_cluster/backend2 --wait-healthy 1m`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       build().Version,
	}
	root.SetFlagErrorFunc(cli.FlagError)
	root.SetIn(io.In)
	root.SetOut(io.Out)
	root.SetErr(io.ErrOut)
	root.AddCommand(
		NewCmdRender(f, nil),
		NewCmdDiff(f, nil),
		NewCmdCheck(f, nil),
		NewCmdLint(f, nil),
		NewCmdImport(f, nil),
		NewCmdStatus(f, nil),
		NewCmdDrain(f, nil),
		NewCmdReady(f, nil),
		NewCmdMaint(f, nil),
		NewCmdAgent(f, nil),
		NewCmdReload(f, nil),
		NewCmdRollout(f, nil),
		NewCmdRebalance(f, nil),
		NewCmdFleet(f, nil),
		NewCmdTop(f, nil),
		NewCmdState(io),
		NewCmdVersion(io),
		NewCmdGenDocs(io),
	)
	// Cobra adds `completion` at Execute; added now, it is refused like
	// the other groups.
	root.InitDefaultCompletionCmd()
	addCompletionExamples(root)
	for _, c := range root.Commands() {
		cli.RefuseUnknownSubcommand(c)
	}
	return root
}

// addCompletionExamples gives cobra's completion command and its shells
// the examples every other command has.
func addCompletionExamples(root *cobra.Command) {
	for _, c := range root.Commands() {
		if c.Name() != "completion" {
			continue
		}
		c.Example = `  # Completion in this bash session
  source <(wsctl completion bash)

  # For every zsh session (zsh's compinit must be on)
  wsctl completion zsh > "${fpath[1]}/_wsctl"`
		for _, sh := range c.Commands() {
			sh.Example = fmt.Sprintf("  wsctl completion %s > wsctl.%s-completion", sh.Name(), sh.Name())
		}
	}
}

// Main runs wsctl with args and returns the process exit code.
func Main(args []string, io *cli.IOStreams) int {
	root := NewCmdRoot(&Factory{IO: io})
	root.SetArgs(args)
	err := root.Execute()
	reportError(io.ErrOut, err)
	return exitCode(err)
}

// reportError writes err, when it stopped the command (exit 2), to w; an
// errSilent's report is already written (its text is only the exit status).
func reportError(w io.Writer, err error) {
	var s errSilent
	if err != nil && exitCode(err) == exitError && !errors.As(err, &s) {
		fmt.Fprintf(w, "wsctl: %v\n", err)
	}
}

// NewCmdVersion prints the version, commit and Go version.
func NewCmdVersion(io *cli.IOStreams) *cobra.Command {
	output := "text"
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the wsctl version, commit and Go version",
		Long: `Print the version (set at release build time, else the module version a
go install recorded, else "dev"), the commit the binary was built from
("(modified)" when the work tree had changes) and the Go toolchain.

With -o json one object, a stable contract (fields are only ever added):

  {"version": "v1.2.0", "commit": "0123abcd…", "modified": false,
   "go_version": "go1.26.8"}

"commit" and "go_version" are "" when the build recorded none.`,
		Example: `  wsctl version

  # In a pipeline: the commit of the installed wsctl
  wsctl version -o json | jq -r .commit`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if output == "json" {
				return cli.WriteJSON(io.Out, build())
			}
			_, err := fmt.Fprint(io.Out, build())
			return err
		},
	}
	cli.OutputFlag(cmd, &output)
	return cmd
}

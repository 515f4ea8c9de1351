package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/wsctl/wsctl/internal/buildinfo"
)

// version is set at build time with -ldflags "-X main.version=…"; without
// it the module version of `go install …@version` is reported.
var version = "dev"

// NewCmdRoot builds the command tree. Each subcommand lives in its own file
// as an options struct, a constructor and a run function.
func NewCmdRoot(io *IOStreams) *cobra.Command {
	root := &cobra.Command{
		Use:   "wsctl",
		Short: "Control plane for WebSocket load balancing with HAProxy and nginx",
		Long: `wsctl renders WebSocket-correct HAProxy and nginx configurations from a
declarative wsctl.yaml, checks and lints them in CI, and drives HAProxy's
runtime API so deploys drain WebSockets instead of dropping them.

Exit codes: 0 ok/identical, 1 differs or findings, 2 error, 3 drain or reload timed out.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       buildinfo.Read(version).Version,
	}
	root.SetIn(io.In)
	root.SetOut(io.Out)
	root.SetErr(io.ErrOut)
	root.AddCommand(
		NewCmdRender(io, nil),
		NewCmdDiff(io, nil),
		NewCmdCheck(io, nil),
		NewCmdLint(io, nil),
		NewCmdStatus(io, nil),
		NewCmdDrain(io, nil),
		NewCmdReady(io, nil),
		NewCmdMaint(io, nil),
		NewCmdAgent(io, nil),
		NewCmdReload(io, nil),
		NewCmdRollout(io, nil),
		NewCmdFleet(io, nil),
		NewCmdState(io),
		NewCmdVersion(io),
		NewCmdGenDocs(io),
	)
	return root
}

// Main runs wsctl with args and returns the process exit code.
func Main(args []string, io *IOStreams) int {
	root := NewCmdRoot(io)
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
func NewCmdVersion(io *IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the wsctl version, commit and Go version",
		Long: `Print the version (set at release build time, else the module version a
go install recorded, else "dev"), the commit the binary was built from
("(modified)" when the work tree had changes) and the Go toolchain.`,
		Example: "  wsctl version",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := fmt.Fprint(io.Out, buildinfo.Read(version))
			return err
		},
	}
}

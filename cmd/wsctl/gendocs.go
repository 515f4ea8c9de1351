package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/wsctl/wsctl/internal/buildinfo"
	"github.com/wsctl/wsctl/internal/cli"
)

// NewCmdGenDocs builds the hidden `wsctl gen-docs`, which `make package`
// runs to ship man pages and shell completions generated from this very
// command tree, so they never drift from the binary.
func NewCmdGenDocs(io *cli.IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:    "gen-docs DIR",
		Short:  "Write man pages (DIR/man) and shell completions (DIR/completions)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return genDocs(cmd.Root(), args[0], io)
		},
	}
}

func genDocs(root *cobra.Command, dir string, io *cli.IOStreams) error {
	man, comp := filepath.Join(dir, "man"), filepath.Join(dir, "completions")
	for _, d := range []string{man, comp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("gen-docs: %w", err)
		}
	}
	root.DisableAutoGenTag = true // no date: the same tree gives the same pages
	header := &doc.GenManHeader{Title: "WSCTL", Section: "1", Source: "wsctl " + buildinfo.Read(version).Version, Manual: "wsctl manual"}
	if err := doc.GenManTree(root, header, man); err != nil {
		return fmt.Errorf("gen-docs: man pages: %w", err)
	}
	for name, gen := range map[string]func(string) error{
		"wsctl.bash": func(p string) error { return root.GenBashCompletionFileV2(p, true) },
		"_wsctl":     root.GenZshCompletionFile,
		"wsctl.fish": func(p string) error { return root.GenFishCompletionFile(p, true) },
	} {
		if err := gen(filepath.Join(comp, name)); err != nil {
			return fmt.Errorf("gen-docs: %s: %w", name, err)
		}
	}
	_, err := fmt.Fprintf(io.ErrOut, "wrote man pages to %s and completions to %s\n", man, comp)
	return err
}

package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// addOutputFlag declares -o/--output, text or json, with its completion:
// the choice every command with a JSON contract offers.
func addOutputFlag(cmd *cobra.Command, output *string) {
	cmd.Flags().StringVarP(output, "output", "o", "text", "output format: text or json")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
}

// checkOutput refuses an --output that is neither text nor json.
func checkOutput(output string) error {
	if output != "text" && output != "json" {
		return fmt.Errorf("--output %q: want text or json", output)
	}
	return nil
}

// writeResult prints a command's result to w: v as JSON with -o json,
// else text. It returns errDiffers (exit 1) unless ok, in both formats.
func writeResult(w io.Writer, output string, v any, text func(io.Writer) error, ok bool) error {
	var err error
	if output == "json" {
		err = writeJSON(w, v)
	} else {
		err = text(w)
	}
	if err != nil || ok {
		return err
	}
	return errDiffers
}

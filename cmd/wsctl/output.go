package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

// choiceValue is a string flag that takes one of a fixed set of values,
// refused when parsed: every command gets the same check and the same
// message, naming the flag (flagError drops pflag's wording around it),
// and no run function needs one.
type choiceValue struct {
	p       *string
	name    string // the flag's, for the message
	choices []string
}

// choiceVar declares --name (-short when not "") taking one of choices,
// value by default, and completes them in the shell.
func choiceVar(cmd *cobra.Command, p *string, name, short, value, usage string, choices ...string) {
	*p = value
	cmd.Flags().VarP(&choiceValue{p: p, name: name, choices: choices}, name, short, usage)
	_ = cmd.RegisterFlagCompletionFunc(name, cobra.FixedCompletions(choices, cobra.ShellCompDirectiveNoFileComp))
}

// addOutputFlag declares -o/--output, text (the default) or json: the
// choice every command with a JSON contract offers. formats, when given,
// replace text and json, the first the default.
func addOutputFlag(cmd *cobra.Command, output *string, formats ...string) {
	if len(formats) == 0 {
		formats = []string{"text", "json"}
	}
	choiceVar(cmd, output, "output", "o", formats[0], "output format: "+orList(formats), formats...)
}

func (v *choiceValue) Set(s string) error {
	if !slices.Contains(v.choices, s) {
		return fmt.Errorf("--%s %q: want %s", v.name, s, orList(v.choices))
	}
	*v.p = s
	return nil
}

// Type is "string", as for pflag's own string flags: the help shows the
// same placeholder and default.
func (v *choiceValue) Type() string   { return "string" }
func (v *choiceValue) String() string { return *v.p }

// orList joins words as "a, b or c".
func orList(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
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

package cli

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// durationValue is a duration flag that refuses a value that means
// nothing: a negative one always, zero unless the flag gives 0 a meaning
// (wait for ever, at once, every time). Refused when the flag is parsed, so
// every command gets the same check and the same message, naming the flag.
type durationValue struct {
	p      *time.Duration
	zeroOK bool
}

// DurationVar declares a duration flag that may be 0; its usage says what
// 0 means.
func DurationVar(f *pflag.FlagSet, p *time.Duration, name string, value time.Duration, usage string) {
	*p = value
	f.Var(&durationValue{p: p, zeroOK: true}, name, usage)
}

// PositiveDurationVar declares a duration flag that must be above 0.
func PositiveDurationVar(f *pflag.FlagSet, p *time.Duration, name string, value time.Duration, usage string) {
	*p = value
	f.Var(&durationValue{p: p}, name, usage)
}

func (v *durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return err
	case d < 0 && v.zeroOK:
		return errors.New("want 0 or a positive duration")
	case d <= 0 && !v.zeroOK:
		return errors.New("want a positive duration")
	}
	*v.p = d
	return nil
}

func (v *durationValue) Type() string { return "duration" }

// String is "0" for zero, not "0s": pflag then shows no default in --help,
// as for its own duration flags.
func (v *durationValue) String() string {
	if *v.p == 0 {
		return "0"
	}
	return v.p.String()
}

// choiceValue is a string flag that takes one of a fixed set of values,
// refused when parsed: every command gets the same check and the same
// message, naming the flag (FlagError drops pflag's wording around it),
// and no run function needs one.
type choiceValue struct {
	p       *string
	name    string // the flag's, for the message
	choices []string
}

// ChoiceVar declares --name (-short when not "") taking one of choices,
// value by default, and completes them in the shell.
func ChoiceVar(cmd *cobra.Command, p *string, name, short, value, usage string, choices ...string) {
	*p = value
	cmd.Flags().VarP(&choiceValue{p: p, name: name, choices: choices}, name, short, usage)
	_ = cmd.RegisterFlagCompletionFunc(name, cobra.FixedCompletions(choices, cobra.ShellCompDirectiveNoFileComp))
}

// OutputFlag declares -o/--output, text (the default) or json: the choice
// every command with a JSON contract offers. formats, when given, replace
// text and json, the first the default.
func OutputFlag(cmd *cobra.Command, output *string, formats ...string) {
	if len(formats) == 0 {
		formats = []string{"text", "json"}
	}
	ChoiceVar(cmd, output, "output", "o", formats[0], "output format: "+orList(formats), formats...)
}

// StepsOutputFlag is OutputFlag for the commands that print a JSON line
// per step (rollout, rebalance), and says so.
func StepsOutputFlag(cmd *cobra.Command, output *string) {
	ChoiceVar(cmd, output, "output", "o", "text", "output format: text or json (a line per step)", "text", "json")
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

// FlagError rewords pflag's errors where they explain the syntax poorly,
// for cobra's SetFlagErrorFunc on the root, which every command inherits.
// A duration without a unit ("--timeout 5") is the one Go's parser words
// as "missing unit"; a value that is not one of a flag's choices is named
// with the flag.
func FlagError(_ *cobra.Command, err error) error {
	var bad *pflag.InvalidValueError
	if !errors.As(err, &bad) {
		return err
	}
	name, value := bad.GetFlag().Name, bad.GetValue()
	if _, ok := bad.GetFlag().Value.(*choiceValue); ok {
		return bad.Unwrap()
	}
	if bad.GetFlag().Value.Type() == "duration" && strings.Contains(err.Error(), "missing unit") {
		return fmt.Errorf("--%s %q: a duration needs a unit, e.g. %ss or %sm", name, value, value, value)
	}
	return err
}

// RefuseUnknownSubcommand makes c, when it only groups subcommands, and
// each such group below it, refuse to run without one or with an argument
// that names none, as an error. Cobra would print the help and succeed, so
// `wsctl completion "$shell" > file` with a typo would look like success.
func RefuseUnknownSubcommand(c *cobra.Command) {
	if !c.HasSubCommands() || c.Runnable() {
		return
	}
	var names []string
	for _, sub := range c.Commands() {
		if sub.IsAvailableCommand() {
			names = append(names, sub.Name())
		}
	}
	want := strings.Join(names, ", ")
	c.Args = cobra.ArbitraryArgs
	c.ValidArgsFunction = cobra.NoFileCompletions
	c.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return fmt.Errorf("%s needs one of %s; see `%s --help`", cmd.CommandPath(), want, cmd.CommandPath())
		}
		return fmt.Errorf("%s: %.40q is not one of %s", cmd.CommandPath(), args[0], want)
	}
	for _, sub := range c.Commands() {
		RefuseUnknownSubcommand(sub)
	}
}

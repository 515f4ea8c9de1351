package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// placeholder is what a flag's value placeholder may be: one word, as
// cobra takes it from the type or from the first `quoted` word of the
// usage.
var (
	placeholder      = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	placeholderQuote = regexp.MustCompile("`[a-z][a-z0-9-]*`")
)

// TestHelpEveryCommand walks the whole tree, the root included: every
// command has examples, no flag's usage holds a backtick but around its
// one-word placeholder (cobra shows the first quoted words as the
// placeholder: "--reason wsctl status --fleet"), every placeholder is one
// word, and no usage that states its
// default in words also gets pflag's "(default X)".
func TestHelpEveryCommand(t *testing.T) {
	io, _, _ := testIO()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" {
			return
		}
		if !strings.Contains(c.Example, c.CommandPath()) {
			t.Errorf("%s: no Examples: section using it", c.CommandPath())
		}
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			// One quoted word names the value (`path`); any other
			// backtick garbles the help.
			if quoted := placeholderQuote.ReplaceAllString(f.Usage, ""); strings.Contains(quoted, "`") || strings.Count(f.Usage, "`") > 2 {
				t.Errorf("%s --%s: backtick in usage %q", c.CommandPath(), f.Name, f.Usage)
			}
			if name, _ := pflag.UnquoteUsage(f); name != "" && !placeholder.MatchString(name) {
				t.Errorf("%s --%s: placeholder %q is not one word", c.CommandPath(), f.Name, name)
			}
			one := pflag.NewFlagSet("", pflag.ContinueOnError)
			one.AddFlag(f)
			if strings.Contains(f.Usage, "default") && strings.Count(one.FlagUsages(), "default") > strings.Count(f.Usage, "default") {
				t.Errorf("%s --%s: two defaults: %s", c.CommandPath(), f.Name, strings.TrimSpace(one.FlagUsages()))
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(NewCmdRoot(&Factory{IO: io}))
}

package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// TestFlagsRefuseWhenParsed: a duration or choice flag refuses a value
// that means nothing while the flags are parsed, and FlagError names the
// flag in words a user can act on.
func TestFlagsRefuseWhenParsed(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string // "" parses
	}{
		{name: "zero where it means something", args: []string{"--wait", "0"}},
		{name: "negative", args: []string{"--wait", "-1s"}, want: "want 0 or a positive duration"},
		{name: "zero where it means nothing", args: []string{"--every", "0s"}, want: "want a positive duration"},
		{name: "no unit", args: []string{"--every", "5"}, want: `--every "5": a duration needs a unit, e.g. 5s or 5m`},
		{name: "a choice", args: []string{"-o", "json"}},
		{name: "not a choice", args: []string{"-o", "yaml"}, want: `--output "yaml": want text or json`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var wait, every time.Duration
			var output string
			cmd := &cobra.Command{Use: "x", RunE: func(*cobra.Command, []string) error { return nil }, SilenceErrors: true, SilenceUsage: true}
			cmd.SetFlagErrorFunc(FlagError)
			DurationVar(cmd.Flags(), &wait, "wait", time.Second, "")
			PositiveDurationVar(cmd.Flags(), &every, "every", time.Second, "")
			OutputFlag(cmd, &output)
			cmd.SetArgs(tc.args)
			err := cmd.Execute()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("got %v, want no error", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// TestRefuseUnknownSubcommand: a group refuses to run without a
// subcommand, or with one it does not have, where cobra would succeed.
func TestRefuseUnknownSubcommand(t *testing.T) {
	for _, args := range [][]string{{"group"}, {"group", "nope"}} {
		root := &cobra.Command{Use: "root", SilenceErrors: true, SilenceUsage: true}
		group := &cobra.Command{Use: "group"}
		group.AddCommand(&cobra.Command{Use: "save", RunE: func(*cobra.Command, []string) error { return nil }})
		root.AddCommand(group)
		RefuseUnknownSubcommand(group)
		root.SetArgs(args)
		if err := root.Execute(); err == nil || !strings.Contains(err.Error(), "save") {
			t.Errorf("%q: got %v, want an error naming save", args, err)
		}
	}
}

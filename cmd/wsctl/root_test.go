package main

import (
	"strings"
	"testing"
)

// TestGroupCommandsRefuseUnknown: `wsctl completion` and `wsctl state`
// without a subcommand, or with an argument that names none, exit 2 naming
// the valid ones instead of printing the help with exit 0; so does a flag
// given a value that is not one of its choices.
func TestGroupCommandsRefuseUnknown(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"completion", "bash;id"}, `wsctl completion: "bash;id" is not one of bash, fish, powershell, zsh`},
		{[]string{"completion"}, "wsctl completion needs one of bash, fish, powershell, zsh"},
		{[]string{"state", "bogus"}, `wsctl state: "bogus" is not one of restore, save`},
		{[]string{"state"}, "wsctl state needs one of restore, save"},
		// A value that is not one of a flag's choices is refused when
		// parsed, with one message naming the flag, for every command
		// that offers choices.
		{[]string{"check", "-o", "yaml"}, `--output "yaml": want text or json`},
		{[]string{"diff", "--against", "x", "--output", "xml"}, `--output "xml": want text or json`},
		{[]string{"version", "-o", "yaml"}, `--output "yaml": want text or json`},
		{[]string{"lint", "x.cfg", "-o", "yaml"}, `--output "yaml": want text, json or sarif`},
		{[]string{"lint", "x.cfg", "--target", "envoy"}, `--target "envoy": want haproxy or nginx`},
		{[]string{"import", "x.cfg", "--target", "envoy"}, `--target "envoy": want haproxy or nginx`},
		{[]string{"agent", "--haproxy-config", "h.cfg", "--log-format", "xml"}, `--log-format "xml": want text or json`},
		{[]string{"status", "-o", "text"}, `--output "text": want table or json`},
		{[]string{"drain", "s", "-o", "yaml"}, `--output "yaml": want text or json`},
		{[]string{"rollout", "ws", "--pause", "-o", "yaml"}, `--output "yaml": want text or json`},
		{[]string{"rebalance", "ws", "-o", "yaml"}, `--output "yaml": want text or json`},
		{[]string{"reload", "--haproxy-config", "h.cfg", "-o", "yaml"}, `--output "yaml": want text or json`},
	} {
		if got := wantRefused(t, tt.args, tt.want); strings.Contains(got, "invalid argument") {
			t.Errorf("%q: stderr %q, want wsctl's message alone, not pflag's around it", tt.args, got)
		}
	}
	io, out, _ := testIO()
	if code := Main([]string{"completion", "bash"}, io); code != 0 || !strings.Contains(out.String(), "# bash completion") {
		t.Errorf("completion bash: exit %d, stdout %.80q", code, out)
	}
}

// wantRefused runs wsctl with args and wants exit 2, nothing on stdout and
// want in the error on stderr, which it returns.
func wantRefused(t *testing.T, args []string, want string) string {
	t.Helper()
	io, out, errOut := testIO()
	if code := Main(args, io); code != exitError || out.Len() != 0 || !strings.Contains(errOut.String(), want) {
		t.Errorf("%q: exit %d, stdout %d bytes, stderr %s; want 2 and %q", args, code, out.Len(), errOut, want)
	}
	return errOut.String()
}

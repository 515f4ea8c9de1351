package main

import (
	"strings"
	"testing"
)

// TestGroupCommandsRefuseUnknown: `wsctl completion` and `wsctl state`
// without a subcommand, or with an argument that names none, exit 2 naming
// the valid ones instead of printing the help with exit 0.
func TestGroupCommandsRefuseUnknown(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"completion", "bash;id"}, `wsctl completion: "bash;id" is not one of bash, fish, powershell, zsh`},
		{[]string{"completion"}, "wsctl completion needs one of bash, fish, powershell, zsh"},
		{[]string{"state", "bogus"}, `wsctl state: "bogus" is not one of restore, save`},
		{[]string{"state"}, "wsctl state needs one of restore, save"},
	} {
		io, out, errOut := testIO()
		if code := Main(tt.args, io); code != exitError || out.Len() != 0 || !strings.Contains(errOut.String(), tt.want) {
			t.Errorf("%q: exit %d, stdout %d bytes, stderr %s; want 2 and %q", tt.args, code, out.Len(), errOut, tt.want)
		}
	}
	io, out, _ := testIO()
	if code := Main([]string{"completion", "bash"}, io); code != 0 || !strings.Contains(out.String(), "# bash completion") {
		t.Errorf("completion bash: exit %d, stdout %.80q", code, out)
	}
}

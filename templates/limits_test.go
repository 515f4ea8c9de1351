package templates_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/wsctl/wsctl/discovery/static"
	"github.com/wsctl/wsctl/internal/inputfile"
	"github.com/wsctl/wsctl/model"
	"github.com/wsctl/wsctl/spec"
	"github.com/wsctl/wsctl/templates"
)

// basicModel is the basic example's model, for user templates to render.
func basicModel(t *testing.T) *model.Model {
	t.Helper()
	s, err := spec.LoadEnv(filepath.Join("..", "examples", "basic", "wsctl.yaml"), goldenEnv)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Build(s, model.TargetHAProxy, static.Snapshot(s))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// renderUser renders m through a user template holding text.
func renderUser(t *testing.T, m *model.Model, text string) ([]byte, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "user.tmpl")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return templates.Render(m, path)
}

// TestUserTemplatesAreHermetic: a template can't put the environment (tokens,
// say) into a world-readable config, nor anything that changes between two
// renders of the same input.
func TestUserTemplatesAreHermetic(t *testing.T) {
	m := basicModel(t)
	for _, fn := range []string{`env "HOME"`, `expandenv "$HOME"`, `now`, `randAlpha 8`, `randInt 0 9`, `uuidv4`, `getHostByName "localhost"`, `genPrivateKey "rsa"`, `bcrypt "x"`, `ago .`} {
		_, err := renderUser(t, m, "global\n    # {{ "+fn+" }}\n")
		name, _, _ := strings.Cut(fn, " ")
		want := `templates: parse user.tmpl: template: user.tmpl:2: function "` + name + `" not defined (wsctl templates render from the spec and discovery alone`
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("{{ %s }}: got %v, want %q", fn, err, want)
		}
	}
	// The rest of sprig is there, bounded functions included.
	out, err := renderUser(t, m, `{{ "x" | repeat 3 }} {{ until 3 | len }} {{ seq 1 2 3 }} {{ "a" | nindent 2 }}`)
	if err != nil || string(out) != "xxx 3 1 3 \n  a" {
		t.Errorf("got %q, %v", out, err)
	}
}

// TestUserTemplatesAreBounded: before the bounds, each of these took memory
// until the host ran out.
func TestUserTemplatesAreBounded(t *testing.T) {
	m := basicModel(t)
	tests := []struct{ text, want string }{
		{`{{ repeat 2000000000 "x" }}`, `error calling repeat: repeat: 2000000000 bytes is over the 64 MiB limit`},
		{`{{ "ab" | indent 100000000 }}`, `error calling indent: indent: 100000002 bytes is over the 64 MiB limit`},
		{`{{ range until 2000000000 }}x{{ end }}`, `error calling until: until: 2000000000 items is over the limit of 100000`},
		{`{{ untilStep 0 2000000000 2 | len }}`, `error calling untilStep: untilStep: 1000000000 items is over the limit of 100000`},
		{`{{ seq 2000000000 }}`, `error calling seq: seq: 1999999999 items is over the limit of 100000`},
		{`{{ range 2000000000 }}` + strings.Repeat("x", 4096) + `{{ end }}`, `output is over the 64 MiB limit`},
	}
	for _, tc := range tests {
		_, err := renderUser(t, m, tc.text)
		if err == nil || !strings.HasPrefix(err.Error(), "templates: render user.tmpl: ") || !strings.HasSuffix(err.Error(), tc.want) {
			t.Errorf("%.40s: got %v, want an error ending %q", tc.text, err, tc.want)
		}
	}
}

func TestOverrideMustBeARegularFile(t *testing.T) {
	m := basicModel(t)
	fifo := filepath.Join(t.TempDir(), "haproxy.cfg.tmpl")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := templates.Render(m, fifo)
	if want := "templates: " + fifo + ": not a regular file (FIFO)"; err == nil || err.Error() != want || !errors.Is(err, inputfile.ErrNotRegular) {
		t.Errorf("got %v, want %q", err, want)
	}
}

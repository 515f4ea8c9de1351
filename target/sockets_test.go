package target_test

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/internal/lbtest"
	"github.com/wsctl/wsctl/spec"
	"github.com/wsctl/wsctl/target"
)

// loader loads the spec at path, or with path "" the one found in search
// with an empty environment, as a command's -c does.
func loader(path string, search []string) func() (*spec.Spec, error) {
	return func() (*spec.Spec, error) {
		s, _, err := spec.LoadGiven(path, func(string) string { return "" }, search)
		return s, err
	}
}

func TestSocketPaths(t *testing.T) {
	t.Setenv("WSCTL_RUN_DIR", "/tmp/wsctl-test-run")
	specPath := filepath.Join(lbtest.ModuleRoot(t), "examples", "basic", "wsctl.yaml")
	sp, err := spec.Load(specPath)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		given    []string
		specPath string
		env      string
		want     []string
	}{
		{name: "flags win", given: []string{"/a.sock", "/b.sock", "/a.sock"}, specPath: specPath, env: "/c.sock", want: []string{"/a.sock", "/b.sock"}},
		{name: "environment, commas and colons", specPath: specPath, env: "/c.sock,/d.sock:/e.sock", want: []string{"/c.sock", "/d.sock", "/e.sock"}},
		{name: "spec", specPath: specPath, want: []string{sp.HAProxy.AdminSocket}},
		{name: "default", want: []string{spec.DefaultAdminSocket}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := target.SocketPaths(tt.given, tt.env, loader(tt.specPath, nil))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got.List); diff != "" {
				t.Errorf("paths (-want +got):\n%s", diff)
			}
		})
	}
	if got := sp.HAProxy.AdminSocket; got != "/tmp/wsctl-test-run/admin.sock" {
		t.Errorf("spec admin socket = %q", got)
	}
}

// TestSocketPathsRefused: a spec that fails to load is the error (not the
// default socket), and so is a list of blanks.
func TestSocketPathsRefused(t *testing.T) {
	bad := errors.New("spec: wsctl.yaml:3: bad")
	if _, err := target.SocketPaths(nil, "", func() (*spec.Spec, error) { return nil, bad }); err != bad {
		t.Errorf("broken spec: got %v, want %v", err, bad)
	}
	if _, err := target.SocketPaths([]string{" ", ""}, "", nil); err == nil || err.Error() != "no admin socket given" {
		t.Errorf("blank sockets: got %v, want no admin socket given", err)
	}
	if _, err := target.SocketPaths(nil, ",:", nil); err == nil || err.Error() != "no admin socket given" {
		t.Errorf("blank environment: got %v, want no admin socket given", err)
	}
}

// TestDefaultSocketExplained: with no spec found the default socket is
// used, and only its failure says why it was chosen.
func TestDefaultSocketExplained(t *testing.T) {
	absent := filepath.Join(t.TempDir(), "wsctl.yaml")
	found, err := target.SocketPaths(nil, "", loader("", []string{absent}))
	if err != nil || !cmp.Equal(found.List, []string{spec.DefaultAdminSocket}) {
		t.Fatalf("paths = %v, %v; want the default", found.List, err)
	}
	if found.Explain(nil) != nil {
		t.Error("a success is explained")
	}
	got := found.Explain(haproxy.ErrNoSocket).Error()
	want := "no HAProxy socket; spec: no spec found: looked at $WSCTL_CONFIG (unset), " + absent +
		", so wsctl used HAProxy's default socket: give the spec with -c FILE or the socket with --socket PATH"
	if got != want {
		t.Errorf("explained:\n%s\nwant:\n%s", got, want)
	}
	given, err := target.SocketPaths([]string{"/x.sock"}, "", loader("", []string{absent}))
	if err != nil || given.Explain(haproxy.ErrNoSocket) != haproxy.ErrNoSocket {
		t.Errorf("--socket given: the failure is explained as a default")
	}
}

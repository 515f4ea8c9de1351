package spec

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFind(t *testing.T) {
	dir := t.TempDir()
	present := filepath.Join(dir, "present.yaml")
	if err := os.WriteFile(present, []byte("proxy: haproxy\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	absent := filepath.Join(dir, "absent.yaml")
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == PathEnv {
				return v
			}
			return ""
		}
	}
	tests := []struct {
		name   string
		env    string
		search []string
		want   string
	}{
		{name: "the variable wins", env: "/from/env.yaml", search: []string{present}, want: "/from/env.yaml"},
		{name: "first that exists", search: []string{absent, present, dir}, want: present},
		// A directory is found, so Load says what is wrong with it.
		{name: "a directory counts", search: []string{absent, dir, present}, want: dir},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Find(env(tt.env), tt.search)
			if err != nil || got != tt.want {
				t.Errorf("Find = %q, %v; want %q", got, err, tt.want)
			}
		})
	}

	_, err := Find(env(""), []string{"wsctl.yaml", absent})
	want := "spec: no spec found: looked at $WSCTL_CONFIG (unset), ./wsctl.yaml, " + absent
	if !errors.Is(err, ErrNotFound) || err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("nothing to find: got %v, want ErrNotFound and %q", err, want)
	}
}

// TestLoadGiven: a missing file named by $WSCTL_CONFIG says where the
// name came from; one given as -c needs no such note; nothing to find
// wraps ErrNotFound.
func TestLoadGiven(t *testing.T) {
	absent := filepath.Join(t.TempDir(), "absent.yaml")
	fromEnv := func(k string) string {
		if k == PathEnv {
			return absent
		}
		return ""
	}
	if _, _, err := LoadGiven("", fromEnv, nil); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "(from $WSCTL_CONFIG)") {
		t.Errorf("from $%s: got %v, want it named", PathEnv, err)
	}
	if _, _, err := LoadGiven(absent, fromEnv, nil); !errors.Is(err, os.ErrNotExist) || strings.Contains(err.Error(), "$WSCTL_CONFIG") {
		t.Errorf("given: got %v, want no $%s", err, PathEnv)
	}
	if _, _, err := LoadGiven("", func(string) string { return "" }, []string{absent}); !errors.Is(err, ErrNotFound) {
		t.Errorf("none: got %v, want ErrNotFound", err)
	}
}

package spec

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// PathEnv names the environment variable that gives the spec's path when no
// -c flag does.
const PathEnv = "WSCTL_CONFIG"

// SearchPaths are where a spec is looked for, in order, when neither -c nor
// $WSCTL_CONFIG names one: the working directory, then the system-wide spec
// a package installs.
var SearchPaths = []string{"wsctl.yaml", "/etc/wsctl/wsctl.yaml"}

// ErrNotFound is wrapped by Find's error when no spec was found.
var ErrNotFound = errors.New("no spec found")

// Find returns the path of the spec a command uses when it was given none:
// $WSCTL_CONFIG when set (getenv reads it; the file need not exist, so a
// typo is reported by Load rather than skipped), else the first of search
// that exists. Anything there that exists counts, so Load reports a
// directory or an unreadable file instead of Find passing over it. When
// nothing is found the error wraps ErrNotFound and names every place looked
// at.
func Find(getenv func(string) string, search []string) (string, error) {
	if p := getenv(PathEnv); p != "" {
		return p, nil
	}
	for _, p := range search {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			return p, nil
		}
	}
	looked := []string{"$" + PathEnv + " (unset)"}
	for _, p := range search {
		if !strings.ContainsRune(p, os.PathSeparator) {
			p = "." + string(os.PathSeparator) + p
		}
		looked = append(looked, p)
	}
	return "", fmt.Errorf("spec: %w: looked at %s", ErrNotFound, strings.Join(looked, ", "))
}

// LoadGiven loads the spec at path (a command's -c), or with path "" the
// one Find finds, and returns the path loaded (the agent reads it again
// when it changes). The error wraps ErrNotFound when there was none to
// find, and names $WSCTL_CONFIG when that named a file that is not there.
func LoadGiven(path string, getenv func(string) string, search []string) (*Spec, string, error) {
	given := path
	if path == "" {
		var err error
		if path, err = Find(getenv, search); err != nil {
			return nil, "", err
		}
	}
	s, err := Load(path)
	if err != nil && given == "" && errors.Is(err, fs.ErrNotExist) {
		// Only $WSCTL_CONFIG names a file Find did not see exist.
		return nil, "", fmt.Errorf("%w (from $%s)", err, PathEnv)
	}
	return s, path, err
}

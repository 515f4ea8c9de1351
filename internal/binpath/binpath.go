// Package binpath finds the proxy binaries wsctl runs (haproxy, nginx): the
// one place that decides, so that wsctl's validation and the tests that
// start HAProxy use the same binary.
package binpath

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// EnvHAProxy names the environment variable that, when set, is the path of
// the haproxy binary to use instead of the one in PATH: `make test` points
// it at HAProxy 3.0 for its second pass, and an operator at the HAProxy
// they run in production.
const EnvHAProxy = "WSCTL_HAPROXY"

// ErrNotFound is returned when the binary is not installed.
var ErrNotFound = errors.New("binary not found")

// sbinDirs are where Debian installs haproxy and nginx, often not in a
// user's PATH.
var sbinDirs = []string{"/usr/sbin", "/usr/local/sbin", "/sbin"}

// Find returns the path of the program name: for "haproxy", $WSCTL_HAPROXY
// when set (an error if it is not an executable file); otherwise name in
// PATH, then in the sbin directories.
func Find(name string) (string, error) {
	if name == "haproxy" {
		if p := os.Getenv(EnvHAProxy); p != "" {
			if err := Executable(p); err != nil {
				return "", fmt.Errorf("%s=%s: %w", EnvHAProxy, p, err)
			}
			return p, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range sbinDirs {
		p := filepath.Join(dir, name)
		if Executable(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: %w (install it: apt-get install %s)", name, ErrNotFound, debianPackage(name))
}

// debianPackage names the Debian package that installs the program name.
func debianPackage(name string) string {
	switch name {
	case "nginx":
		return "nginx-light"
	case "promtool":
		return "prometheus"
	}
	return name
}

// Executable checks that path is an executable regular file; a missing one
// wraps ErrNotFound.
func Executable(path string) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%w: no such file", ErrNotFound)
	case err != nil:
		return err
	case !fi.Mode().IsRegular():
		return errors.New("not a regular file")
	case fi.Mode()&0o111 == 0:
		return errors.New("not executable")
	}
	return nil
}

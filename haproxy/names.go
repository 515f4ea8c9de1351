package haproxy

import (
	"fmt"
	"regexp"
	"strings"
)

// MaxNameLen bounds backend and server names. HAProxy itself accepts longer
// ones; wsctl derives its names from instance ids and never needs more.
const MaxNameLen = 128

// namePattern is the only shape of name that reaches a socket. The CLI
// escapes nothing: a ';' starts a second command, a newline ends the first
// one early and a space shifts the arguments, so anything beyond this set is
// refused before a command exists (checkCommand refuses separators again
// where every command is sent).
var namePattern = regexp.MustCompile(`^[A-Za-z0-9_.:-]+$`)

// ValidName reports whether name may be used as a backend or server name in
// a runtime command. The error wraps ErrInvalidName.
func ValidName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrInvalidName)
	case len(name) > MaxNameLen:
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrInvalidName, len(name), MaxNameLen)
	case !namePattern.MatchString(name):
		return fmt.Errorf("%w: %q: only letters, digits and _ . : - are allowed", ErrInvalidName, name)
	}
	return nil
}

// Ref names a server: Server alone, or Backend/Server. An empty Backend
// matches the server in whichever backend holds it.
type Ref struct {
	Backend string
	Server  string
}

// ParseRef parses "server" or "backend/server" and validates both names.
// The error wraps ErrInvalidName.
func ParseRef(s string) (Ref, error) {
	var r Ref
	if b, srv, ok := strings.Cut(s, "/"); ok {
		r = Ref{Backend: b, Server: srv}
		if err := ValidName(b); err != nil {
			return Ref{}, fmt.Errorf("backend: %w", err)
		}
	} else {
		r = Ref{Server: s}
	}
	if err := ValidName(r.Server); err != nil {
		return Ref{}, fmt.Errorf("server: %w", err)
	}
	return r, nil
}

// String returns "backend/server", or "server" when Backend is empty.
func (r Ref) String() string {
	if r.Backend == "" {
		return r.Server
	}
	return r.Backend + "/" + r.Server
}

// validPair checks a backend and a server name before a command is built.
func validPair(backend, server string) error {
	if err := ValidName(backend); err != nil {
		return fmt.Errorf("backend: %w", err)
	}
	if err := ValidName(server); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	return nil
}

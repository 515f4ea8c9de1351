package target

import (
	"errors"
	"fmt"
	"strings"

	"github.com/wsctl/wsctl/spec"
)

// Paths are this host's admin sockets an operation uses, and why.
type Paths struct {
	List []string
	// noSpec is why HAProxy's default socket was used: no spec was found.
	// nil when the sockets were given or the spec's.
	noSpec error
}

// SocketPaths returns the admin sockets to use, first found: given (the
// operator's list), env (a list separated by commas or colons, from the
// environment), the socket of the spec load returns, HAProxy's Debian
// default when load finds none (an error wrapping spec.ErrNotFound).
// load is called only when neither list is given. Blanks and duplicates
// are dropped; an empty result is an error.
func SocketPaths(given []string, env string, load func() (*spec.Spec, error)) (Paths, error) {
	var p Paths
	list := given
	switch {
	case len(given) > 0:
	case env != "":
		list = strings.FieldsFunc(env, func(r rune) bool { return r == ',' || r == ':' })
	default:
		sp, err := load()
		switch {
		case errors.Is(err, spec.ErrNotFound):
			p.noSpec = err
			list = []string{spec.DefaultAdminSocket}
		case err != nil:
			return Paths{}, err
		default:
			list = []string{sp.HAProxy.AdminSocket}
		}
	}
	seen := map[string]bool{}
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" || seen[s] {
			continue
		}
		seen[s] = true
		p.List = append(p.List, s)
	}
	if len(p.List) == 0 {
		return Paths{}, errors.New("no admin socket given")
	}
	return p, nil
}

// Explain adds to err, a failure to reach p's sockets, that HAProxy's
// default socket was used because no spec was found. Said only on failure:
// a default that works needs no comment.
func (p Paths) Explain(err error) error {
	if err == nil || p.noSpec == nil {
		return err
	}
	return fmt.Errorf("%w; %v, so wsctl used HAProxy's default socket: give the spec with -c FILE or the socket with --socket PATH", err, p.noSpec)
}

package haproxy

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrInvalidName is returned before any command is built when a backend
	// or server name falls outside ^[A-Za-z0-9_.:-]+$ or exceeds MaxNameLen.
	ErrInvalidName = errors.New("invalid name")
	// ErrUnknownServer is matched by *UnknownServerError.
	ErrUnknownServer = errors.New("unknown server")
	// ErrUnknownBackend is matched by *UnknownBackendError.
	ErrUnknownBackend = errors.New("unknown backend")
	// ErrAmbiguous is matched by *AmbiguousError.
	ErrAmbiguous = errors.New("ambiguous server name")
	// ErrNoSocket is returned when nothing listens at the socket path.
	ErrNoSocket = errors.New("no HAProxy socket")
	// ErrPermission is returned when the socket may not be opened, or when
	// HAProxy refuses a command because the socket is not at level admin.
	ErrPermission = errors.New("permission denied")
	// ErrNotHAProxy is returned when the socket answers, but not as an
	// HAProxy runtime API does.
	ErrNotHAProxy = errors.New("not an HAProxy runtime socket")
	// ErrUnsupported is returned by Dial for HAProxy older than MinVersion.
	ErrUnsupported = errors.New("unsupported HAProxy version")
	// ErrTimeout is returned when HAProxy does not answer within the
	// client's timeout (a busy or stuck process).
	ErrTimeout = errors.New("no answer in time")
	// ErrBadReply is returned for an empty, malformed or truncated reply,
	// and for one larger than MaxReply.
	ErrBadReply = errors.New("unexpected reply")
	// ErrCommand is returned when HAProxy answers a command with an error.
	ErrCommand = errors.New("command refused")
	// ErrNotApplied is returned when a change reported as done is not what
	// the state read back afterwards shows (HAProxy answers some failures,
	// such as an invalid address, with a mere warning, severity [4]).
	ErrNotApplied = errors.New("change not applied")
	// ErrNotAdded: HAProxy refused a ChangeAdd's `add server` (a server of
	// that name exists, say): the change made nothing, unlike one refused
	// at a later step, which leaves the server added.
	ErrNotAdded = errors.New("server not added")
	// ErrNotMade: a change Apply did not send, since an earlier change of
	// the same server in the batch failed (a readmission after its
	// address change was refused would send clients to the old address).
	ErrNotMade = errors.New("not made: an earlier change of the server failed")
	// ErrNoSuchSession is returned when a session is gone, or no longer
	// belongs to the server it was listed for.
	ErrNoSuchSession = errors.New("no such session")
	// ErrReloadFailed is matched by *ReloadError: HAProxy could not load
	// the configuration of a reload.
	ErrReloadFailed = errors.New("reload failed")
	// ErrNeedsVersion is returned before anything is sent when an option
	// needs a newer HAProxy than the socket's (Client.Info().Version).
	ErrNeedsVersion = errors.New("needs a newer HAProxy")
)

// UnknownServerError reports a server name no backend holds. Known lists the
// servers that exist (as backend/server), sorted, so the message helps.
type UnknownServerError struct {
	Name  string
	Known []string
}

func (e *UnknownServerError) Error() string { return unknown("server", e.Name, e.Known) }

// Is makes errors.Is(err, ErrUnknownServer) hold.
func (e *UnknownServerError) Is(target error) bool { return target == ErrUnknownServer }

// UnknownBackendError reports a backend HAProxy does not have. Known lists
// the backends it has, sorted, so the message helps.
type UnknownBackendError struct {
	Name  string
	Known []string
}

func (e *UnknownBackendError) Error() string { return unknown("backend", e.Name, e.Known) }

// unknown says that name is not a known what, and lists the known ones.
func unknown(what, name string, known []string) string {
	if len(known) == 0 {
		return fmt.Sprintf("unknown %s %q (no %ss found)", what, name, what)
	}
	return fmt.Sprintf("unknown %s %q; known %ss: %s", what, name, what, strings.Join(known, ", "))
}

// Is makes errors.Is(err, ErrUnknownBackend) hold.
func (e *UnknownBackendError) Is(target error) bool { return target == ErrUnknownBackend }

// AmbiguousError reports a server name that several backends hold.
// Candidates are the matches as backend/server, sorted.
type AmbiguousError struct {
	Name       string
	Candidates []string
}

func (e *AmbiguousError) Error() string {
	return fmt.Sprintf("server name %q is ambiguous; use one of: %s", e.Name, strings.Join(e.Candidates, ", "))
}

// Is makes errors.Is(err, ErrAmbiguous) hold.
func (e *AmbiguousError) Is(target error) bool { return target == ErrAmbiguous }

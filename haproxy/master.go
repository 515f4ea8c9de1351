package haproxy

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// ReloadError is HAProxy's report of a reload whose configuration did not
// load (`Success=0` from the master CLI, HAProxy 3.0): the old worker goes
// on serving. It matches ErrReloadFailed.
type ReloadError struct {
	// Alerts are HAProxy's [ALERT] startup messages without their prefix,
	// e.g. "config : parsing [/etc/haproxy/haproxy.cfg:13] : unknown
	// keyword 'bad' in 'backend' section".
	Alerts []string
	// Startup is every startup message the master returned.
	Startup string
}

func (e *ReloadError) Error() string {
	if len(e.Alerts) == 0 {
		return fmt.Sprintf("%v: %s", ErrReloadFailed, lastLine(e.Startup))
	}
	return fmt.Sprintf("%v: %s", ErrReloadFailed, strings.Join(e.Alerts, "; "))
}

// Is makes errors.Is(err, ErrReloadFailed) hold.
func (e *ReloadError) Is(target error) bool { return target == ErrReloadFailed }

// statusFrom is the first version whose master CLI reports the outcome of
// `reload`; 2.6 answers nothing (both tested).
var statusFrom = [2]int{3, 0}

// Reload asks HAProxy's master process, through its CLI (haproxy -W -S),
// to reload: re-read the configuration and start a new worker, while the
// old one finishes its sessions. The master's timeout bounds each exchange,
// the loading of the new configuration included.
//
// HAProxy 3.0 answers once the new configuration loaded or failed: on
// failure Reload returns a *ReloadError (ErrReloadFailed) with HAProxy's own
// messages. HAProxy 2.6 answers nothing, so there nil only means the master
// took the command. Reload does not wait for the new worker: package reload
// confirms it, on the admin socket, on every version. Other errors wrap
// ErrNoSocket, ErrPermission, ErrTimeout or ErrBadReply and name the
// socket.
func (m *Master) Reload(ctx context.Context) error {
	wrap := func(err error) error { return fmt.Errorf("runtime: %s: reload: %w", m.path, err) }
	// `show version` is the one command, besides reload, that both
	// versions' master CLI knows.
	version, err := masterCommand(ctx, m.path, m.timeout, "show version")
	if err != nil {
		return wrap(err)
	}
	version = strings.TrimSpace(version)
	if version == "" || strings.ContainsAny(version, " \n") {
		return wrap(fmt.Errorf("%w: `show version` answered %q (is it the master CLI, haproxy -S?)", ErrNotHAProxy, firstLine(version)))
	}
	reply, err := masterCommand(ctx, m.path, m.timeout, "reload")
	if err != nil {
		return wrap(err)
	}
	if err := reloadStatus(version, reply); err != nil {
		return wrap(err)
	}
	return nil
}

// reloadStatus reads the master's answer to `reload`: "Success=1" or
// "Success=0", a "--" line, then the startup messages (3.0); nothing (2.6).
func reloadStatus(version, reply string) error {
	status, startup, _ := strings.Cut(reply, "\n--\n")
	switch strings.TrimSpace(status) {
	case "Success=1":
		return nil
	case "Success=0":
		return &ReloadError{Alerts: alerts(startup), Startup: strings.TrimSpace(startup)}
	case "":
		if versionAtLeast(version, statusFrom) {
			return fmt.Errorf("%w: HAProxy %s closed without reporting the reload", ErrBadReply, version)
		}
		return nil
	}
	if strings.HasPrefix(reply, "Unknown command") {
		return fmt.Errorf("%w: `reload` is unknown there (the master CLI is the socket of haproxy -S)", ErrNotHAProxy)
	}
	return fmt.Errorf("%w: `reload` answered %q", ErrBadReply, firstLine(reply))
}

// alertLine is one [ALERT] startup message: "[ALERT]    (123) : text".
var alertLine = regexp.MustCompile(`^\[ALERT\]\s+\(\d+\)\s*:\s*(.*)$`)

// alerts returns the text of the [ALERT] lines of HAProxy's startup messages.
func alerts(startup string) []string {
	var out []string
	for _, l := range strings.Split(startup, "\n") {
		if m := alertLine.FindStringSubmatch(strings.TrimSpace(l)); m != nil {
			out = append(out, m[1])
		}
	}
	return out
}

// masterCommand sends cmd to the master CLI outside interactive mode and
// returns all it answers: the master CLI has no `set severity-output` and
// its prompt differs from the admin socket's, and `reload` ends the
// connection (the master re-executes itself) rather than answer a prompt.
func masterCommand(ctx context.Context, path string, timeout time.Duration, cmd string) (string, error) {
	// Checked here too so that a refused command does not even connect.
	if err := checkCommand(cmd); err != nil {
		return "", err
	}
	s, err := dialMaster(ctx, path, timeout)
	if err != nil {
		return "", err
	}
	defer s.close()
	return s.oneShot(cmd)
}

// masterRetry is how often a refused master CLI is dialled again.
const masterRetry = 50 * time.Millisecond

// dialMaster dials the master CLI. A refused connection to a socket that
// exists is retried until timeout: HAProxy 2.6's master re-executes itself
// after starting its workers and at every reload, and its CLI refuses
// connections meanwhile (so reloads in a row would fail).
func dialMaster(ctx context.Context, path string, timeout time.Duration) (*session, error) {
	deadline := time.Now().Add(timeout)
	for {
		s, err := dial(ctx, path, timeout)
		if err == nil || !errors.Is(err, errRefused) || time.Now().After(deadline) {
			return s, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(masterRetry):
		}
	}
}

// lastLine returns the last non-empty line of s.
func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// Package runtime drives a running HAProxy through its runtime API (the
// admin stats socket): list servers with their state and sessions, change a
// server's state, address or weight, add and delete servers, list and close
// sessions, and apply many changes at once.
//
// It speaks the socket's text protocol itself, in interactive mode (one
// connection carries many commands, each reply ends with a prompt) with
// numbered severities. Every command passes one choke point, session.send,
// which refuses line breaks, ';' and NUL before a byte is written; names,
// addresses and options are validated before a command is even built.
// Every call runs under ctx and the Client's timeout (an idle one for
// replies: a long reply that keeps flowing is read whole), a reply is read
// to at most MaxReply bytes, and every change is read back from `show
// servers state`, whose admin state is decoded here. Master.Reload asks the master CLI
// (haproxy -W -S) for a reload, through the same choke point.
//
// HAProxy 2.6 is the oldest version supported; 3.0 is tested too. Where
// they differ the package follows the version: 3.0 reports the outcome of a
// reload and accepts `cookie` on `add server`, 2.6 does neither.
package haproxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DefaultTimeout bounds each socket operation when Dial is given none.
const DefaultTimeout = 5 * time.Second

// MinVersion is the oldest HAProxy (major, minor) Dial accepts.
var MinVersion = [2]int{2, 6}

// Info describes the HAProxy process behind a socket.
type Info struct {
	Version string // e.g. "2.6.12-1+deb12u4"
	Pid     int64
}

// Client talks to one HAProxy admin socket. It is safe for concurrent use:
// each call opens a connection of its own.
type Client struct {
	path    string
	timeout time.Duration
	info    Info
	// lent, when set, is the session every call runs on: the Client a
	// Session lends through its Conn.
	lent *session
	// predials is the connection Predial dialled for the next session.
	predials *predials
}

// Dial checks that path is the runtime socket of an HAProxy this package
// supports and returns a client for it. timeout bounds every later wait
// for HAProxy: a connection, a write, a reply's first byte and every pause
// within it (a whole reply gets replySpan, 12, times it), each command of a
// batch on its own; zero means DefaultTimeout.
// The errors wrap ErrNoSocket, ErrPermission, ErrNotHAProxy, ErrUnsupported
// or ErrTimeout and name path.
func Dial(ctx context.Context, path string, timeout time.Duration) (*Client, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	c := &Client{path: path, timeout: timeout, predials: &predials{}}
	if err := probe(path, timeout); err != nil {
		return nil, c.wrap("", err)
	}
	info, err := c.showInfo(ctx)
	if err != nil {
		return nil, c.wrap("", err)
	}
	c.info = info
	if !versionAtLeast(info.Version, MinVersion) {
		return nil, c.wrap("", fmt.Errorf("%w: HAProxy %s, need %d.%d or later", ErrUnsupported, info.Version, MinVersion[0], MinVersion[1]))
	}
	return c, nil
}

// showInfo asks `show info` for the version and the pid of the process
// that serves the socket (after a reload, the new worker).
func (c *Client) showInfo(ctx context.Context) (Info, error) {
	reply, err := c.raw(ctx, "show info")
	if err != nil {
		return Info{}, err
	}
	return parseInfo(reply)
}

// parseInfo reads the "Name: value" lines of `show info`.
func parseInfo(reply string) (Info, error) {
	var info Info
	for _, line := range strings.Split(reply, "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		switch name {
		case "Version":
			info.Version = value
		case "Pid":
			pid, err := strconv.ParseInt(value, 10, 64)
			if err != nil {
				return Info{}, fmt.Errorf("%w: show info: Pid %q", ErrBadReply, value)
			}
			info.Pid = pid
		}
	}
	if info.Version == "" {
		return Info{}, fmt.Errorf("%w: show info has no version (%q)", ErrNotHAProxy, firstLine(reply))
	}
	return info, nil
}

// Path returns the socket path the client talks to.
func (c *Client) Path() string { return c.path }

// Info returns what Dial learnt about the HAProxy process.
func (c *Client) Info() Info { return c.info }

// probe tells a missing socket, a regular file, a dead process and a
// permission problem apart with their own errors.
func probe(path string, timeout time.Duration) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%w: no such file (is HAProxy running with a stats socket there?)", ErrNoSocket)
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("%w: cannot reach the socket (run as root or a member of HAProxy's group)", ErrPermission)
	case err != nil:
		return fmt.Errorf("%w: %v", ErrNoSocket, err)
	case fi.Mode()&os.ModeSocket == 0:
		return fmt.Errorf("%w: not a unix socket", ErrNotHAProxy)
	}
	conn, err := net.DialTimeout("unix", path, timeout)
	if err != nil {
		return classifyDial(err)
	}
	return conn.Close()
}

// classifyDial turns a connection error into one of the package's errors.
// errRefused is a socket file nobody accepts on: HAProxy stopped, or a
// master CLI while the master re-executes itself.
var errRefused = errors.New("connection refused (HAProxy not running? the socket file is stale)")

func classifyDial(err error) error {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%w: %w", ErrNoSocket, errRefused)
	case errors.Is(err, syscall.ENOENT):
		return fmt.Errorf("%w: no such file (is HAProxy running with a stats socket there?)", ErrNoSocket)
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return fmt.Errorf("%w: cannot open the socket (run as root or a member of HAProxy's group)", ErrPermission)
	case errors.Is(err, syscall.EAGAIN), errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("%w: HAProxy accepts no connection (busy?)", ErrTimeout)
	}
	return err
}

// severity splits a "[N]: message" reply, as HAProxy answers messages and
// errors after `set severity-output number`.
func severity(reply string) (int, string, bool) {
	if len(reply) < 4 || reply[0] != '[' || reply[2] != ']' || reply[3] != ':' {
		return 0, reply, false
	}
	n, err := strconv.Atoi(reply[1:2])
	if err != nil {
		return 0, reply, false
	}
	return n, strings.TrimSpace(reply[4:]), true
}

// commandError turns HAProxy's refusal text into an error.
func commandError(msg string) error {
	if first, _, _ := strings.Cut(msg, "\n"); first != "" {
		msg = first
	}
	msg = strings.TrimSuffix(strings.TrimSpace(msg), ".")
	if strings.Contains(strings.ToLower(msg), "permission denied") {
		return fmt.Errorf("%w: HAProxy refused the command (is the socket at level admin?)", ErrPermission)
	}
	return fmt.Errorf("%w: %s", ErrCommand, msg)
}

// wrap adds the package, the socket and the operation to err.
func (c *Client) wrap(op string, err error) error {
	if strings.ContainsAny(op, "\n\r\x00") {
		op = strconv.Quote(op) // a hostile name must not forge log lines
	}
	if op == "" {
		return fmt.Errorf("runtime: %s: %w", c.path, err)
	}
	return fmt.Errorf("runtime: %s: %s: %w", c.path, op, err)
}

// versionAtLeast reports whether an HAProxy version string such as
// "2.6.12-1+deb12u4" is at least min (major, minor).
func versionAtLeast(v string, min [2]int) bool {
	majorText, rest, ok := strings.Cut(v, ".")
	if !ok {
		return false
	}
	major, err1 := strconv.Atoi(majorText)
	minor, err2 := strconv.Atoi(leadingDigits(rest))
	if err1 != nil || err2 != nil {
		return false
	}
	return major > min[0] || major == min[0] && minor >= min[1]
}

// leadingDigits returns the digits s starts with.
func leadingDigits(s string) string {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i]
}

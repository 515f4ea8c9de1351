// Package runtime drives a running HAProxy through its runtime API (the
// admin stats socket): list servers with their state and sessions, change a
// server's state, list and close its sessions.
//
// It wraps github.com/haproxytech/client-native/v5 and keeps its sharp edges
// in one place. The library ignores contexts and waits up to 30 s, retries a
// failed command once, swallows read timeouts, counts severity [4] replies
// as success, panics on an empty stats reply and escapes nothing. So every
// call here runs under the Client's own deadline, recovers from panics,
// validates names before a command is built, and reads the state back after
// every change. Typed calls of client-native are used where they exist;
// raw commands only where it has none (show sess, shutdown session(s)) or
// where its parser loses information (show servers state, whose admin
// state it decodes as hex).
//
// HAProxy 2.6 is the oldest version supported.
package runtime

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

	"github.com/haproxytech/client-native/v5/models"
	native "github.com/haproxytech/client-native/v5/runtime"
	"github.com/haproxytech/client-native/v5/runtime/options"
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

// Client talks to one HAProxy admin socket. It is safe for concurrent use;
// client-native serialises the commands per socket and opens a connection
// for each.
type Client struct {
	path    string
	timeout time.Duration
	rt      *native.SingleRuntime
	info    Info
}

// Dial checks that path is the runtime socket of an HAProxy this package
// supports and returns a client for it. timeout bounds every later
// operation; zero means DefaultTimeout. The errors wrap ErrNoSocket,
// ErrPermission, ErrNotHAProxy, ErrUnsupported or ErrTimeout and name path.
func Dial(ctx context.Context, path string, timeout time.Duration) (*Client, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	c := &Client{path: path, timeout: timeout, rt: &native.SingleRuntime{}}
	if err := probe(path, timeout); err != nil {
		return nil, c.wrap("", err)
	}
	// The probe above replaces Init's own check, which would wait 30 s on a
	// stuck process.
	if err := c.rt.Init(path, 0, 0, options.RuntimeOptions{DoNotCheckRuntimeOnInit: true}); err != nil {
		return nil, c.wrap("", err)
	}
	var pi models.ProcessInfo
	err := c.call(ctx, func() error {
		pi = c.rt.GetInfo()
		return nil
	})
	if err == nil && pi.Error != "" {
		err = fmt.Errorf("show info: %s", pi.Error)
		if strings.Contains(pi.Error, "broken pipe") || strings.Contains(pi.Error, "connection reset") {
			// It accepted the connection and hung up on the command.
			err = fmt.Errorf("%w: it closed the connection on `show info`", ErrNotHAProxy)
		}
	}
	if err != nil {
		return nil, c.wrap("", err)
	}
	if pi.Info == nil || pi.Info.Version == "" {
		return nil, c.wrap("", fmt.Errorf("%w: show info has no version", ErrNotHAProxy))
	}
	c.info.Version = pi.Info.Version
	if pi.Info.Pid != nil {
		c.info.Pid = *pi.Info.Pid
	}
	if !versionAtLeast(c.info.Version, MinVersion) {
		return nil, c.wrap("", fmt.Errorf("%w: HAProxy %s, need %d.%d or later", ErrUnsupported, c.info.Version, MinVersion[0], MinVersion[1]))
	}
	return c, nil
}

// Path returns the socket path the client talks to.
func (c *Client) Path() string { return c.path }

// Info returns what Dial learnt about the HAProxy process.
func (c *Client) Info() Info { return c.info }

// probe connects once to tell a missing socket, a dead process and a
// permission problem apart before client-native turns them into strings.
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
func classifyDial(err error) error {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%w: connection refused (HAProxy not running? the socket file is stale)", ErrNoSocket)
	case errors.Is(err, syscall.ENOENT):
		return fmt.Errorf("%w: no such file (is HAProxy running with a stats socket there?)", ErrNoSocket)
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return fmt.Errorf("%w: cannot open the socket (run as root or a member of HAProxy's group)", ErrPermission)
	case errors.Is(err, syscall.EAGAIN), errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("%w: HAProxy accepts no connection (busy?)", ErrTimeout)
	}
	return err
}

// call runs f, a client-native call, under the client's deadline. The
// library ignores contexts and may block for 30 s, so f runs in its own
// goroutine; after a timeout that goroutine ends when the library gives up.
// A panic inside the library (it indexes empty replies) becomes ErrBadReply.
func (c *Client) call(ctx context.Context, f func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(parent, c.timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("%w: client-native panicked: %v", ErrBadReply, r)
			}
		}()
		done <- f()
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		if err := parent.Err(); err != nil {
			return err
		}
		return fmt.Errorf("%w: nothing within %s (HAProxy busy, or not a runtime socket)", ErrTimeout, c.timeout)
	}
}

// raw sends one command client-native has no typed call for and returns the
// reply. Severity 0–3 replies become ErrCommand (ErrPermission for a socket
// below level admin); an empty reply is ErrBadReply.
func (c *Client) raw(ctx context.Context, cmd string) (string, error) {
	return c.send(ctx, cmd, true)
}

// rawAllowEmpty is raw for commands that answer nothing on success.
func (c *Client) rawAllowEmpty(ctx context.Context, cmd string) (string, error) {
	return c.send(ctx, cmd, false)
}

func (c *Client) send(ctx context.Context, cmd string, wantReply bool) (string, error) {
	if strings.ContainsAny(cmd, ";\r\n") {
		// Unreachable with validated names; kept so no future caller can
		// smuggle a second command.
		return "", fmt.Errorf("%w: command contains a separator", ErrInvalidName)
	}
	var reply string
	err := c.call(ctx, func() error {
		var err error
		reply, err = c.rt.ExecuteRaw(cmd)
		return err
	})
	if err != nil {
		return "", transportError(err)
	}
	if reply == "" {
		if !wantReply {
			return "", nil
		}
		return "", fmt.Errorf("%w: empty reply", ErrBadReply)
	}
	if sev, msg, ok := severity(reply); ok && sev <= 3 {
		return "", commandError(msg)
	}
	return reply, nil
}

// severity splits a "[N]: message" reply, as sent after `set severity-output
// number` (which client-native prepends to every command).
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

// typedError classifies an error returned by one of client-native's typed
// calls: a transport error, or a refusal formatted "[N] message [command]".
func typedError(err error) error {
	if err == nil {
		return nil
	}
	if t := transportError(err); t != err {
		return t
	}
	var op *net.OpError
	if errors.As(err, &op) || errors.Is(err, ErrTimeout) || errors.Is(err, ErrBadReply) || errors.Is(err, context.Canceled) {
		return err
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, " ["); i > 0 {
		msg = msg[:i] // drop the command client-native appends
	}
	if len(msg) > 4 && msg[0] == '[' && msg[2] == ']' {
		msg = msg[4:]
	}
	return commandError(msg)
}

// transportError classifies a connection error; other errors pass through.
func transportError(err error) error {
	var op *net.OpError
	if errors.As(err, &op) {
		return classifyDial(err)
	}
	return err
}

// wrap adds the package, the socket and the operation to err.
func (c *Client) wrap(op string, err error) error {
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

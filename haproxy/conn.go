package haproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"
)

// MaxReply bounds the bytes read for one reply. The largest reply wsctl asks
// for, `show stat` or `show servers state` of every server, takes about
// 500 bytes a server, so 32 MiB holds tens of thousands of servers; a socket
// that streams more (a broken proxy in front, /dev/zero) is cut off with
// ErrBadReply instead of being read into memory.
const MaxReply = 32 << 20

// prompt ends every reply in interactive mode: HAProxy writes the command's
// output, then "\n> " (tested on 2.6: an empty reply is just the prompt).
const prompt = "\n> "

// session is one connection to a socket. On the admin socket (Client.open)
// it runs in interactive mode (`prompt`), which carries any number of
// commands, with `set severity-output number` so that an error reply can be
// told from a message; on the master CLI it carries one command (master.go).
// A session is not safe for concurrent use; the Client opens one per call.
type session struct {
	// timeout bounds each command, its reply included.
	timeout time.Duration
	ctx     context.Context
	conn    net.Conn
	stop    func() bool
	// err, once set, fails every later command: the connection is out of
	// step with the replies (timeout, oversized reply, hang-up).
	err error
	buf bytes.Buffer
}

// with runs f on a fresh session and closes it.
func (c *Client) with(ctx context.Context, f func(*session) error) error {
	s, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer s.close()
	return f(s)
}

// runner runs f on a session: a fresh one (Client.runner) or the one a
// Conn holds (Client.Session).
type runner func(f func(*session) error) error

// runner is with under ctx.
func (c *Client) runner(ctx context.Context) runner {
	return func(f func(*session) error) error { return c.with(ctx, f) }
}

// open dials the socket and switches it to interactive mode. The dial and
// every command honour ctx and the client's timeout.
func (c *Client) open(ctx context.Context) (*session, error) {
	s, err := dial(ctx, c.path, c.timeout)
	if err != nil {
		return nil, err
	}
	for _, cmd := range []string{"prompt", "set severity-output number"} {
		reply, err := s.exec(cmd)
		if err == nil && reply != "" {
			err = fmt.Errorf("%w: %q", ErrBadReply, firstLine(reply))
		}
		if err != nil {
			s.close()
			if errors.Is(err, ErrBadReply) {
				return nil, fmt.Errorf("%w: it answered `%s` with %v", ErrNotHAProxy, cmd, err)
			}
			return nil, err
		}
	}
	return s, nil
}

// dial connects to the unix socket at path, for a session whose commands
// each get timeout and all honour ctx.
func dial(ctx context.Context, path string, timeout time.Duration) (*session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, classifyDial(err)
	}
	s := &session{timeout: timeout, ctx: ctx, conn: conn}
	// A cancelled ctx unblocks a read or write at once.
	s.stop = context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	return s, nil
}

func (s *session) close() {
	s.stop()
	s.conn.Close()
}

// checkCommand refuses what would let one command line carry another: a
// line break ends the command and starts the next, ';' separates commands
// on one line, and a NUL would cut the line short. Names are validated
// long before; this is the last check, in the one place every command goes
// through.
func checkCommand(cmd string) error {
	if i := strings.IndexAny(cmd, "\n\r;\x00"); i >= 0 {
		return fmt.Errorf("%w: the command %q holds a separator (%q)", ErrInvalidName, cmd, cmd[i])
	}
	return nil
}

// send is the choke point: every byte this package writes to a socket goes
// through here, after checkCommand. It gives cmd and its reply the full
// timeout.
func (s *session) send(cmd string) error {
	if err := checkCommand(cmd); err != nil {
		return err
	}
	if s.err != nil {
		return s.err
	}
	// Each command gets the full timeout, so a batch is bounded per
	// command, not as a whole; ctx bounds the whole.
	_ = s.conn.SetDeadline(time.Now().Add(s.timeout))
	if err := s.ctx.Err(); err != nil {
		// The AfterFunc may have run before the deadline above replaced
		// its own.
		s.err = err
		return err
	}
	if _, err := io.WriteString(s.conn, cmd+"\n"); err != nil {
		s.err = s.ioError(cmd, err)
		return s.err
	}
	return nil
}

// exec sends cmd and returns its reply without the prompt. A reply larger
// than MaxReply is ErrBadReply and ends the session.
func (s *session) exec(cmd string) (string, error) {
	if err := s.send(cmd); err != nil {
		return "", err
	}
	reply, err := s.read(cmd, true)
	if err != nil {
		s.err = err
		s.conn.Close()
		return "", err
	}
	return reply, nil
}

// read reads one reply: up to and including the prompt, or without
// toPrompt up to the end of the connection (the master CLI outside
// interactive mode), at most MaxReply bytes.
func (s *session) read(cmd string, toPrompt bool) (string, error) {
	s.buf.Reset()
	for {
		if toPrompt && s.buf.Len() >= len(prompt) && bytes.HasSuffix(s.buf.Bytes(), []byte(prompt)) {
			return strings.TrimSuffix(s.buf.String(), prompt), nil
		}
		if s.buf.Len() >= MaxReply {
			return "", fmt.Errorf("%w: `%s`: reply larger than %d bytes", ErrBadReply, cmd, MaxReply)
		}
		s.buf.Grow(64 << 10)
		room := min(s.buf.Available(), MaxReply-s.buf.Len())
		n, err := s.conn.Read(s.buf.AvailableBuffer()[:room])
		s.buf.Write(s.buf.AvailableBuffer()[:n])
		switch {
		case err == nil:
		case errors.Is(err, io.EOF) && !toPrompt:
			return s.buf.String(), nil
		case errors.Is(err, io.EOF):
			return "", fmt.Errorf("%w: `%s`: the connection closed before the reply ended (%q)", ErrBadReply, cmd, firstLine(s.buf.String()))
		default:
			return "", s.ioError(cmd, err)
		}
	}
}

// ioError classifies a read or write failure on the connection.
func (s *session) ioError(cmd string, err error) error {
	switch {
	case s.ctx.Err() != nil:
		return s.ctx.Err()
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("%w: no reply to `%s` within %s (HAProxy busy, or not a runtime socket)", ErrTimeout, cmd, s.timeout)
	case errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNRESET):
		return fmt.Errorf("%w: `%s`: the connection closed", ErrBadReply, cmd)
	}
	return fmt.Errorf("`%s`: %w", cmd, err)
}

// command runs cmd and classifies its reply: severity 0–3 and an unknown
// command are ErrCommand (ErrPermission for a socket below level admin);
// an empty reply is ErrBadReply unless allowEmpty.
func (s *session) command(cmd string, allowEmpty bool) (string, error) {
	reply, err := s.exec(cmd)
	if err != nil {
		return "", err
	}
	if strings.TrimSpace(reply) == "" {
		if allowEmpty {
			return "", nil
		}
		return "", fmt.Errorf("%w: empty reply to `%s`", ErrBadReply, cmd)
	}
	sev, msg, ok := severity(reply)
	// HAProxy answers an unknown command (a typo, or one this version
	// lacks) at severity 6 with its help.
	if ok && (sev <= 3 || strings.HasPrefix(msg, "Unknown command")) {
		return "", commandError(msg)
	}
	return reply, nil
}

// raw sends one command on a session of its own and returns the reply.
func (c *Client) raw(ctx context.Context, cmd string) (string, error) {
	return c.one(ctx, cmd, false)
}

// rawAllowEmpty is raw for commands that answer nothing on success.
func (c *Client) rawAllowEmpty(ctx context.Context, cmd string) (string, error) {
	return c.one(ctx, cmd, true)
}

func (c *Client) one(ctx context.Context, cmd string, allowEmpty bool) (string, error) {
	// Checked here too so that a refused command does not even connect.
	if err := checkCommand(cmd); err != nil {
		return "", err
	}
	var reply string
	err := c.with(ctx, func(s *session) error {
		var err error
		reply, err = s.command(cmd, allowEmpty)
		return err
	})
	return reply, err
}

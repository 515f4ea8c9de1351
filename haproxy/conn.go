package haproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
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
// Commands sent together (pipelined lines) get one prompt each, in order
// (2.6 and 3.0).
const prompt = "\n> "

// replySpan bounds a whole reply to that many timeouts. The timeout itself
// is an idle one (no byte for that long), so a long reply that keeps
// flowing, `show sess` of thousands of streams from an HAProxy on a busy
// host, is read to its end; replySpan stops a socket that trickles a byte
// now and then from holding a call for MaxReply timeouts.
const replySpan = 12

// session is one connection to a socket. On the admin socket (Client.open)
// it runs in interactive mode (`prompt`), which carries any number of
// commands, with `set severity-output number` so that an error reply can be
// told from a message; on the master CLI it carries one command (master.go).
// A session is not safe for concurrent use; the Client opens one per call.
type session struct {
	// timeout bounds the wait for each write and for each byte of a
	// reply (replySpan bounds the whole reply).
	timeout time.Duration
	ctx     context.Context
	conn    net.Conn
	stop    func() bool
	// err, once set, fails every later command: the connection is out of
	// step with the replies (timeout, oversized reply, hang-up).
	err error
	// buf holds what was read and not returned yet: the replies that
	// follow, when commands were sent together.
	buf bytes.Buffer
	// setup are the commands that make the connection interactive, sent
	// with the first commands (see open); nil once sent.
	setup []string
}

// with runs f on a fresh session and closes it; on a Client bound to a
// session (Session's), on that session.
func (c *Client) with(ctx context.Context, f func(*session) error) error {
	if c.lent != nil {
		return f(c.lent)
	}
	s, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer s.close()
	return f(s)
}

// open dials the socket for a session in interactive mode, or takes the
// connection Predial dialled. The dial and every command honour ctx and
// the client's timeout.
func (c *Client) open(ctx context.Context) (*session, error) {
	var s *session
	if conn := c.predials.take(); conn != nil && ctx.Err() == nil {
		s = newSession(ctx, conn, c.timeout)
	} else {
		if conn != nil {
			conn.Close()
		}
		var err error
		if s, err = dial(ctx, c.path, c.timeout); err != nil {
			return nil, err
		}
	}
	// The switch goes with the first commands, in their write: no round
	// trip of its own at the start of every session (HAProxy reads each
	// line once the one before has been answered, the first making the
	// connection interactive). Its replies are checked before any of
	// theirs is read.
	s.setup = []string{"prompt", "set severity-output number"}
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
	return newSession(ctx, conn, timeout), nil
}

// newSession is a session on conn, dialled to the socket.
func newSession(ctx context.Context, conn net.Conn, timeout time.Duration) *session {
	s := &session{timeout: timeout, ctx: ctx, conn: conn}
	// A cancelled ctx unblocks a read or write at once.
	s.stop = context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	return s
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
// through here, after checkCommand. Several commands go in one write, a
// line each, and HAProxy answers them in turn: one round trip for all.
func (s *session) send(cmds ...string) error {
	for _, cmd := range cmds {
		if err := checkCommand(cmd); err != nil {
			return err
		}
	}
	if s.err != nil {
		return s.err
	}
	// Each write and each reply gets the full timeout, so a batch is
	// bounded per command, not as a whole; ctx bounds the whole.
	_ = s.conn.SetDeadline(time.Now().Add(s.timeout))
	if err := s.ctx.Err(); err != nil {
		// The AfterFunc may have run before the deadline above replaced
		// its own.
		s.err = err
		return err
	}
	if _, err := io.WriteString(s.conn, strings.Join(cmds, "\n")+"\n"); err != nil {
		s.err = s.ioError(cmds[0], err)
		return s.err
	}
	return nil
}

// exec sends cmd and returns its reply without the prompt. A reply larger
// than MaxReply is ErrBadReply and ends the session.
func (s *session) exec(cmd string) (string, error) {
	replies, err := s.execAll([]string{cmd})
	if err != nil {
		return "", err
	}
	return replies[0], nil
}

// execAll sends cmds together and returns their replies, in order. The
// first call sends the session's setup ahead of them and checks its
// replies first: a socket that answers them as HAProxy does not is
// ErrNotHAProxy, and none of cmds' replies is read from it.
func (s *session) execAll(cmds []string) ([]string, error) {
	// Refused before the setup is taken: it goes with the next write.
	for _, cmd := range cmds {
		if err := checkCommand(cmd); err != nil {
			return nil, err
		}
	}
	setup := s.setup
	s.setup = nil
	if err := s.send(slices.Concat(setup, cmds)...); err != nil {
		if len(setup) > 0 && errors.Is(err, ErrBadReply) {
			// Hung up before the setup was even written.
			err = fmt.Errorf("%w: %w", ErrNotHAProxy, err)
			s.err = err
		}
		return nil, err
	}
	for _, cmd := range setup {
		reply, err := s.read(cmd, true)
		switch {
		case errors.Is(err, ErrBadReply):
			err = fmt.Errorf("%w: %w", ErrNotHAProxy, err)
		case err == nil && reply != "":
			err = fmt.Errorf("%w: it answered `%s` with %q", ErrNotHAProxy, cmd, firstLine(reply))
		}
		if err != nil {
			s.err = err
			s.conn.Close()
			return nil, err
		}
	}
	replies := make([]string, len(cmds))
	for i, cmd := range cmds {
		reply, err := s.read(cmd, true)
		if err != nil {
			s.err = err
			s.conn.Close()
			return nil, err
		}
		replies[i] = reply
	}
	return replies, nil
}

// oneShot sends cmd outside interactive mode and returns all the socket
// answers until it closes the connection: one round trip, where an
// interactive session first spends two on `prompt` and `set
// severity-output`. Without severities an error reply looks like any
// other: use it for commands whose reply is parsed anyway.
func (s *session) oneShot(cmd string) (string, error) {
	if err := s.send(cmd); err != nil {
		return "", err
	}
	// The master CLI waits for more commands until the client is done
	// writing.
	if uc, ok := s.conn.(*net.UnixConn); ok {
		if err := uc.CloseWrite(); err != nil {
			return "", s.ioError(cmd, err)
		}
	}
	return s.read(cmd, false)
}

// read reads one reply: up to the first prompt, which it consumes, or
// without toPrompt up to the end of the connection (the master CLI outside
// interactive mode), at most MaxReply bytes. Its deadline is idle: the
// timeout again after every byte, replySpan timeouts in all.
func (s *session) read(cmd string, toPrompt bool) (string, error) {
	end := time.Now().Add(replySpan * s.timeout)
	searched := 0 // the bytes of buf known to hold no prompt
	for {
		if toPrompt {
			if i := bytes.Index(s.buf.Bytes()[searched:], []byte(prompt)); i >= 0 {
				reply := string(s.buf.Next(searched + i))
				s.buf.Next(len(prompt))
				return reply, nil
			}
			searched = max(0, s.buf.Len()-len(prompt)+1)
		}
		if s.buf.Len() >= MaxReply {
			return "", fmt.Errorf("%w: `%s`: reply larger than %d bytes", ErrBadReply, cmd, MaxReply)
		}
		_ = s.conn.SetReadDeadline(earliest(time.Now().Add(s.timeout), end))
		if err := s.ctx.Err(); err != nil {
			return "", err // the deadline above may have replaced the AfterFunc's
		}
		s.buf.Grow(64 << 10)
		room := min(s.buf.Available(), MaxReply-s.buf.Len())
		n, err := s.conn.Read(s.buf.AvailableBuffer()[:room])
		s.buf.Write(s.buf.AvailableBuffer()[:n])
		switch {
		case err == nil:
		case errors.Is(err, io.EOF) && !toPrompt:
			return string(s.buf.Next(s.buf.Len())), nil
		case errors.Is(err, io.EOF):
			return "", fmt.Errorf("%w: `%s`: the connection closed before the reply ended (%q)", ErrBadReply, cmd, firstLine(s.buf.String()))
		case errors.Is(err, os.ErrDeadlineExceeded) && !time.Now().Before(end):
			return "", fmt.Errorf("%w: the reply to `%s` still not ended after %s (%d bytes)", ErrTimeout, cmd, replySpan*s.timeout, s.buf.Len())
		default:
			return "", s.ioError(cmd, err)
		}
	}
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// ioError classifies a read or write failure on the connection.
func (s *session) ioError(cmd string, err error) error {
	switch {
	case s.ctx.Err() != nil:
		return s.ctx.Err()
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("%w: no reply to `%s` for %s (HAProxy busy, or not a runtime socket)", ErrTimeout, cmd, s.timeout)
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
	return classify(cmd, reply, allowEmpty)
}

// classify is command's verdict on cmd's reply.
func classify(cmd, reply string, allowEmpty bool) (string, error) {
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

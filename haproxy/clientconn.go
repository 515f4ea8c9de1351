package haproxy

import (
	"context"
	"errors"
)

// Conn is one connection to the admin socket, lent by Client.Session: the
// same reads and batch as the Client's, run in order on that connection
// under the ctx given to Session. It is not safe for concurrent use and is
// dead once Session returns.
type Conn interface {
	// States is Client.States on this connection.
	States(backend string) ([]ServerStatus, error)
	// Servers is Client.Servers on this connection.
	Servers(backend string) ([]ServerStatus, error)
	// WithStats is Client.WithStats on this connection.
	WithStats(servers []ServerStatus) ([]ServerStatus, error)
	// Apply is Client.Apply on this connection.
	Apply(changes []Change) []error
}

// errSessionEnded is what a Conn kept past its Session answers.
var errSessionEnded = errors.New("the connection's session has ended")

// Session opens one connection to the socket and runs f on it, then closes
// it. What several calls of the Client would do on a connection each (dial,
// switch to interactive mode, command), a Conn does on one: a caller that
// lists, plans and applies in the path of every change (the agent's sync)
// pays the connection once. An error dialling is returned wrapped, as the
// Client's calls wrap theirs, and f is not called; otherwise Session
// returns what f returns. The switch to interactive mode goes with the
// first call's commands, so a socket that is not HAProxy's fails that call
// (ErrNotHAProxy). A connection failure inside f fails that call and every
// later one of the Conn.
func (c *Client) Session(ctx context.Context, f func(Conn) error) error {
	s, err := c.open(ctx)
	if err != nil {
		return c.wrap("open session", err)
	}
	defer func() {
		s.err = errSessionEnded // for a Conn kept past f
		s.close()
	}()
	bound := *c
	bound.lent = s
	return f(sessionConn{c: &bound, ctx: ctx})
}

// sessionConn is the Conn Session lends: a Client bound to the session.
type sessionConn struct {
	c   *Client
	ctx context.Context
}

func (l sessionConn) States(backend string) ([]ServerStatus, error) {
	return l.c.States(l.ctx, backend)
}

func (l sessionConn) Servers(backend string) ([]ServerStatus, error) {
	return l.c.Servers(l.ctx, backend)
}

func (l sessionConn) WithStats(servers []ServerStatus) ([]ServerStatus, error) {
	return l.c.WithStats(l.ctx, servers)
}

func (l sessionConn) Apply(changes []Change) []error { return l.c.Apply(l.ctx, changes) }

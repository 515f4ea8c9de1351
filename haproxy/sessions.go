package haproxy

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// SessionID identifies a stream in `show sess` ("0x55d0607f6bd0"). It is
// the stream's address, so HAProxy reuses it once the stream is gone.
type SessionID string

var sessionIDPattern = regexp.MustCompile(`^0x[0-9a-fA-F]{1,16}$`)

// Sessions lists the sessions (streams) HAProxy currently has on
// backend/server, from `show sess`.
func (c *Client) Sessions(ctx context.Context, backend, server string) ([]SessionID, error) {
	all, err := c.sessionsOf(ctx, backend, server)
	return sessionIDs(all), err
}

// SessionsByAge lists the sessions of backend/server as Sessions does,
// with their frontend and age, oldest first (ties in `show sess` order).
func (c *Client) SessionsByAge(ctx context.Context, backend, server string) ([]WorkerSession, error) {
	all, err := c.sessionsOf(ctx, backend, server)
	sort.SliceStable(all, func(i, j int) bool { return all[i].Age > all[j].Age })
	return all, err
}

func (c *Client) sessionsOf(ctx context.Context, backend, server string) ([]WorkerSession, error) {
	op := fmt.Sprintf("list sessions of %s/%s", backend, server)
	if err := validPair(backend, server); err != nil {
		return nil, c.wrap(op, err)
	}
	reply, err := c.raw(ctx, "show sess")
	if err != nil {
		return nil, c.wrap(op, err)
	}
	return serverSessions(reply, backend, server), nil
}

// parseSessions picks the ids of the `show sess` lines with be=backend and
// srv=server.
func parseSessions(reply, backend, server string) []SessionID {
	return sessionIDs(serverSessions(reply, backend, server))
}

// serverSessions picks the `show sess` lines with be=backend and
// srv=server.
func serverSessions(reply, backend, server string) []WorkerSession {
	var out []WorkerSession
	for _, s := range sessionLines(reply) {
		if s.Backend == backend && s.Server == server {
			out = append(out, s)
		}
	}
	return out
}

func sessionIDs(all []WorkerSession) []SessionID {
	var ids []SessionID
	for _, s := range all {
		ids = append(ids, s.ID)
	}
	return ids
}

// sessionLines reads the one-line sessions of `show sess`
// ("0x55d0607f6bd0: proto=tcpv4 ... fe=fe be=ws srv=s1 ...").
func sessionLines(reply string) []WorkerSession {
	var out []WorkerSession
	for _, line := range strings.Split(reply, "\n") {
		id, rest, ok := strings.Cut(strings.TrimSpace(line), ": ")
		if !ok || !sessionIDPattern.MatchString(id) {
			continue
		}
		s := WorkerSession{ID: SessionID(id)}
		for _, f := range strings.Fields(rest) {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "fe":
				s.Frontend = v
			case "be":
				s.Backend = v
			case "srv":
				s.Server = v
			case "age":
				s.Age, _ = parseAge(v)
			}
		}
		out = append(out, s)
	}
	return out
}

// parseAge reads HAProxy's human_time, the form of `show sess` age=:
// at most two units of d, h, m, s, largest first ("0s", "42s", "3m5s",
// "2h7m", "1d3h").
func parseAge(s string) (time.Duration, bool) {
	var d time.Duration
	if days, rest, ok := strings.Cut(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return 0, false
		}
		d, s = time.Duration(n)*24*time.Hour, rest
	}
	if s == "" {
		return d, true
	}
	rest, err := time.ParseDuration(s)
	if err != nil || rest < 0 {
		return 0, false
	}
	return d + rest, true
}

var (
	detailBackend = regexp.MustCompile(`(?m)^\s*backend=(\S+)`)
	detailServer  = regexp.MustCompile(`(?m)^\s*server=(\S+)`)
)

// ShutdownSession closes session id, abruptly (the client sees the TCP
// connection end, without a WebSocket close frame), if it still belongs to
// backend/server. Because ids are addresses that HAProxy reuses, the
// session is looked up again right before it is closed; a session that is
// gone or now belongs elsewhere returns ErrNoSuchSession and is left alone.
func (c *Client) ShutdownSession(ctx context.Context, backend, server string, id SessionID) error {
	op := fmt.Sprintf("shutdown session %s of %s/%s", id, backend, server)
	if err := validPair(backend, server); err != nil {
		return c.wrap(op, err)
	}
	if err := validSessionIDs([]SessionID{id}); err != nil {
		return c.wrap(op, err)
	}
	err := c.with(ctx, func(s *session) error {
		closed, err := shutdownOn(s, backend, server, []SessionID{id})
		if err == nil && closed == 0 {
			err = ErrNoSuchSession
		}
		return err
	})
	if err != nil {
		return c.wrap(op, err)
	}
	return nil
}

// MaxSessionBatch bounds the sessions Closer.Shutdown checks and closes in
// one round trip; a larger batch is split.
const MaxSessionBatch = 64

// Closer is one connection to the socket, held for a paced close of the
// sessions of one backend/server: the listing, the closes and the counts
// in between all go over it. A paced drain on a busy host spent most of
// its time opening connections (two round trips each) and counting on two
// more, while no session was closed. A Closer stays with the HAProxy
// process it reached: after a reload it still talks to the old worker, so
// ask Client.Pid, on a connection of its own, whether the socket still
// reaches that process. After an error the connection is out of step:
// close the Closer and open another. A Closer is not safe for concurrent
// use.
type Closer struct {
	c               *Client
	s               *session
	backend, server string
	pid             int64
}

// OpenCloser opens a Closer for backend/server, and asks which process it
// reached (Closer.Pid).
func (c *Client) OpenCloser(ctx context.Context, backend, server string) (*Closer, error) {
	op := fmt.Sprintf("close sessions of %s/%s", backend, server)
	if err := validPair(backend, server); err != nil {
		return nil, c.wrap(op, err)
	}
	s, err := c.open(ctx)
	if err != nil {
		return nil, c.wrap(op, err)
	}
	k := &Closer{c: c, s: s, backend: backend, server: server}
	reply, err := s.command("show info", false)
	if err == nil {
		var info Info
		info, err = parseInfo(reply)
		k.pid = info.Pid
	}
	if err != nil {
		s.close()
		return nil, c.wrap(op, err)
	}
	return k, nil
}

// Pid is the HAProxy process the Closer talks to, for as long as it is
// open.
func (k *Closer) Pid() int64 { return k.pid }

// Close closes the connection.
func (k *Closer) Close() { k.s.close() }

// Sessions is Client.Sessions on the Closer's connection.
func (k *Closer) Sessions() ([]SessionID, error) {
	reply, err := k.s.command("show sess", false)
	if err != nil {
		return nil, k.c.wrap(fmt.Sprintf("list sessions of %s/%s", k.backend, k.server), err)
	}
	return parseSessions(reply, k.backend, k.server), nil
}

// Server is Client.Server on the Closer's connection.
func (k *Closer) Server() (ServerStatus, error) {
	all, err := serversOn(k.s, k.backend, true)
	if err != nil {
		return ServerStatus{}, k.c.wrap("list servers of "+k.backend, err)
	}
	return matchOne(k.c, all, Ref{Backend: k.backend, Server: k.server})
}

// Shutdown closes those of ids that are sessions of the Closer's
// backend/server, each checked as ShutdownSession checks it, and returns
// how many it closed (ids that no longer name a session of backend/server
// are skipped). A batch costs two round trips, whatever its size: the
// checks of all its ids in one write, then the closes of those confirmed
// in another; a close per round trip made a paced drain on a busy host
// miss its slots. Every id is validated before anything is sent.
func (k *Closer) Shutdown(ids []SessionID) (int, error) {
	op := fmt.Sprintf("shutdown sessions of %s/%s", k.backend, k.server)
	if err := validSessionIDs(ids); err != nil {
		return 0, k.c.wrap(op, err)
	}
	closed := 0
	for chunk := range slices.Chunk(ids, MaxSessionBatch) {
		n, err := shutdownOn(k.s, k.backend, k.server, chunk)
		closed += n
		if err != nil {
			return closed, k.c.wrap(op, err)
		}
	}
	return closed, nil
}

// ShutdownSessionsEach closes the sessions next hands out, a batch at a
// time on one Closer, until next returns false, and returns how many it
// closed. next may wait (a paced close waits for its slots): the
// connection stays open meanwhile. For closes that also count between
// batches, or must know the process they reach, hold a Closer instead.
func (c *Client) ShutdownSessionsEach(ctx context.Context, backend, server string, next func() ([]SessionID, bool)) (int, error) {
	ids, ok := next()
	if !ok {
		return 0, nil
	}
	k, err := c.OpenCloser(ctx, backend, server)
	if err != nil {
		return 0, err
	}
	defer k.Close()
	closed := 0
	for ; ok; ids, ok = next() {
		if err := ctx.Err(); err != nil {
			return closed, err
		}
		n, err := k.Shutdown(ids)
		closed += n
		if err != nil {
			return closed, err
		}
	}
	return closed, nil
}

// CloseEach closes ids one call each with one and counts those closed:
// an id that names no session of the server any more (ErrNoSuchSession:
// it left by itself, or its address now names another stream) is skipped,
// any other error stops. It is the close of a Runtime without a Closer.
func CloseEach(ids []SessionID, one func(SessionID) error) (int, error) {
	closed := 0
	for _, id := range ids {
		switch err := one(id); {
		case errors.Is(err, ErrNoSuchSession):
		case err != nil:
			return closed, err
		default:
			closed++
		}
	}
	return closed, nil
}

func validSessionIDs(ids []SessionID) error {
	for _, id := range ids {
		if !sessionIDPattern.MatchString(string(id)) {
			return fmt.Errorf("%w: session id %q", ErrInvalidName, id)
		}
	}
	return nil
}

// shutdownOn closes, on s, those of ids that `show sess` shows on
// backend/server (ids are addresses, which HAProxy reuses), and says how
// many it closed. The checks go in one write and the closes of the ids
// confirmed in the next, so an id is closed only if this connection saw it
// on the server the round trip before.
func shutdownOn(s *session, backend, server string, ids []SessionID) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	shows := make([]string, len(ids))
	for i, id := range ids {
		shows[i] = "show sess " + string(id)
	}
	details, err := s.execAll(shows)
	if err != nil {
		return 0, err
	}
	var shutdowns []string
	for i, detail := range details {
		if _, err := classify(shows[i], detail, false); err != nil {
			return 0, err
		}
		if submatch(detailBackend, detail) == backend && submatch(detailServer, detail) == server {
			shutdowns = append(shutdowns, "shutdown session "+string(ids[i]))
		}
	}
	if len(shutdowns) == 0 {
		return 0, nil
	}
	replies, err := s.execAll(shutdowns)
	if err != nil {
		return 0, err
	}
	closed := 0
	for i, reply := range replies {
		_, err := classify(shutdowns[i], reply, true)
		switch {
		case err == nil:
			closed++
		case strings.Contains(err.Error(), "No such session"):
			// It left between the check and the close.
		default:
			return closed, err
		}
	}
	return closed, nil
}

// ShutdownSessions closes every session of backend/server at once with
// `shutdown sessions server`.
func (c *Client) ShutdownSessions(ctx context.Context, backend, server string) error {
	op := fmt.Sprintf("shutdown sessions of %s/%s", backend, server)
	if err := validPair(backend, server); err != nil {
		return c.wrap(op, err)
	}
	if _, err := c.rawAllowEmpty(ctx, "shutdown sessions server "+backend+"/"+server); err != nil {
		return c.wrap(op, err)
	}
	return nil
}

func submatch(re *regexp.Regexp, s string) string {
	m := re.FindStringSubmatch(s)
	if m == nil {
		return ""
	}
	return m[1]
}

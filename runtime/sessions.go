package runtime

import (
	"context"
	"fmt"
	"regexp"
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
	if !sessionIDPattern.MatchString(string(id)) {
		return c.wrap(op, fmt.Errorf("%w: session id %q", ErrInvalidName, id))
	}
	detail, err := c.raw(ctx, "show sess "+string(id))
	if err != nil {
		return c.wrap(op, err)
	}
	be, srv := submatch(detailBackend, detail), submatch(detailServer, detail)
	if be != backend || srv != server {
		return c.wrap(op, ErrNoSuchSession)
	}
	if _, err := c.rawAllowEmpty(ctx, "shutdown session "+string(id)); err != nil {
		if strings.Contains(err.Error(), "No such session") {
			return c.wrap(op, ErrNoSuchSession)
		}
		return c.wrap(op, err)
	}
	return nil
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

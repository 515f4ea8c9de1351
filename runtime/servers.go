package runtime

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/haproxytech/client-native/v5/models"
)

// ServerStatus is one server as HAProxy sees it at one moment.
type ServerStatus struct {
	Backend string
	Server  string
	// Addr is "address:port" as HAProxy reports it.
	Addr string
	// State is the operational state.
	State OpState
	// Admin is the administrative state the Flags amount to.
	Admin AdminState
	// Flags are the raw srv_admin_state bits.
	Flags AdminFlags
	// Check is the last health check's status (L7OK, L4CON, …); empty when
	// the server has no check.
	Check string
	// Checked reports whether health checks are enabled (they pause
	// while the server is in MAINT).
	Checked bool
	// Scur, Smax and Stot are the current, highest and total sessions.
	Scur, Smax, Stot int64
	// Weight is the effective weight `show stat` reports; UserWeight the
	// weight set in the config or with `set weight` (srv_uweight).
	Weight     int64
	UserWeight int64
}

// Ref returns the server's backend/server reference.
func (s ServerStatus) Ref() Ref { return Ref{Backend: s.Backend, Server: s.Server} }

// Servers returns the servers of backend, or of every backend when backend
// is empty, sorted by backend then server. It merges `show servers state`
// (admin bits, operational state, weights) with `show stat` (sessions,
// check status, address). An unknown backend wraps ErrUnknownBackend.
func (c *Client) Servers(ctx context.Context, backend string) ([]ServerStatus, error) {
	op := "list servers"
	if backend != "" {
		op = "list servers of " + backend
		if err := ValidName(backend); err != nil {
			return nil, c.wrap(op, fmt.Errorf("backend: %w", err))
		}
	}
	states, err := c.serversState(ctx, backend)
	if err != nil {
		return nil, c.wrap(op, err)
	}
	stats, err := c.stats(ctx)
	if err != nil {
		return nil, c.wrap(op, err)
	}
	for i := range states {
		st, ok := stats[states[i].Ref()]
		if !ok || st == nil {
			continue
		}
		mergeStats(&states[i], st)
	}
	sort.Slice(states, func(i, j int) bool {
		if states[i].Backend != states[j].Backend {
			return states[i].Backend < states[j].Backend
		}
		return states[i].Server < states[j].Server
	})
	return states, nil
}

// Server returns one server. An unknown one is an *UnknownServerError that
// lists the servers of the backend.
func (c *Client) Server(ctx context.Context, backend, server string) (ServerStatus, error) {
	if err := validPair(backend, server); err != nil {
		return ServerStatus{}, c.wrap("find server", err)
	}
	all, err := c.Servers(ctx, backend)
	if err != nil {
		return ServerStatus{}, err
	}
	return matchOne(c, all, Ref{Backend: backend, Server: server})
}

// Find returns the server ref names; with no backend in ref it looks in
// every backend. The errors are *UnknownServerError (listing the known
// servers) and *AmbiguousError (listing the candidates).
func (c *Client) Find(ctx context.Context, ref Ref) (ServerStatus, error) {
	if ref.Backend != "" {
		return c.Server(ctx, ref.Backend, ref.Server)
	}
	if err := ValidName(ref.Server); err != nil {
		return ServerStatus{}, c.wrap("find server", fmt.Errorf("server: %w", err))
	}
	all, err := c.Servers(ctx, "")
	if err != nil {
		return ServerStatus{}, err
	}
	return matchOne(c, all, ref)
}

func matchOne(c *Client, all []ServerStatus, ref Ref) (ServerStatus, error) {
	s, err := Match(all, ref)
	if err != nil {
		return ServerStatus{}, c.wrap("find server", err)
	}
	return s, nil
}

// Match picks the server ref names out of servers. It returns an
// *UnknownServerError listing every server when none matches, and an
// *AmbiguousError when ref has no backend and several backends hold the
// server.
func Match(servers []ServerStatus, ref Ref) (ServerStatus, error) {
	var found []ServerStatus
	for _, s := range servers {
		if s.Server == ref.Server && (ref.Backend == "" || s.Backend == ref.Backend) {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		known := make([]string, 0, len(servers))
		for _, s := range servers {
			known = append(known, s.Ref().String())
		}
		sort.Strings(known)
		return ServerStatus{}, &UnknownServerError{Name: ref.String(), Known: known}
	}
	cands := make([]string, 0, len(found))
	for _, s := range found {
		cands = append(cands, s.Ref().String())
	}
	sort.Strings(cands)
	return ServerStatus{}, &AmbiguousError{Name: ref.String(), Candidates: cands}
}

// checkEnabled is HAProxy's CHK_ST_ENABLED bit of srv_check_state.
const checkEnabled = 0x4

// serversState runs `show servers state [backend]` and parses it. This is
// a raw command although client-native has GetServersState: its parser
// decodes srv_admin_state as hex and drops the weights.
func (c *Client) serversState(ctx context.Context, backend string) ([]ServerStatus, error) {
	cmd := "show servers state"
	if backend != "" {
		cmd += " " + backend
	}
	reply, err := c.raw(ctx, cmd)
	if err != nil {
		if backend != "" && errors.Is(err, ErrCommand) && strings.Contains(err.Error(), "find backend") {
			return nil, fmt.Errorf("%w %q", ErrUnknownBackend, backend)
		}
		return nil, err
	}
	return parseServersState(reply)
}

// parseServersState parses format 1 of `show servers state`, finding the
// columns by the header's names.
func parseServersState(reply string) ([]ServerStatus, error) {
	lines := strings.Split(strings.TrimSpace(reply), "\n")
	if strings.TrimSpace(lines[0]) != "1" {
		return nil, fmt.Errorf("%w: show servers state: format %q, want 1", ErrBadReply, firstLine(lines[0]))
	}
	col := map[string]int{}
	var out []ServerStatus
	for _, line := range lines[1:] {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "#") {
			for i, name := range strings.Fields(strings.TrimPrefix(line, "#")) {
				col[name] = i
			}
			continue
		}
		f := strings.Fields(line)
		get := func(name string) (string, error) {
			i, ok := col[name]
			if !ok || i >= len(f) {
				return "", fmt.Errorf("%w: show servers state: no %s column", ErrBadReply, name)
			}
			return f[i], nil
		}
		var s ServerStatus
		vals := map[string]string{}
		for _, name := range []string{"be_name", "srv_name", "srv_addr", "srv_op_state", "srv_admin_state", "srv_uweight", "srv_port", "srv_check_state"} {
			v, err := get(name)
			if err != nil {
				return nil, err
			}
			vals[name] = v
		}
		flags, err := strconv.ParseUint(vals["srv_admin_state"], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%w: srv_admin_state %q", ErrBadReply, vals["srv_admin_state"])
		}
		s.Backend, s.Server = vals["be_name"], vals["srv_name"]
		s.Addr = joinHostPort(vals["srv_addr"], vals["srv_port"])
		s.State = opState(vals["srv_op_state"])
		s.Flags = AdminFlags(flags)
		s.Admin = s.Flags.State()
		s.UserWeight, _ = strconv.ParseInt(vals["srv_uweight"], 10, 64)
		checkState, _ := strconv.ParseUint(vals["srv_check_state"], 10, 32)
		s.Checked = checkState&checkEnabled != 0
		out = append(out, s)
	}
	return out, nil
}

func joinHostPort(addr, port string) string {
	if strings.Contains(addr, ":") {
		return "[" + addr + "]:" + port
	}
	return addr + ":" + port
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 60 {
		s = s[:60] + "…"
	}
	return s
}

// stats runs client-native's typed GetStats (`show stat`) and indexes the
// server rows by backend/server.
func (c *Client) stats(ctx context.Context) (map[Ref]*models.NativeStatStats, error) {
	var coll *models.NativeStatsCollection
	err := c.call(ctx, func() error {
		coll = c.rt.GetStats()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("show stat: %w", err)
	}
	if coll == nil {
		return nil, fmt.Errorf("show stat: %w: no reply", ErrBadReply)
	}
	if coll.Error != "" {
		// client-native hands the error over as a string.
		if strings.Contains(coll.Error, "connect:") {
			return nil, fmt.Errorf("show stat: %w: %s", ErrNoSocket, coll.Error)
		}
		return nil, fmt.Errorf("show stat: %w", typedError(errors.New(coll.Error)))
	}
	out := map[Ref]*models.NativeStatStats{}
	for _, st := range coll.Stats {
		if st == nil || st.Type != "server" {
			continue
		}
		out[Ref{Backend: st.BackendName, Server: st.Name}] = st.Stats
	}
	return out, nil
}

// mergeStats copies what `show stat` knows into s.
func mergeStats(s *ServerStatus, st *models.NativeStatStats) {
	val := func(p *int64) int64 {
		if p == nil {
			return 0
		}
		return *p
	}
	s.Scur, s.Smax, s.Stot = val(st.Scur), val(st.Smax), val(st.Stot)
	s.Weight = val(st.Weight)
	// "* L7OK" while a check is running.
	s.Check = strings.TrimSpace(strings.TrimPrefix(st.CheckStatus, "* "))
	if st.Addr != "" {
		s.Addr = st.Addr
	}
}

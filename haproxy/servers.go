package haproxy

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// ServerStatus is one server as HAProxy sees it at one moment.
type ServerStatus struct {
	Backend string
	Server  string
	// ID is the server's numeric id in its backend (srv_id), by which
	// WithStats reads it alone; 0 when not known.
	ID int64
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
	// Status is `show stat`'s status column, both states in HAProxy's
	// words (UP, DOWN, DRAIN, MAINT, "no check", with the checks' count
	// while they change the state: "UP 1/3", "DRAIN 1/2"); empty where only `show servers state` was read. One server's
	// row is cheap to read (WithStats) where its state alone would cost the
	// whole backend's `show servers state`.
	Status string
}

// Ref returns the server's backend/server reference.
func (s ServerStatus) Ref() Ref { return Ref{Backend: s.Backend, Server: s.Server} }

// Healthy reports whether s is back in rotation as far as its state goes:
// READY (not DRAIN, not MAINT) and up (UP, or STARTING during slowstart;
// not DOWN, not STOPPING). It is what a readmission waits for; the fleet
// asks it of an agent's report, which carries only the two states.
func (s ServerStatus) Healthy() bool {
	return s.Admin == Ready && (s.State == Up || s.State == Starting)
}

// TakesClients reports whether HAProxy would send s new clients: Healthy
// and a weight above zero. Backup servers count: HAProxy uses them once
// the others are out.
func (s ServerStatus) TakesClients() bool {
	return s.Healthy() && s.UserWeight > 0
}

// Servers returns the servers of backend, or of every backend when backend
// is empty, sorted by backend then server. It merges `show servers state`
// (admin bits, operational state, weights) with `show stat` (sessions,
// check status, address). An unknown backend wraps ErrUnknownBackend.
func (c *Client) Servers(ctx context.Context, backend string) ([]ServerStatus, error) {
	return c.servers(ctx, backend, true)
}

// States is Servers without `show stat`: what `show servers state` alone
// tells, with Scur, Smax, Stot, Check and Weight left zero. It is what
// planning runtime changes needs, in the path of every membership change:
// with 1,000 servers `show stat` and its CSV cost about ten times as much
// as `show servers state`.
func (c *Client) States(ctx context.Context, backend string) ([]ServerStatus, error) {
	return c.servers(ctx, backend, false)
}

// servers is Servers, and States without stats.
func (c *Client) servers(ctx context.Context, backend string, withStats bool) ([]ServerStatus, error) {
	op := "list servers"
	if backend != "" {
		op = "list servers of " + backend
		if err := ValidName(backend); err != nil {
			return nil, c.wrap(op, fmt.Errorf("backend: %w", err))
		}
	}
	var states []ServerStatus
	err := c.with(ctx, func(s *session) error {
		var err error
		states, err = serversOn(s, backend, withStats)
		return err
	})
	if err != nil {
		return nil, c.wrap(op, err)
	}
	return states, nil
}

// WithStats completes servers, rows of States, with what `show stat` adds
// (as Servers has them: sessions, check status, effective weight,
// address), reading those servers alone: `show stat <backend> 4 <ID>`
// each, all sent in one write. With 1,000 servers in a backend, a caller
// that needs the sessions of a few (the agent readmitting a server) pays
// for those few instead of Servers' whole listing. A server whose ID no
// longer names it (deleted since it was listed, its ID maybe reused) is an
// *UnknownServerError; a row without an ID too.
func (c *Client) WithStats(ctx context.Context, servers []ServerStatus) ([]ServerStatus, error) {
	out := slices.Clone(servers)
	if len(out) == 0 {
		return out, nil
	}
	cmds := make([]string, len(out))
	for i, s := range out {
		if err := validPair(s.Backend, s.Server); err != nil {
			return nil, c.wrap("read server stats", err)
		}
		if s.ID <= 0 {
			return nil, c.wrap("read server stats", &UnknownServerError{Name: s.Ref().String()})
		}
		cmds[i] = fmt.Sprintf("show stat %s 4 %d", s.Backend, s.ID)
	}
	err := c.with(ctx, func(sess *session) error {
		replies, err := sess.execAll(cmds)
		if err != nil {
			return err
		}
		for i, reply := range replies {
			if reply, err = classify(cmds[i], reply, false); err != nil {
				return err
			}
			stats, err := parseStat(reply)
			if err != nil {
				return err
			}
			st, ok := stats[out[i].Ref()]
			if !ok {
				return &UnknownServerError{Name: out[i].Ref().String()}
			}
			st.mergeInto(&out[i])
		}
		return nil
	})
	if err != nil {
		return nil, c.wrap("read server stats", err)
	}
	return out, nil
}

// serversOn is servers on the session s.
func serversOn(s *session, backend string, withStats bool) ([]ServerStatus, error) {
	states, err := serversState(s, backend)
	if err != nil {
		return nil, err
	}
	if withStats {
		stats, err := showStat(s, backend)
		if err != nil {
			return nil, err
		}
		for i := range states {
			if st, ok := stats[states[i].Ref()]; ok {
				st.mergeInto(&states[i])
			}
		}
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

// serversState runs `show servers state [backend]` on s and parses it.
func serversState(s *session, backend string) ([]ServerStatus, error) {
	return serversStateOf(s, backend, nil)
}

// serversStateOf is serversState parsing only the servers keep wants (all
// with nil).
func serversStateOf(s *session, backend string, keep func(Ref) bool) ([]ServerStatus, error) {
	reply, err := s.exec(stateCommand(backend))
	if err != nil {
		return nil, err
	}
	return stateReply(s, backend, reply, keep)
}

// stateCommand is `show servers state [backend]`.
func stateCommand(backend string) string {
	if backend == "" {
		return "show servers state"
	}
	return "show servers state " + backend
}

// stateReply parses reply, stateCommand(backend)'s, as serversStateOf
// does.
func stateReply(s *session, backend, reply string, keep func(Ref) bool) ([]ServerStatus, error) {
	reply, err := classify(stateCommand(backend), reply, false)
	if err != nil {
		if backend != "" && errors.Is(err, ErrCommand) && strings.Contains(err.Error(), "find backend") {
			return nil, unknownBackend(s, backend)
		}
		return nil, err
	}
	return parseServersState(reply, keep)
}

// unknownBackend is the error for a backend HAProxy does not have, listing
// those it has (`show backend`) when it can read them.
func unknownBackend(s *session, backend string) error {
	e := &UnknownBackendError{Name: backend}
	reply, err := s.command("show backend", true)
	if err != nil {
		return e
	}
	for _, line := range strings.Split(reply, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			e.Known = append(e.Known, line)
		}
	}
	sort.Strings(e.Known)
	return e
}

// parseServersState parses format 1 of `show servers state`, finding the
// columns by the header's names. With keep, it parses only the lines of the
// servers keep wants, the others skipped at the cost of finding two names:
// a batch's read-back wants a handful of servers among maybe thousands.
func parseServersState(reply string, keep func(Ref) bool) ([]ServerStatus, error) {
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
		if keep != nil {
			be, okb := col["be_name"]
			srv, oks := col["srv_name"]
			if okb && oks && !keep(Ref{Backend: nthField(line, be), Server: nthField(line, srv)}) {
				continue
			}
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
		if i, ok := col["srv_id"]; ok && i < len(f) {
			s.ID, _ = strconv.ParseInt(f[i], 10, 64)
		}
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

// nthField returns the n-th (from 0) space-separated field of line, ""
// past the last, without splitting the line.
func nthField(line string, n int) string {
	for i := 0; ; i++ {
		line = strings.TrimLeft(line, " \t")
		end := strings.IndexAny(line, " \t")
		if end < 0 {
			end = len(line)
		}
		if i == n || end == 0 {
			return line[:end]
		}
		line = line[end:]
	}
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

// statRow is what `show stat` adds to `show servers state`.
type statRow struct {
	scur, smax, stot, weight int64
	check, addr, status      string
}

// statColumns are the `show stat` columns wsctl reads, found by the header.
var statColumns = []string{"pxname", "svname", "scur", "smax", "stot", "weight", "check_status", "addr", "status"}

// showStat runs `show stat` for the servers (type 4) of backend, or of
// every backend, on s and indexes the rows by backend/server.
func showStat(s *session, backend string) (map[Ref]statRow, error) {
	scope := "-1"
	if backend != "" {
		scope = backend
	}
	reply, err := s.command("show stat "+scope+" 4 -1", false)
	if err != nil {
		return nil, fmt.Errorf("show stat: %w", err)
	}
	return parseStat(reply)
}

// parseStat parses the CSV of `show stat`, whose header line starts with
// "# ". Columns are found by name, so versions that add some still parse.
func parseStat(reply string) (map[Ref]statRow, error) {
	header, body, _ := strings.Cut(reply, "\n")
	if !strings.HasPrefix(header, "# ") {
		return nil, fmt.Errorf("%w: show stat: no header (%q)", ErrBadReply, firstLine(header))
	}
	col := map[string]int{}
	for i, name := range strings.Split(strings.TrimPrefix(header, "# "), ",") {
		col[name] = i
	}
	for _, name := range statColumns {
		if _, ok := col[name]; !ok {
			return nil, fmt.Errorf("%w: show stat: no %s column", ErrBadReply, name)
		}
	}
	r := csv.NewReader(strings.NewReader(body))
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	out := map[Ref]statRow{}
	for {
		f, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: show stat: %v", ErrBadReply, err)
		}
		if len(f) <= maxColumn(col) {
			return nil, fmt.Errorf("%w: show stat: %d fields in a row, want %d", ErrBadReply, len(f), maxColumn(col)+1)
		}
		if f[col["svname"]] == "BACKEND" || f[col["svname"]] == "FRONTEND" {
			continue
		}
		num := func(name string) int64 {
			n, _ := strconv.ParseInt(f[col[name]], 10, 64)
			return n
		}
		out[Ref{Backend: f[col["pxname"]], Server: f[col["svname"]]}] = statRow{
			scur: num("scur"), smax: num("smax"), stot: num("stot"), weight: num("weight"),
			check: f[col["check_status"]], addr: f[col["addr"]], status: f[col["status"]],
		}
	}
}

// maxColumn returns the highest index among the columns wsctl reads.
func maxColumn(col map[string]int) int {
	m := 0
	for _, name := range statColumns {
		m = max(m, col[name])
	}
	return m
}

// mergeInto copies what `show stat` knows into s.
func (st statRow) mergeInto(s *ServerStatus) {
	s.Scur, s.Smax, s.Stot, s.Weight, s.Status = st.scur, st.smax, st.stot, st.weight, st.status
	// "* L7OK" while a check is running.
	s.Check = strings.TrimSpace(strings.TrimPrefix(st.check, "* "))
	if st.addr != "" {
		s.Addr = st.addr
	}
}

package haproxy

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// ChangeKind says what a Change does.
type ChangeKind string

// The kinds of change Apply makes.
const (
	// ChangeState sets the administrative state to State.
	ChangeState ChangeKind = "state"
	// ChangeHealth forces the health to Health (see SetHealth).
	ChangeHealth ChangeKind = "health"
	// ChangeAddr points the server at Addr:Port; Port 0 keeps the port.
	ChangeAddr ChangeKind = "addr"
	// ChangeWeight sets the weight to Weight (0–256).
	ChangeWeight ChangeKind = "weight"
	// ChangeAdd adds the server at Addr:Port with Options, gives it its
	// dynamic cookie when DynamicCookies is set, enables its
	// checks when Options.Check is set, and sets it in State: READY when
	// State is empty; an added server is in MAINT until then, so one
	// restored in DRAIN or MAINT never takes a client. Options.Cookie
	// needs HAProxy CookieFrom or later (ErrNeedsVersion otherwise).
	ChangeAdd ChangeKind = "add"
	// ChangeDelete deletes the server; HAProxy refuses unless it is in
	// MAINT with no session left.
	ChangeDelete ChangeKind = "delete"
	// ChangeReadmit sets a server READY as Readmit describes, decided from its
	// state and sessions when the commands run, read from its `show stat`
	// row (by ID). Checked says whether it has health checks (as last
	// listed: HAProxy pauses them in MAINT and `show stat` then shows
	// none), State the state the caller last saw.
	//
	// Last seen in DRAIN, or without checks, where READY is all it needs,
	// the row is read in the write that sets it READY: one round trip, in
	// the path of every readmission, where reading first takes two. Found
	// in MAINT after all (checks on, no session), it was READY for that
	// round trip and is taken through DRAIN and a forced health down back
	// to READY; a row that is not the server's (HAProxy renumbered its
	// servers) leaves it READY. Last seen in MAINT with checks, the row is
	// read first and the steps follow from it: from MAINT without sessions
	// a fresh check must pass before clients come (see Readmit).
	ChangeReadmit ChangeKind = "readmit"
)

// Change is one change to one server; the fields its Kind does not use are
// ignored.
type Change struct {
	Kind            ChangeKind
	Backend, Server string
	State           AdminState // ChangeState; ChangeAdd: the state to leave it in (READY when empty); ChangeReadmit: the state last seen
	Health          Health     // ChangeHealth
	// Addr and Port: ChangeAddr and ChangeAdd. An address with an IPv6
	// zone is refused.
	Addr           netip.Addr
	Port           int
	Weight         int           // ChangeWeight
	Options        ServerOptions // ChangeAdd
	DynamicCookies bool          // ChangeAdd: the backend has dynamic cookies (`cookie … dynamic`)
	ID             int64         // ChangeReadmit: the server's ID
	Checked        bool          // ChangeReadmit: the server has health checks
}

// op names the change in errors, e.g. "set ws/s1 state drain".
func (ch Change) op() string {
	ref := ch.Backend + "/" + ch.Server
	switch ch.Kind {
	case ChangeState:
		return fmt.Sprintf("set %s state %s", ref, strings.ToLower(string(ch.State)))
	case ChangeHealth:
		return fmt.Sprintf("set %s health %s", ref, ch.Health)
	case ChangeAddr:
		return fmt.Sprintf("set %s addr %s port %d", ref, ch.Addr, ch.Port)
	case ChangeWeight:
		return fmt.Sprintf("set %s weight %d", ref, ch.Weight)
	case ChangeAdd:
		return "add server " + ref
	case ChangeDelete:
		return "del server " + ref
	case ChangeReadmit:
		return "readmit " + ref
	}
	return fmt.Sprintf("change %q of %s", ch.Kind, ref)
}

// step is one command of a change and what its reply must say. The steps
// of a change go in as few writes as their order allows (one round trip
// each): a step waits for a write of its own when running it after an
// earlier one failed could do harm.
type step struct {
	cmd        string
	allowEmpty bool
	// want, when set, must appear in the reply (`add server` and `del
	// server` answer their refusals without a severity).
	want string
	// waits: sent once every earlier step of its change succeeded (a
	// server set READY at a port it was not moved to, or an operator's
	// server of the name an add was refused for, must not be).
	waits bool
	// follow, when set, reads the reply instead of checking it and
	// returns the steps that come after the step's write, if every step
	// of that write succeeded.
	follow func(reply string) ([]step, error)
	// undo, when set, is sent in a write of its own when the step took
	// though a step before it in its write failed: the step went with
	// them because they cannot fail where the step would do harm after
	// a failure, and undo takes that harm back should they all the same.
	undo string
}

// steps validates ch and builds its commands for the HAProxy behind info.
func (ch Change) steps(info Info) ([]step, error) {
	if err := validPair(ch.Backend, ch.Server); err != nil {
		return nil, err
	}
	srv := ch.Backend + "/" + ch.Server
	set := "set server " + srv + " "
	switch ch.Kind {
	case ChangeState:
		st, err := stateStep(set, ch.State)
		return []step{st}, err
	case ChangeHealth:
		if _, ok := healthOpStates[ch.Health]; !ok {
			return nil, fmt.Errorf("unknown health %q (want up, stopping or down)", ch.Health)
		}
		return []step{{cmd: set + "health " + string(ch.Health), allowEmpty: true}}, nil
	case ChangeAddr:
		if err := validAddr(ch.Addr); err != nil {
			return nil, err
		}
		if ch.Port < 0 || ch.Port > 65535 {
			return nil, fmt.Errorf("%w: port %d", ErrInvalidName, ch.Port)
		}
		cmd := set + "addr " + ch.Addr.String()
		if ch.Port != 0 {
			cmd += " port " + strconv.Itoa(ch.Port)
		}
		return []step{{cmd: cmd, allowEmpty: true}}, nil
	case ChangeWeight:
		if ch.Weight < 0 || ch.Weight > 256 {
			return nil, fmt.Errorf("weight %d out of range 0-256", ch.Weight)
		}
		return []step{{cmd: set + "weight " + strconv.Itoa(ch.Weight), allowEmpty: true}}, nil
	case ChangeAdd:
		port := ch.Port
		// Before 3.0, HAProxy gives a server `add server` made no dynamic
		// cookie; a change of its port computes its own. `enable
		// dynamic-cookie backend` would compute every server's and check
		// each against every other: ~7 ms with 1,000 servers, in the path
		// of every registration. Added servers start in MAINT, so nothing
		// reaches the other port.
		moved := ch.DynamicCookies && !info.AtLeast(dynamicCookieOnAdd[0], dynamicCookieOnAdd[1])
		if moved {
			port = otherPort(port)
		}
		add, err := addServerCommand(ch.Backend, ch.Server, ch.Addr, port, ch.Options)
		if err == nil {
			err = ch.Options.supportedBy(info)
		}
		if err != nil {
			return nil, err
		}
		// Everything after the add waits for it to take (an operator's
		// server of the name must not be touched), then goes in one
		// write, the state with it: once the add took, the port move (an
		// address and port validated above) and `enable health` (of a
		// server added with `check`) fail only when the server is gone,
		// and the state change with them (HAProxy 2.6's and 3.0's
		// sources); should one be refused all the same, the server goes
		// back to MAINT (undo). A refusal HAProxy words as a warning is
		// found by the read-back only, as it was when the state waited.
		// From 2.9 HAProxy moves a port in a task after it answered, so
		// there the state waits for the move's answer (3.0 moves none).
		out := []step{{cmd: add, want: addedReply}}
		if moved {
			out = append(out, step{cmd: set + "addr " + ch.Addr.Unmap().String() + " port " + strconv.Itoa(ch.Port), allowEmpty: true, waits: true})
		}
		if ch.Options.Check {
			out = append(out, step{cmd: "enable health " + srv, allowEmpty: true, waits: len(out) == 1})
		}
		st, err := stateStep(set, ch.addedState())
		if err != nil || ch.addedState() == Maint {
			return out, err // added in MAINT
		}
		st.waits = len(out) == 1 || moved && info.AtLeast(addrInTaskFrom[0], addrInTaskFrom[1])
		st.undo = set + "state maint"
		return append(out, st), nil
	case ChangeDelete:
		return []step{{cmd: "del server " + srv, want: deletedReply}}, nil
	case ChangeReadmit:
		if ch.ID <= 0 {
			return nil, &UnknownServerError{Name: srv}
		}
		read := step{cmd: fmt.Sprintf("show stat %s 4 %d", ch.Backend, ch.ID), follow: func(reply string) ([]step, error) { return readmitFrom(ch, reply) }}
		if !ch.readyWithRead() {
			return []step{read}, nil
		}
		return []step{read, {cmd: set + "state ready", allowEmpty: true}}, nil
	}
	return nil, fmt.Errorf("unknown change kind %q", ch.Kind)
}

// stateStep is `set server … state` to state, after set ("set server B/S ").
func stateStep(set string, state AdminState) (step, error) {
	st, err := ParseAdminState(string(state))
	if err != nil || st != state {
		return step{}, fmt.Errorf("unknown admin state %q (want READY, DRAIN or MAINT)", state)
	}
	return step{cmd: set + "state " + strings.ToLower(string(st)), allowEmpty: true}, nil
}

// readmitFrom returns the steps that finish ch, a ChangeReadmit, from the
// reply of its `show stat` row, read before it was set READY.
func readmitFrom(ch Change, reply string) ([]step, error) {
	reply, err := classify("show stat", reply, false)
	if err != nil {
		return nil, err
	}
	rows, err := parseStat(reply)
	if err != nil {
		return nil, err
	}
	ready := ch.readyWithRead()
	row, ok := rows[Ref{Backend: ch.Backend, Server: ch.Server}]
	switch {
	case !ok && ready:
		return nil, nil // READY already: see ChangeReadmit
	case !ok:
		return nil, &UnknownServerError{Name: ch.Backend + "/" + ch.Server}
	}
	was := ServerStatus{Backend: ch.Backend, Server: ch.Server, Admin: Drain, Checked: ch.Checked, Scur: row.scur}
	if strings.HasPrefix(row.status, "MAINT") {
		was.Admin = Maint
	}
	changes := readmitChanges(was)
	if ready && len(changes) == 1 {
		return nil, nil // READY was all it needed
	}
	var out []step
	for i, c := range changes {
		s, err := c.steps(Info{})
		if err != nil {
			return nil, err
		}
		// READY only once the steps before it took: a server whose
		// health could not be forced down must not take clients.
		s[0].waits = i > 0 && i == len(changes)-1
		out = append(out, s...)
	}
	return out, nil
}

// undo sends, in a write of its own, the undo of each of steps (the rest
// of a write after a step that failed) that took, given their replies.
func undo(s *session, steps []step, replies []string) error {
	var cmds []string
	for j, st := range steps {
		if st.undo == "" {
			continue
		}
		if _, err := st.check(replies[j]); err == nil {
			cmds = append(cmds, st.undo)
		}
	}
	if len(cmds) == 0 {
		return nil
	}
	replies, err := s.execAll(cmds)
	for j := range replies {
		if err == nil {
			_, err = classify(cmds[j], replies[j], true)
		}
	}
	return err
}

// notAdded wraps err, which failed ch at its first step when first is
// set, in ErrNotAdded when that step was an add: nothing was made.
func notAdded(ch Change, first bool, err error) error {
	if first && ch.Kind == ChangeAdd {
		return fmt.Errorf("%w: %w", ErrNotAdded, err)
	}
	return err
}

// readies reports whether ch sets its server READY, which Apply does not do
// after an earlier change of the server in the batch failed.
func (ch Change) readies() bool {
	switch ch.Kind {
	case ChangeState:
		return ch.State == Ready
	case ChangeReadmit:
		return true
	}
	return false
}

// addedState is the state a ChangeAdd leaves its server in.
func (ch Change) addedState() AdminState {
	if ch.State == "" {
		return Ready
	}
	return ch.State
}

// readyWithRead reports whether a ChangeReadmit sets READY in the write
// that reads the server's row: when READY is all it needs from the state
// the caller last saw.
func (ch Change) readyWithRead() bool { return ch.State != Maint || !ch.Checked }

// dynamicCookieOnAdd is the oldest HAProxy (major, minor) whose `add
// server` computes the server's dynamic cookie; addrInTaskFrom the oldest
// whose `set server … addr` applies the change in a task after it
// answered (server_atomic_sync), not before.
var (
	dynamicCookieOnAdd = [2]int{3, 0}
	addrInTaskFrom     = [2]int{2, 9}
)

// otherPort is a valid port other than port (1–65535); an invalid one is
// returned as it is, for addServerCommand to refuse.
func otherPort(port int) int {
	switch {
	case port >= 1 && port < 65535:
		return port + 1
	case port == 65535:
		return port - 1
	}
	return port
}

// The replies of `add server` and `del server` on success.
const (
	addedReply   = "New server registered"
	deletedReply = "Server deleted"
)

// check is st's verdict on its reply: the steps that follow from it
// (follow's), or why it failed.
func (st step) check(reply string) ([]step, error) {
	if st.follow != nil {
		return st.follow(reply)
	}
	reply, err := classify(st.cmd, reply, st.allowEmpty)
	if err != nil {
		return nil, err
	}
	if st.want != "" && !strings.Contains(reply, st.want) {
		return nil, commandError(reply)
	}
	return nil, nil
}

// firstWrite is how many of steps go in the next write: the first and
// those after it that do not wait.
func firstWrite(steps []step) int {
	n := 1
	for n < len(steps) && !steps[n].waits {
		n++
	}
	return n
}

// validAddr refuses an invalid address and one with an IPv6 zone:
// netip.ParseAddr accepts any zone text, line breaks included, and HAProxy
// has no use for one.
func validAddr(addr netip.Addr) error {
	if !addr.IsValid() {
		return fmt.Errorf("%w: no address", ErrInvalidName)
	}
	if addr.Zone() != "" {
		return fmt.Errorf("%w: address %q has an IPv6 zone", ErrInvalidName, addr.String())
	}
	return nil
}

// healthOpStates are the operational states a forced health may leave.
var healthOpStates = map[Health][]OpState{
	HealthUp:       {Up, Starting},
	HealthStopping: {Stopping},
	HealthDown:     {Down},
}

// Apply makes changes over one connection, in order, then reads the servers
// back once (one `show servers state` per backend involved, of which only
// the changed servers are parsed) and checks that each change took. It
// returns one error per change, nil when the change was applied and read
// back as asked. A change's commands go in as few writes as their order
// allows (see step), and the read-back in the batch's last write unless a
// reply in it decides what follows: a state change is one round trip, a
// readmission from DRAIN two (READY after the first), an add two (the add,
// then its port move, checks and state).
//
// A change that is invalid, refused by HAProxy or not read back fails
// alone; the others go on, but for one that would set a server READY after
// an earlier change of that server failed: it is not made (ErrNotMade).
// Failed means refused or invalid: a change HAProxy accepts and does not
// make (an address answered with a mere warning) is found by the read-back,
// after the batch. A connection failure (timeout, ctx, a closed
// socket) fails the changes not yet verified. Each command has the client's
// full timeout. The read-back sees the state after the whole batch, so a
// change is checked only for what no later change of the same server
// overrides (a weight set after an add is the weight checked; the add is
// still checked to exist, at its address).
//
// The errors are those of the single calls (SetState, SetAddr, …): they
// wrap ErrInvalidName, ErrNeedsVersion, ErrCommand, ErrPermission,
// ErrNotApplied, …, and name the socket and the change.
func (c *Client) Apply(ctx context.Context, changes []Change) []error {
	errs := make([]error, len(changes))
	steps := make([][]step, len(changes))
	pending := 0
	for i, ch := range changes {
		if steps[i], errs[i] = ch.steps(c.info); errs[i] == nil {
			pending++
		}
	}
	if pending > 0 {
		if err := c.with(ctx, func(s *session) error { return applyOn(s, changes, steps, errs) }); err != nil {
			for i := range errs {
				if errs[i] == nil {
					errs[i] = err
				}
			}
		}
	}
	for i, err := range errs {
		if err != nil {
			errs[i] = c.wrap(changes[i].op(), err)
		}
	}
	return errs
}

// applyOn runs the steps on s and checks the result, filling errs. An
// error it returns is the session's and holds for every change errs leaves
// nil.
func applyOn(s *session, changes []Change, steps [][]step, errs []error) error {
	// The read-back goes in the last write of the batch when that write
	// ends it: a round trip less. Not after a step whose reply decides
	// what follows (a readmission's row): the steps it adds would wait
	// for the whole backend's state to be written and read.
	var backends []string
	final := -1 // the last change with steps to send
	for i, ch := range changes {
		if errs[i] == nil {
			final = i
			if !slices.Contains(backends, ch.Backend) {
				backends = append(backends, ch.Backend)
			}
		}
	}
	readBack := make([]string, len(backends))
	for k, b := range backends {
		readBack[k] = stateCommand(b)
	}
	var backReplies []string
	failed := map[Ref]bool{} // the servers of the changes that failed so far
	for i := range changes {
		ref := Ref{Backend: changes[i].Backend, Server: changes[i].Server}
		if errs[i] == nil && failed[ref] && changes[i].readies() {
			errs[i] = ErrNotMade
		}
		if errs[i] != nil {
			failed[ref] = true
			continue
		}
		for todo, first := steps[i], true; len(todo) > 0; first = false {
			write := todo[:firstWrite(todo)]
			todo = todo[len(write):]
			cmds := make([]string, len(write), len(write)+len(readBack))
			for j, st := range write {
				cmds[j] = st.cmd
			}
			ends := i == final && len(todo) == 0 && !slices.ContainsFunc(write, func(st step) bool { return st.follow != nil })
			if ends {
				cmds = append(cmds, readBack...)
			}
			replies, err := s.execAll(cmds)
			if err != nil {
				if s.err != nil {
					return err
				}
				errs[i] = notAdded(changes[i], first, err)
				break
			}
			if ends {
				backReplies = replies[len(write):]
			}
			var more []step
			for j, st := range write {
				next, err := st.check(replies[j])
				if err != nil {
					errs[i] = notAdded(changes[i], first && j == 0, err)
					if err := undo(s, write[j+1:], replies[j+1:len(write)]); err != nil {
						if s.err != nil {
							return err
						}
						errs[i] = fmt.Errorf("%w (and undoing what followed: %w)", errs[i], err)
					}
					break
				}
				more = append(more, next...)
			}
			if errs[i] != nil {
				break
			}
			todo = append(more, todo...)
		}
		if errs[i] != nil {
			failed[ref] = true
		}
	}
	// `show servers state` answers for a whole backend (2.6 has no
	// narrower read), but only the changed servers' lines are parsed:
	// with 1,000 servers that is most of the read-back's cost.
	changed := map[Ref]bool{}
	read := map[string]bool{} // the backends of the changes to verify
	for i, ch := range changes {
		if errs[i] == nil {
			changed[Ref{Backend: ch.Backend, Server: ch.Server}] = true
			read[ch.Backend] = true
		}
	}
	if backReplies == nil && len(changed) > 0 {
		var err error
		if backReplies, err = s.execAll(readBack); err != nil {
			return fmt.Errorf("read back: %w", err)
		}
	}
	got := map[Ref]ServerStatus{}
	for k, b := range backends {
		if !read[b] {
			continue
		}
		all, err := stateReply(s, b, backReplies[k], func(r Ref) bool { return changed[r] })
		if err != nil {
			return fmt.Errorf("read back: %w", err)
		}
		for _, srv := range all {
			got[srv.Ref()] = srv
		}
	}
	last := lastSetters(changes, errs)
	for i, ch := range changes {
		if errs[i] == nil {
			errs[i] = verify(i, ch, got, last)
		}
	}
	return nil
}

// attr is a property of a server a change sets.
type attr int

const (
	attrExists attr = iota
	attrAdmin
	attrOp
	attrAddr
	attrWeight
	attrChecked
)

// sets lists the properties a change of kind k decides.
var sets = map[ChangeKind][]attr{
	ChangeState:   {attrAdmin, attrOp},
	ChangeHealth:  {attrOp},
	ChangeAddr:    {attrAddr},
	ChangeWeight:  {attrWeight},
	ChangeAdd:     {attrExists, attrAdmin, attrOp, attrAddr, attrWeight, attrChecked},
	ChangeDelete:  {attrExists, attrAdmin, attrOp, attrAddr, attrWeight, attrChecked},
	ChangeReadmit: {attrAdmin, attrOp},
}

type setter struct {
	ref  Ref
	attr attr
}

// lastSetters maps each property of each server to the index of the last
// accepted change that sets it: the only change the read-back can check it
// for.
func lastSetters(changes []Change, errs []error) map[setter]int {
	last := map[setter]int{}
	for i, ch := range changes {
		if errs[i] != nil {
			continue
		}
		for _, a := range sets[ch.Kind] {
			last[setter{Ref{ch.Backend, ch.Server}, a}] = i
		}
	}
	return last
}

// verify checks change i against the servers read back.
func verify(i int, ch Change, got map[Ref]ServerStatus, last map[setter]int) error {
	ref := Ref{Backend: ch.Backend, Server: ch.Server}
	mine := func(a attr) bool {
		j, ok := last[setter{ref, a}]
		return ok && j == i
	}
	s, exists := got[ref]
	if ch.Kind == ChangeDelete {
		if mine(attrExists) && exists {
			return fmt.Errorf("%w: the server is still there afterwards", ErrNotApplied)
		}
		return nil
	}
	if !exists {
		if j, ok := last[setter{ref, attrExists}]; ok && j > i {
			return nil // deleted later in the batch
		}
		return fmt.Errorf("%w: no server %s afterwards", ErrNotApplied, ref)
	}
	if mine(attrAdmin) {
		want := ch.State
		switch ch.Kind {
		case ChangeAdd:
			want = ch.addedState()
		case ChangeReadmit:
			want = Ready
		}
		if s.Admin != want {
			return fmt.Errorf("%w: the server is %s (%s) afterwards", ErrNotApplied, s.Admin, s.Flags)
		}
	}
	if ch.Kind == ChangeHealth && mine(attrOp) && !slices.Contains(healthOpStates[ch.Health], s.State) {
		return fmt.Errorf("%w: the server is %s afterwards", ErrNotApplied, s.State)
	}
	if mine(attrAddr) {
		ap, err := netip.ParseAddrPort(s.Addr)
		if err != nil || ap.Addr().Unmap() != ch.Addr.Unmap() || ch.Port != 0 && int(ap.Port()) != ch.Port {
			return fmt.Errorf("%w: the address is %s afterwards", ErrNotApplied, s.Addr)
		}
	}
	if mine(attrWeight) {
		want := ch.Weight
		if ch.Kind == ChangeAdd {
			want = ch.Options.Weight
		}
		if (ch.Kind != ChangeAdd || want > 0) && s.UserWeight != int64(want) {
			return fmt.Errorf("%w: the weight is %d afterwards", ErrNotApplied, s.UserWeight)
		}
	}
	if ch.Kind == ChangeAdd && mine(attrChecked) && ch.Options.Check && !s.Checked {
		return fmt.Errorf("%w: health checks are off afterwards", ErrNotApplied)
	}
	return nil
}

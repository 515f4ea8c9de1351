package rebalance

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/internal/pace"
)

// Sockets is the Place of one host's HAProxy admin sockets: every count
// reads them all, every change applies to them all. Make it with
// NewSockets, one per rebalance: its first count records which HAProxy
// process answers on each socket.
type Sockets struct {
	list []Socket
	// pids are the HAProxy processes of the first count, by socket.
	pids []int64
}

var _ Place = (*Sockets)(nil)

// NewSockets returns the Place of sockets.
func NewSockets(sockets []Socket) *Sockets { return &Sockets{list: sockets} }

// Read counts the servers of backend on every socket and sums them into
// loads: a server is eligible when it takes clients on every socket (one
// missing from a socket is not), its weight is the first socket's. cap is
// the backend's server_maxconn (0: none).
func Read(ctx context.Context, sockets []Socket, backend string, cap int64) ([]Load, error) {
	byName := map[string]*Load{}
	seen := map[string]int{}
	var order []string
	for _, s := range sockets {
		all, err := s.Runtime.Servers(ctx, backend)
		if err != nil {
			return nil, err
		}
		for _, st := range all {
			l, ok := byName[st.Server]
			if !ok {
				l = &Load{Server: st.Server, Weight: st.UserWeight, Cap: cap, Eligible: true}
				byName[st.Server] = l
				order = append(order, st.Server)
			}
			l.Sessions += st.Scur
			l.Eligible = l.Eligible && st.TakesClients()
			seen[st.Server]++
		}
	}
	out := make([]Load, 0, len(order))
	for _, name := range order {
		l := *byName[name]
		l.Eligible = l.Eligible && seen[name] == len(sockets)
		out = append(out, l)
	}
	return out, nil
}

// pidsOf asks every socket which process answers.
func pidsOf(ctx context.Context, sockets []Socket) ([]int64, error) {
	out := make([]int64, len(sockets))
	for i, s := range sockets {
		pid, err := s.Runtime.Pid(ctx)
		if err != nil {
			return nil, err
		}
		out[i] = pid
	}
	return out, nil
}

// Count counts the backend's sessions (Read), and fails with ErrReloaded
// when a socket answers from another process than at the first count: the
// count would leave out what the old worker still holds.
func (s *Sockets) Count(ctx context.Context, backend string, cap int64) ([]Load, error) {
	if len(s.list) == 0 {
		return nil, errors.New("rebalance: no admin socket")
	}
	now, err := pidsOf(ctx, s.list)
	if err != nil {
		return nil, err
	}
	if s.pids == nil {
		s.pids = now
	}
	for i, pid := range now {
		if pid != s.pids[i] {
			return nil, fmt.Errorf("rebalance: %s: %w (worker %d → %d): its sessions are out of sight until it exits; run the rebalance again after the hand-over",
				s.list[i].Name, ErrReloaded, s.pids[i], pid)
		}
	}
	return Read(ctx, s.list, backend, cap)
}

// Shed closes at rate with a pacer of its own (ShedAt).
func (s *Sockets) Shed(ctx context.Context, backend string, donors []Share, rate float64, progress func(int64)) (int64, error) {
	var n int64
	return s.ShedAt(ctx, backend, donors, pace.New(rate), func(string) {
		if n++; progress != nil {
			progress(n)
		}
	})
}

// ShedAt is Shed with the closes at the slots of slots: a load balancer's
// part of a fleet-wide schedule (the agent's part in a fleet rebalance),
// or a Pacer. One close per slot, one at a time, whatever the number of
// sockets and donors: the donors' oldest sessions interleaved, so they all
// shed at the same pace. closed, when not nil, is called with the donor of
// every session closed.
func (s *Sockets) ShedAt(ctx context.Context, backend string, donors []Share, slots pace.Slots, closed func(server string)) (int64, error) {
	for _, d := range donors {
		for _, sock := range s.list {
			if err := sock.Runtime.SetState(ctx, backend, d.Server, haproxy.Maint); err != nil {
				return 0, err
			}
		}
	}
	queue, err := s.choose(ctx, backend, donors)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, p := range queue {
		slot, ok := slots.Reserve(time.Now(), farFuture)
		if !ok || !pace.SleepUntil(ctx, slot) {
			return n, cmp.Or(ctx.Err(), errNoSlot)
		}
		err := s.list[p.socket].Runtime.ShutdownSession(ctx, backend, p.server, p.session)
		switch {
		case errors.Is(err, haproxy.ErrNoSuchSession):
			// It left by itself: one fewer to move.
		case err != nil:
			return n, err
		default:
			n++
			if closed != nil {
				closed(p.server)
			}
		}
	}
	return n, nil
}

// errNoSlot ends closes whose schedule gives their part no slot (a part
// of size zero: nothing to close, or a part too small to be served).
var errNoSlot = errors.New("rebalance: no slot to close at in this part of the schedule")

// farFuture is a limit no slot reaches: a rebalance waits for each slot,
// bounded by its context.
var farFuture = time.Now().Add(100 * 365 * 24 * time.Hour)

// pick is one session to close.
type pick struct {
	socket  int
	server  string
	session haproxy.SessionID
}

// choose lists the sessions to close: each donor's oldest across every
// socket, Moves of them, interleaved donor by donor so they all shed at
// the same pace.
func (s *Sockets) choose(ctx context.Context, backend string, donors []Share) ([]pick, error) {
	lists := make([][]pick, len(donors))
	for i, d := range donors {
		type aged struct {
			pick
			age time.Duration
		}
		var all []aged
		for si, sock := range s.list {
			sess, err := sock.Runtime.SessionsByAge(ctx, backend, d.Server)
			if err != nil {
				return nil, err
			}
			for _, x := range sess {
				all = append(all, aged{pick{socket: si, server: d.Server, session: x.ID}, x.Age})
			}
		}
		sort.SliceStable(all, func(a, b int) bool { return all[a].age > all[b].age })
		for _, a := range all[:min(int64(len(all)), max(0, d.Moves))] {
			lists[i] = append(lists[i], a.pick)
		}
	}
	var queue []pick
	for k := 0; ; k++ {
		added := false
		for _, l := range lists {
			if k < len(l) {
				queue = append(queue, l[k])
				added = true
			}
		}
		if !added {
			return queue, nil
		}
	}
}

// Readmit sets each server READY on every socket; a server any socket
// refused is left out of the result and named in the error.
func (s *Sockets) Readmit(ctx context.Context, backend string, servers []string) ([]string, error) {
	var done []string
	var errs []error
	for _, server := range servers {
		ok := true
		for _, sock := range s.list {
			if err := sock.Runtime.Readmit(ctx, backend, server); err != nil {
				errs = append(errs, err)
				ok = false
			}
		}
		if ok {
			done = append(done, server)
		}
	}
	return done, errors.Join(errs...)
}

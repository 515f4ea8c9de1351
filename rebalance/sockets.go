package rebalance

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
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
func (s *Sockets) Shed(ctx context.Context, backend string, held []Share, rate float64, progress func(int64)) (int64, error) {
	var n int64
	return s.ShedAt(ctx, backend, held, pace.New(rate), func(_ string, closed int64) {
		if n += closed; progress != nil {
			progress(n)
		}
	})
}

// ShedAt is Shed with the closes at the slots of slots: a load balancer's
// part of a fleet-wide schedule (the agent's part in a fleet rebalance),
// or a Pacer. Each server's oldest sessions across every socket are
// closed, one per slot, over one connection per socket and server kept
// while they shed (haproxy.Client.ShutdownSessionsEach: the slots that
// came while a batch was closed go into the next batch, so a slow answer
// costs round trips, not slots); the servers take the slots in turn, so
// they all shed at the same pace, and one batch is closed at a time. closed, when not nil, is called one call
// at a time with a server and the closes done on it since the last call:
// the sessions handed out as each batch is done, and at the end the
// correction for those that had left by themselves (negative, or zero).
func (s *Sockets) ShedAt(ctx context.Context, backend string, held []Share, slots pace.Slots, closed func(server string, n int64)) (int64, error) {
	for _, d := range held {
		for _, sock := range s.list {
			if err := sock.Runtime.SetState(ctx, backend, d.Server, haproxy.Maint); err != nil {
				return 0, err
			}
		}
	}
	parts, err := s.choose(ctx, backend, held)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		total int64
		first error // the others stopped because of it
		wg    sync.WaitGroup
		// turn is held by the part that waits for a slot and closes its
		// batch: one at a time, whatever the number of sockets and
		// servers, as a single closer would (parts that each waited for
		// their own slot closed side by side: the fleet test's peak rose
		// from 24 to 27 per 100 ms at 200/s on a loaded host).
		turn sync.Mutex
	)
	report := func(server string, n int64) {
		mu.Lock()
		defer mu.Unlock()
		total += n
		if closed != nil && n != 0 {
			closed(server, n)
		}
	}
	for _, p := range parts {
		wg.Go(func() {
			if err := s.shedPart(ctx, backend, p, slots, &turn, report); err != nil {
				mu.Lock()
				first = cmp.Or(first, err)
				mu.Unlock()
				cancel() // the others stop too: the round failed
			}
		})
	}
	wg.Wait()
	return total, first
}

// shedPart closes p's sessions, oldest first, one per slot of slots, over
// one connection: it holds turn from the wait for a slot until its batch
// is closed. report is told of the closes as they are done.
func (s *Sockets) shedPart(ctx context.Context, backend string, p part, slots pace.Slots, turn *sync.Mutex, report func(string, int64)) error {
	var (
		handed  int64 // sessions handed out and reported as closed
		pending []haproxy.SessionID
		stop    error
		holding bool // turn is this part's: its batch is under way
	)
	release := func() {
		if holding {
			turn.Unlock()
			holding = false
		}
	}
	defer release()
	ids := p.sessions
	next := func() ([]haproxy.SessionID, bool) {
		// The batch handed out last is done.
		release()
		report(p.server, int64(len(pending)))
		handed += int64(len(pending))
		pending = nil
		if stop = ctx.Err(); stop != nil || len(ids) == 0 {
			return nil, false
		}
		turn.Lock()
		holding = true
		slot, ok := slots.Reserve(time.Now(), farFuture)
		if !ok || !pace.SleepUntil(ctx, slot) {
			stop = cmp.Or(ctx.Err(), errNoSlot)
			return nil, false
		}
		n := 1
		for now := time.Now(); n < len(ids); n++ {
			if _, ok := slots.Reserve(now, now); !ok {
				break
			}
		}
		pending, ids = ids[:n:n], ids[n:]
		return pending, true
	}
	done, err := s.list[p.socket].Runtime.ShutdownSessionsEach(ctx, backend, p.server, next)
	// done counts what was closed of every batch, the one a failure cut
	// short included (not reported yet), less what had left by itself.
	report(p.server, int64(done)-handed)
	return cmp.Or(stop, err)
}

// errNoSlot ends closes whose schedule gives their part no slot (a part
// of size zero: nothing to close, or a part too small to be served).
var errNoSlot = errors.New("rebalance: no slot to close at in this part of the schedule")

// farFuture is a limit no slot reaches: a rebalance waits for each slot,
// bounded by its context.
var farFuture = time.Now().Add(100 * 365 * 24 * time.Hour)

// part is one socket's sessions of one server to close, oldest first.
type part struct {
	socket   int
	server   string
	sessions []haproxy.SessionID
}

// choose lists the sessions to close: each server's Moves oldest across
// every socket, split by socket.
func (s *Sockets) choose(ctx context.Context, backend string, held []Share) ([]part, error) {
	var out []part
	for _, d := range held {
		if d.Moves <= 0 {
			continue
		}
		type aged struct {
			socket int
			id     haproxy.SessionID
			age    time.Duration
		}
		var all []aged
		for si, sock := range s.list {
			sess, err := sock.Runtime.SessionsByAge(ctx, backend, d.Server)
			if err != nil {
				return nil, err
			}
			for _, x := range sess {
				all = append(all, aged{si, x.ID, x.Age})
			}
		}
		sort.SliceStable(all, func(a, b int) bool { return all[a].age > all[b].age })
		bySocket := make([][]haproxy.SessionID, len(s.list))
		for _, a := range all[:min(int64(len(all)), d.Moves)] {
			bySocket[a.socket] = append(bySocket[a.socket], a.id)
		}
		for si, ids := range bySocket {
			if len(ids) > 0 {
				out = append(out, part{socket: si, server: d.Server, sessions: ids})
			}
		}
	}
	return out, nil
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

package rebalance

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
)

// DefaultTolerance is how far from its target a server may be, as a
// fraction of the target, and still count as balanced.
const DefaultTolerance = 0.10

var (
	// ErrNoServer refuses a rebalance of a backend where no server takes
	// clients: there is nowhere to move anyone.
	ErrNoServer = errors.New("no server of the backend takes clients")
	// ErrNothingBelow refuses a rebalance where no server that takes
	// clients is below its target: the clients closed would land on
	// servers already full (every server capped, say).
	ErrNothingBelow = errors.New("no server that takes clients is below its target")
)

// Load is one server of the backend as the rebalance sees it, summed over
// every socket.
type Load struct {
	Server string
	// Sessions are its current sessions on all sockets together.
	Sessions int64
	// Weight is its srv_uweight (0–256).
	Weight int64
	// Cap is the most sessions it may hold (the backend's server_maxconn);
	// 0 means no cap.
	Cap int64
	// Eligible says it takes new clients on every socket
	// (haproxy.ServerStatus.TakesClients): only those share the sessions,
	// receive clients and give some up. The others (DRAIN, MAINT, DOWN,
	// weight 0) keep theirs: emptying them is a drain's business.
	Eligible bool
}

// Share is one server in a Plan.
type Share struct {
	Load
	// Target is the sessions it should hold; 0 for a server not eligible.
	Target int64
	// Moves are the sessions to close on it: max(0, Sessions − Target)
	// for an eligible server, else 0.
	Moves int64
	// Within says |Sessions − Target| ≤ max(1, tolerance × Target); always
	// true for a server not eligible.
	Within bool
}

// Plan is the split of a backend's sessions among its eligible servers.
type Plan struct {
	// Servers are sorted by name.
	Servers []Share
	// Total is the sessions on the eligible servers; Moves the fewest
	// closes that reach every target (Σ Moves of the servers).
	Total, Moves int64
	Tolerance    float64
}

// Compute splits the sessions of the eligible loads among them by weight:
// each server's target is total × weight / Σ weights, except that a server
// whose share would pass its cap gets its cap and the rest is split among
// the others the same way (water-filling). Targets are whole sessions
// that add up to the total (largest remainders first, ties by name) unless
// the caps cannot hold it. tolerance ≤ 0 means DefaultTolerance. Compute
// is pure: the same loads give the same plan.
func Compute(loads []Load, tolerance float64) Plan {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	p := Plan{Tolerance: tolerance}
	for _, l := range loads {
		p.Servers = append(p.Servers, Share{Load: l})
		if l.Eligible {
			p.Total += l.Sessions
		}
	}
	sort.Slice(p.Servers, func(i, j int) bool { return p.Servers[i].Server < p.Servers[j].Server })

	var active []int // eligible servers not held at their cap
	for i, s := range p.Servers {
		if s.Eligible && s.Weight > 0 {
			active = append(active, i)
		}
	}
	left := p.Total
	share := map[int]float64{}
	for len(active) > 0 {
		var weights int64
		for _, i := range active {
			weights += p.Servers[i].Weight
		}
		var capped, free []int
		for _, i := range active {
			s := p.Servers[i]
			share[i] = float64(left) * float64(s.Weight) / float64(weights)
			if s.Cap > 0 && share[i] >= float64(s.Cap) {
				capped = append(capped, i)
			} else {
				free = append(free, i)
			}
		}
		if len(capped) == 0 {
			break
		}
		for _, i := range capped {
			p.Servers[i].Target = p.Servers[i].Cap
			left -= p.Servers[i].Cap
			delete(share, i)
		}
		active = free
	}
	roundShares(p.Servers, active, share, left)

	for i := range p.Servers {
		s := &p.Servers[i]
		if !s.Eligible {
			s.Within = true
			continue
		}
		s.Moves = max(0, s.Sessions-s.Target)
		p.Moves += s.Moves
		diff := math.Abs(float64(s.Sessions - s.Target))
		s.Within = diff <= max(1, tolerance*float64(s.Target))
	}
	return p
}

// roundShares gives the servers of active whole targets from their
// fractional shares, adding up to left: each its floor, then one more to
// the largest remainders (a share below its cap has a ceiling within it).
func roundShares(servers []Share, active []int, share map[int]float64, left int64) {
	if len(active) == 0 {
		return
	}
	var given int64
	for _, i := range active {
		servers[i].Target = int64(math.Floor(share[i]))
		given += servers[i].Target
	}
	order := append([]int(nil), active...)
	// active is in name order, so a stable sort breaks ties by name.
	sort.SliceStable(order, func(a, b int) bool {
		fa, fb := share[order[a]]-math.Floor(share[order[a]]), share[order[b]]-math.Floor(share[order[b]])
		return fa > fb
	})
	for k := 0; given < left && k < len(order); k++ {
		servers[order[k]].Target++
		given++
	}
}

// Balanced says every eligible server is within the tolerance of its
// target.
func (p Plan) Balanced() bool {
	for _, s := range p.Servers {
		if !s.Within {
			return false
		}
	}
	return true
}

// Refused says why the plan cannot be carried out, or nil: ErrNoServer
// when no server takes clients, ErrNothingBelow when the plan is not
// balanced yet no eligible server is below its target. Each error lists
// the servers.
func (p Plan) Refused() error {
	eligible, below := false, false
	for _, s := range p.Servers {
		eligible = eligible || s.Eligible
		below = below || s.Eligible && s.Sessions < s.Target
	}
	switch {
	case !eligible:
		return fmt.Errorf("rebalance: %w (%s)", ErrNoServer, p.describe())
	case !below && !p.Balanced():
		return fmt.Errorf("rebalance: %w (%s)", ErrNothingBelow, p.describe())
	}
	return nil
}

// describe lists the servers with their sessions and targets, for errors.
func (p Plan) describe() string {
	if len(p.Servers) == 0 {
		return "the backend has no server"
	}
	var parts []string
	for _, s := range p.Servers {
		if s.Eligible {
			parts = append(parts, fmt.Sprintf("%s %d sessions, target %d", s.Server, s.Sessions, s.Target))
		} else {
			parts = append(parts, fmt.Sprintf("%s %d sessions, takes no clients", s.Server, s.Sessions))
		}
	}
	return strings.Join(parts, "; ")
}

// Donors are the servers with sessions to close, in name order.
func (p Plan) Donors() []Share {
	var out []Share
	for _, s := range p.Servers {
		if s.Moves > 0 {
			out = append(out, s)
		}
	}
	return out
}

// Split shares moves closes of one server among the places (load
// balancers) that hold its sessions, in proportion to the sessions each
// holds there: each its floor, then one more to the largest remainders
// (ties by name), none more than it holds. A fleet's load balancers each
// close their part of a donor's excess this way.
func Split(moves int64, sessions map[string]int64) map[string]int64 {
	out := map[string]int64{}
	var total int64
	names := make([]string, 0, len(sessions))
	for name, n := range sessions {
		out[name] = 0
		if n > 0 {
			total += n
			names = append(names, name)
		}
	}
	moves = min(moves, total)
	if moves <= 0 {
		return out
	}
	sort.Strings(names)
	frac := map[string]float64{}
	var given int64
	for _, name := range names {
		share := float64(moves) * float64(sessions[name]) / float64(total)
		out[name] = min(int64(math.Floor(share)), sessions[name])
		frac[name] = share - math.Floor(share)
		given += out[name]
	}
	sort.SliceStable(names, func(a, b int) bool { return frac[names[a]] > frac[names[b]] })
	for k := 0; given < moves; k = (k + 1) % len(names) {
		if name := names[k]; out[name] < sessions[name] {
			out[name]++
			given++
		}
	}
	return out
}

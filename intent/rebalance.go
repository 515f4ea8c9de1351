package intent

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/wsctl/wsctl/drain"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/internal/pace"
)

// Rebalance is an operator's rebalance of one backend across a fleet
// (`wsctl rebalance --fleet`), one key per backend. While it stands every
// agent reports the sessions of each server of the backend it has; a
// round with Moves asks each agent to set every donor (a server of Moves)
// to MAINT and close Moves[donor][agent] of its oldest sessions there, on
// the slots of its part of one fleet-wide schedule; Readmit asks it to set
// the round's donors READY again. The agents readmit their donors when the
// key goes, and at Until whatever the operator does: one killed half-way
// leaves no server in MAINT for good.
type Rebalance struct {
	// ID names the rebalance: the agents' reports carry it.
	ID      string    `json:"id"`
	Backend string    `json:"backend"`
	Since   time.Time `json:"since"`
	Until   time.Time `json:"until"`
	Who     string    `json:"who,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	// Round counts the rounds of moves asked so far (0: count only).
	Round int `json:"round,omitempty"`
	// CloseRate is the round's closes per second, fleet-wide, from
	// Start on (pace.Schedule).
	CloseRate float64   `json:"close_rate,omitempty"`
	Start     time.Time `json:"start,omitempty"`
	// Moves are, by donor then agent, the sessions each agent closes.
	Moves map[string]map[string]int64 `json:"moves,omitempty"`
	// Readmit asks for the round's donors READY again.
	Readmit bool `json:"readmit,omitempty"`
}

// Bounds of a Rebalance: anyone who may write the KV may write one, so
// every field is bounded before an agent acts on it.
const (
	MaxRebalanceRounds = 100
	MaxRebalanceDonors = 1000
	MaxRebalanceAgents = 1000
	MaxRebalanceMoves  = 1 << 20 // per donor and agent: far above a HAProxy's sessions
)

// Validate checks a rebalance as Intent.Validate checks an intent.
func (r Rebalance) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: rebalance %s: %s", ErrInvalid, r.ID, fmt.Sprintf(format, a...))
	}
	if err := haproxy.ValidName(r.ID); err != nil {
		return fmt.Errorf("%w: rebalance id: %v", ErrInvalid, err)
	}
	if err := haproxy.ValidName(r.Backend); err != nil {
		return bad("backend: %v", err)
	}
	switch {
	case r.Since.IsZero() || !r.Until.After(r.Since) || r.Until.Sub(r.Since) > drain.MaxDuration:
		return bad("until %s: want after since %s, within %s", r.Until, r.Since, drain.MaxDuration)
	case r.Round < 0 || r.Round > MaxRebalanceRounds:
		return bad("round %d: want 0 to %d", r.Round, MaxRebalanceRounds)
	case len(r.Moves) > MaxRebalanceDonors:
		return bad("%d donors: at most %d", len(r.Moves), MaxRebalanceDonors)
	case len(r.Moves) == 0:
		return nil
	case math.IsNaN(r.CloseRate) || r.CloseRate < drain.MinRate || r.CloseRate > drain.MaxRate:
		return bad("close_rate %g: want %g to %g", r.CloseRate, float64(drain.MinRate), float64(drain.MaxRate))
	case r.Start.Before(r.Since) || r.Start.After(r.Until):
		return bad("start %s: want within since and until", r.Start)
	}
	for server, agents := range r.Moves {
		if err := haproxy.ValidName(server); err != nil {
			return bad("donor: %v", err)
		}
		if len(agents) > MaxRebalanceAgents {
			return bad("donor %s: %d agents, at most %d", server, len(agents), MaxRebalanceAgents)
		}
		for agent, n := range agents {
			if err := haproxy.ValidName(agent); err != nil {
				return bad("donor %s: agent: %v", server, err)
			}
			if n < 0 || n > MaxRebalanceMoves {
				return bad("donor %s: agent %s: %d moves, want 0 to %d", server, agent, n, MaxRebalanceMoves)
			}
		}
	}
	return nil
}

// Part is agent's part of the round's fleet-wide close schedule: the
// agents of Moves in the order of their ids, each with a part of [0, 1)
// as large as its share of the round's closes. Every agent computes the
// same parts from the same key, so together they close at CloseRate
// however many they are; an agent with nothing to close has none.
func (r Rebalance) Part(agent string) pace.Part {
	mine := map[string]int64{}
	var total int64
	for _, agents := range r.Moves {
		for a, n := range agents {
			mine[a] += n
			total += n
		}
	}
	if total == 0 || mine[agent] == 0 {
		return pace.Part{}
	}
	lo := 0.0
	for _, a := range slices.Sorted(maps.Keys(mine)) {
		size := float64(mine[a]) / float64(total)
		if a == agent {
			return pace.Part{Lo: lo, Hi: min(lo+size, 1)}
		}
		lo += size
	}
	return pace.Part{}
}

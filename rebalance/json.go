package rebalance

import "time"

// StepJSON is a step of `wsctl rebalance -o json`; it and Summary are a
// documented contract (docs/operations.md), so fields are only ever
// added.
type StepJSON struct {
	Type     string       `json:"type"`
	Backend  string       `json:"backend"`
	Step     string       `json:"step"`
	Round    int          `json:"round"`
	Sessions int64        `json:"sessions"`
	Moves    int64        `json:"moves"`
	Closed   int64        `json:"closed"`
	Elapsed  float64      `json:"elapsed_s"`
	Servers  []ServerJSON `json:"servers"`
}

// ServerJSON is one server of a plan.
type ServerJSON struct {
	Server   string `json:"server"`
	Sessions int64  `json:"sessions"`
	Weight   int64  `json:"weight"`
	Target   int64  `json:"target"`
	Moves    int64  `json:"moves"`
	Within   bool   `json:"within"`
	Eligible bool   `json:"eligible"`
}

// Summary is the last line of `wsctl rebalance -o json`.
type Summary struct {
	Type    string       `json:"type"`
	Backend string       `json:"backend"`
	Result  string       `json:"result"`
	Rounds  int          `json:"rounds"`
	Minimum int64        `json:"minimum"`
	Closed  int64        `json:"closed"`
	Elapsed float64      `json:"elapsed_s"`
	Before  []ServerJSON `json:"before"`
	After   []ServerJSON `json:"after"`
	Error   string       `json:"error,omitempty"`
}

// JSON is the step's line for backend.
func (s Step) JSON(backend string) StepJSON {
	sessions := s.Plan.Total
	if s.Kind == Settled {
		sessions = s.Sessions
	}
	return StepJSON{Type: "step", Backend: backend, Step: string(s.Kind), Round: s.Round, Sessions: sessions,
		Moves: s.Plan.Moves, Closed: s.Closed, Elapsed: seconds(s.Elapsed), Servers: s.Plan.JSON()}
}

// Summary is the result's last line for backend; err is Run's error (a
// refusal) when there is one, else the result's.
func (r Result) Summary(backend string, err error) Summary {
	if err == nil {
		err = r.Err
	}
	sum := Summary{Type: "rebalance", Backend: backend, Result: string(r.Outcome), Rounds: r.Rounds, Minimum: r.Before.Moves,
		Closed: r.Closed, Elapsed: seconds(r.Elapsed), Before: r.Before.JSON(), After: r.After.JSON()}
	if err != nil {
		sum.Error = err.Error()
	}
	return sum
}

// JSON lists the plan's servers ([] for none).
func (p Plan) JSON() []ServerJSON {
	out := []ServerJSON{}
	for _, s := range p.Servers {
		out = append(out, ServerJSON{Server: s.Server, Sessions: s.Sessions, Weight: s.Weight, Target: s.Target,
			Moves: s.Moves, Within: s.Within, Eligible: s.Eligible})
	}
	return out
}

// seconds is d in seconds, to the millisecond.
func seconds(d time.Duration) float64 {
	return float64(d.Round(time.Millisecond).Milliseconds()) / 1000
}

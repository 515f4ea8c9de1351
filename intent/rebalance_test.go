package intent

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/wsctl/wsctl/internal/pace"
)

func validRebalance() Rebalance {
	since := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	return Rebalance{ID: "20261207T080000-abcd", Backend: "ws", Since: since, Until: since.Add(time.Hour), Round: 1,
		CloseRate: 100, Start: since.Add(time.Second), Moves: map[string]map[string]int64{"s1": {"lb1": 30, "lb2": 10}, "s2": {"lb1": 0, "lb2": 20}}}
}

// TestRebalanceValidate: a rebalance key is anyone's who may write the KV;
// every field is bounded before an agent acts on it.
func TestRebalanceValidate(t *testing.T) {
	if err := validRebalance().Validate(); err != nil {
		t.Fatalf("valid: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(r *Rebalance)
		want string
	}{
		{name: "id", edit: func(r *Rebalance) { r.ID = "a\nb" }, want: "rebalance id"},
		{name: "backend", edit: func(r *Rebalance) { r.Backend = "" }, want: "backend"},
		{name: "no since", edit: func(r *Rebalance) { r.Since = time.Time{} }, want: "until"},
		{name: "until before since", edit: func(r *Rebalance) { r.Until = r.Since }, want: "until"},
		{name: "until far", edit: func(r *Rebalance) { r.Until = r.Since.AddDate(1, 0, 0) }, want: "until"},
		{name: "round", edit: func(r *Rebalance) { r.Round = -1 }, want: "round"},
		{name: "rate", edit: func(r *Rebalance) { r.CloseRate = 0 }, want: "close_rate"},
		{name: "rate NaN", edit: func(r *Rebalance) { r.CloseRate = math.NaN() }, want: "close_rate"},
		{name: "start", edit: func(r *Rebalance) { r.Start = r.Until.Add(time.Second) }, want: "start"},
		{name: "donor", edit: func(r *Rebalance) { r.Moves["s;1"] = map[string]int64{"lb1": 1} }, want: "donor"},
		{name: "agent", edit: func(r *Rebalance) { r.Moves["s1"]["lb 3"] = 1 }, want: "agent"},
		{name: "moves", edit: func(r *Rebalance) { r.Moves["s1"]["lb1"] = MaxRebalanceMoves + 1 }, want: "moves"},
		{name: "negative moves", edit: func(r *Rebalance) { r.Moves["s1"]["lb1"] = -1 }, want: "moves"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := validRebalance()
			tc.edit(&r)
			err := r.Validate()
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate = %v, want ErrInvalid about %s", err, tc.want)
			}
		})
	}
	counting := validRebalance()
	counting.Round, counting.Moves, counting.CloseRate, counting.Start = 0, nil, 0, time.Time{}
	if err := counting.Validate(); err != nil {
		t.Errorf("a count without moves: %v", err)
	}
}

// TestRebalancePart: the agents' parts follow their share of the round's
// closes, in id order, and do not overlap; one with nothing to close has
// none.
func TestRebalancePart(t *testing.T) {
	r := validRebalance()
	lb1, lb2 := r.Part("lb1"), r.Part("lb2")
	if lb1 != (pace.Part{Lo: 0, Hi: 0.5}) || lb2 != (pace.Part{Lo: 0.5, Hi: 1}) {
		t.Errorf("parts %v and %v, want [0, 0.5) and [0.5, 1)", lb1, lb2)
	}
	if p := r.Part("lb3"); p != (pace.Part{}) {
		t.Errorf("lb3 has nothing to close but a part %v", p)
	}
}

package rebalance

import (
	"errors"
	"maps"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// up is an eligible server.
func up(name string, sessions, weight int64) Load {
	return Load{Server: name, Sessions: sessions, Weight: weight, Eligible: true}
}

func TestCompute(t *testing.T) {
	capped := func(l Load, c int64) Load { l.Cap = c; return l }
	out := func(l Load) Load { l.Eligible = false; return l }
	tests := []struct {
		name        string
		loads       []Load
		tolerance   float64
		wantTargets map[string]int64
		wantMoves   int64
		balanced    bool
		refused     error
	}{
		{
			name:        "after a rollout: the last server empty",
			loads:       []Load{up("s1", 300, 100), up("s2", 300, 100), up("s3", 0, 100)},
			wantTargets: map[string]int64{"s1": 200, "s2": 200, "s3": 200},
			wantMoves:   200,
		},
		{
			name:        "weight 200 gets twice the share",
			loads:       []Load{up("s1", 400, 200), up("s2", 0, 100), up("s3", 0, 100)},
			wantTargets: map[string]int64{"s1": 200, "s2": 100, "s3": 100},
			wantMoves:   200,
		},
		{
			name:        "a cap binds, the rest is split among the others",
			loads:       []Load{capped(up("s1", 0, 100), 100), capped(up("s2", 450, 100), 1000), capped(up("s3", 450, 100), 1000)},
			wantTargets: map[string]int64{"s1": 100, "s2": 400, "s3": 400},
			wantMoves:   100,
		},
		{
			name:        "every server capped and full: nothing below",
			loads:       []Load{capped(up("s1", 100, 100), 100), capped(up("s2", 100, 100), 100), capped(up("s3", 0, 0), 100)},
			wantTargets: map[string]int64{"s1": 100, "s2": 100, "s3": 0},
			balanced:    true,
		},
		{
			name:        "weight 0 and DRAIN/MAINT servers are neither targets nor donors",
			loads:       []Load{up("s1", 90, 100), up("s2", 30, 100), out(up("s3", 500, 100)), out(up("s4", 0, 0))},
			wantTargets: map[string]int64{"s1": 60, "s2": 60, "s3": 0, "s4": 0},
			wantMoves:   30,
		},
		{
			name:        "within the tolerance: balanced",
			loads:       []Load{up("s1", 105, 100), up("s2", 95, 100)},
			wantTargets: map[string]int64{"s1": 100, "s2": 100},
			wantMoves:   5,
			balanced:    true,
		},
		{
			name:        "a tighter tolerance",
			loads:       []Load{up("s1", 105, 100), up("s2", 95, 100)},
			tolerance:   0.01,
			wantTargets: map[string]int64{"s1": 100, "s2": 100},
			wantMoves:   5,
		},
		{
			name:        "targets are whole and add up, remainders by name",
			loads:       []Load{up("a", 10, 100), up("b", 0, 100), up("c", 0, 100)},
			wantTargets: map[string]int64{"a": 4, "b": 3, "c": 3},
			wantMoves:   6,
		},
		{
			name:        "one session off is always within",
			loads:       []Load{up("s1", 2, 100), up("s2", 1, 100)},
			wantTargets: map[string]int64{"s1": 2, "s2": 1},
			balanced:    true,
		},
		{
			name:        "no server takes clients",
			loads:       []Load{out(up("s1", 10, 100)), out(up("s2", 0, 100))},
			balanced:    true,
			refused:     ErrNoServer,
			wantTargets: map[string]int64{"s1": 0, "s2": 0},
		},
		{
			name:        "no server at all",
			balanced:    true,
			refused:     ErrNoServer,
			wantTargets: map[string]int64{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := Compute(tc.loads, tc.tolerance)
			got := map[string]int64{}
			var sum int64
			for _, s := range p.Servers {
				got[s.Server] = s.Target
				sum += s.Moves
			}
			if diff := cmp.Diff(tc.wantTargets, got); diff != "" {
				t.Errorf("targets (-want +got):\n%s", diff)
			}
			if p.Moves != tc.wantMoves || sum != p.Moves {
				t.Errorf("moves = %d (servers' sum %d), want %d", p.Moves, sum, tc.wantMoves)
			}
			if p.Balanced() != tc.balanced {
				t.Errorf("Balanced() = %v, want %v", p.Balanced(), tc.balanced)
			}
			if err := p.Refused(); !errors.Is(err, tc.refused) || (err == nil) != (tc.refused == nil) {
				t.Errorf("Refused() = %v, want %v", err, tc.refused)
			}
		})
	}
}

// TestComputeNothingBelow: the caps cannot hold the sessions and every
// eligible server is at or over its cap: not balanced, and refused.
func TestComputeNothingBelow(t *testing.T) {
	p := Compute([]Load{{Server: "s1", Sessions: 150, Weight: 100, Cap: 100, Eligible: true}, {Server: "s2", Sessions: 100, Weight: 100, Cap: 100, Eligible: true}}, 0)
	if p.Balanced() {
		t.Fatalf("plan %+v is balanced, want s1 over its cap", p)
	}
	if err := p.Refused(); !errors.Is(err, ErrNothingBelow) {
		t.Errorf("Refused() = %v, want ErrNothingBelow", err)
	}
}

func TestSplit(t *testing.T) {
	for _, tc := range []struct {
		name     string
		moves    int64
		sessions map[string]int64
		want     map[string]int64
	}{
		{name: "even", moves: 50, sessions: map[string]int64{"lb1": 75, "lb2": 75}, want: map[string]int64{"lb1": 25, "lb2": 25}},
		{name: "by share", moves: 10, sessions: map[string]int64{"lb1": 30, "lb2": 10}, want: map[string]int64{"lb1": 8, "lb2": 2}},
		{name: "odd, ties by name", moves: 3, sessions: map[string]int64{"lb1": 5, "lb2": 5}, want: map[string]int64{"lb1": 2, "lb2": 1}},
		{name: "none held", moves: 5, sessions: map[string]int64{"lb1": 4, "lb2": 0}, want: map[string]int64{"lb1": 4, "lb2": 0}},
		{name: "nothing", moves: 0, sessions: map[string]int64{"lb1": 4}, want: map[string]int64{"lb1": 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Split(tc.moves, tc.sessions); !maps.Equal(got, tc.want) {
				t.Errorf("Split(%d, %v) = %v, want %v", tc.moves, tc.sessions, got, tc.want)
			}
		})
	}
}

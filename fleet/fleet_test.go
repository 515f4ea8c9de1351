package fleet

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/hashicorp/consul/api"

	"github.com/wsctl/wsctl/intent"
	"github.com/wsctl/wsctl/runtime"
)

var ref = runtime.Ref{Backend: "ws", Server: "s2"}

func view(agents []string, reports ...Progress) *View {
	v := &View{Agents: map[string]Announcement{}, Progress: map[runtime.Ref]map[string]Progress{ref: {}}}
	for _, a := range agents {
		v.Agents[a] = Announcement{Agent: a}
	}
	for _, p := range reports {
		v.Progress[ref][p.Agent] = p
	}
	return v
}

// TestShare: equal parts until every live agent reported for the op, then
// in proportion to the sessions; the parts never add up past the rate.
func TestShare(t *testing.T) {
	v := view([]string{"a", "b", "c"}, Progress{Agent: "b", Op: "op", Sessions: 30})
	if got := v.Share(ref, "op", "a", 10, 60); got != 20 {
		t.Errorf("before all reported: %g, want 20", got)
	}
	v = view([]string{"a", "b", "c"},
		Progress{Agent: "a", Op: "op", Sessions: 10}, Progress{Agent: "b", Op: "op", Sessions: 30}, Progress{Agent: "c", Op: "old", Sessions: 99})
	if got := v.Share(ref, "op", "a", 10, 60); got != 20 {
		t.Errorf("c reported an older op only: %g, want an equal 20", got)
	}
	v.Progress[ref]["c"] = Progress{Agent: "c", Op: "op", Sessions: 20}
	sum := 0.0
	for self, mine := range map[string]int64{"a": 10, "b": 30, "c": 20} {
		sum += v.Share(ref, "op", self, mine, 60)
	}
	if got := v.Share(ref, "op", "b", 30, 60); got != 30 {
		t.Errorf("b holds half the sessions: %g, want 30", got)
	}
	if sum > 60.000001 {
		t.Errorf("shares add up to %g, past the rate 60", sum)
	}
}

// TestDecide: done when every live agent reports MAINT, drained, no
// session; an agent gone is named unless allowed; an error is named.
func TestDecide(t *testing.T) {
	after := 1.0
	req := Request{Ref: ref, Intent: &intent.Intent{Backend: "ws", Server: "s2", State: runtime.Drain, Op: &intent.Op{ID: "op", CloseAfter: &after}}}
	drained := func(a string) Progress {
		return Progress{Agent: a, Op: "op", Admin: runtime.Maint, Phase: PhaseDrained}
	}
	expected := map[string]bool{"a": true, "b": true}
	if st := decide(view([]string{"a", "b"}, drained("a"), drained("b")), expected, req, "op"); st.Outcome != Done {
		t.Errorf("all drained: %+v", st)
	}
	waiting := Progress{Agent: "b", Op: "op", Admin: runtime.Drain, Phase: "waiting", Sessions: 3}
	if st := decide(view([]string{"a", "b"}, drained("a"), waiting), expected, req, "op"); st.Outcome != "" {
		t.Errorf("b still waiting: %+v", st)
	}
	if st := decide(view([]string{"a"}, drained("a")), expected, req, "op"); st.Outcome != Failed || st.Problem == "" || !st.Rows[1].Missing {
		t.Errorf("b gone: %+v", st)
	}
	req.AllowMissing = true
	if st := decide(view([]string{"a"}, drained("a")), expected, req, "op"); st.Outcome != Done {
		t.Errorf("b gone, allowed: %+v", st)
	}
	failed := Progress{Agent: "b", Op: "op", Admin: runtime.Drain, Phase: PhaseError, Error: "no such server"}
	if st := decide(view([]string{"a", "b"}, drained("a"), failed), expected, req, "op"); st.Outcome != Failed || st.Problem != "b: no such server" {
		t.Errorf("b failed: %+v", st)
	}
	ready := Request{Ref: ref}
	if st := decide(view([]string{"a", "b"}, drained("a"), Progress{Agent: "b", Admin: runtime.Ready}), expected, ready, ""); st.Outcome != "" {
		t.Errorf("a still MAINT on ready: %+v", st)
	}
}

// TestTransient: Run waits out a Consul that fails with a server error or
// cannot be reached (an election), but not one that refuses the read.
func TestTransient(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("fleet: read: %w", api.StatusError{Code: 500, Body: "rpc error making call: EOF"}), true},
		{errors.New("dial tcp 127.0.0.1:8500: connect: connection refused"), true},
		{fmt.Errorf("fleet: read: %w", api.StatusError{Code: 403, Body: "Permission denied"}), false},
	} {
		if got := transient(c.err); got != c.want {
			t.Errorf("transient(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// TestParseBelievesOnlyAnAgentsOwnReports: a report counts only under its
// own agent's key, naming that agent, held by the session that holds the
// agent's live announcement.
func TestParseBelievesOnlyAnAgentsOwnReports(t *testing.T) {
	ann := func(agent, session string) *api.KVPair {
		b, _ := json.Marshal(Announcement{Agent: agent})
		return &api.KVPair{Key: "p/agents/" + agent, Value: b, Session: session}
	}
	report := func(key, agent, session string) *api.KVPair {
		b, _ := json.Marshal(Progress{Agent: agent, Backend: ref.Backend, Server: ref.Server, Op: "op"})
		return &api.KVPair{Key: "p/progress/" + key, Value: b, Session: session}
	}
	for _, c := range []struct {
		name  string
		pairs api.KVPairs
		want  []string
	}{
		{"its own", api.KVPairs{ann("a", "s1"), report("a/ws/s2", "a", "s1")}, []string{"a"}},
		{"held by another session", api.KVPairs{ann("a", "s1"), report("a/ws/s2", "a", "s2")}, nil},
		{"no session (a plain put)", api.KVPairs{ann("a", "s1"), report("a/ws/s2", "a", "")}, nil},
		{"another agent's key", api.KVPairs{ann("a", "s1"), ann("b", "s2"), report("b/ws/s2", "a", "s2")}, nil},
		{"no announcement", api.KVPairs{report("a/ws/s2", "a", "s1")}, nil},
		{"an announcement without session", api.KVPairs{ann("a", ""), report("a/ws/s2", "a", "")}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := parse("p/", intent.NewConsulWith(nil, "", "p/"), c.pairs, 1)
			var got []string
			for id := range v.Progress[ref] {
				got = append(got, id)
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("reports believed from %v, want %v", got, c.want)
			}
		})
	}
}

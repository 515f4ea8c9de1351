package fleet

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hashicorp/consul/api"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/intent"
	"github.com/wsctl/wsctl/internal/pace"
)

var ref = haproxy.Ref{Backend: "ws", Server: "s2"}

func view(agents []string, reports ...Progress) *View {
	v := &View{Agents: map[string]Announcement{}, Progress: map[haproxy.Ref]map[string]Progress{ref: {}}}
	for _, a := range agents {
		v.Agents[a] = Announcement{Agent: a}
	}
	for _, p := range reports {
		v.Progress[ref][p.Agent] = p
	}
	return v
}

// TestPart: equal parts until every live agent reported for the op, then
// in proportion to the sessions; the parts of one view tile [0, 1) without
// overlap, and an agent the view does not show announced has none.
func TestPart(t *testing.T) {
	parts := func(v *View) map[string]pace.Part {
		out := map[string]pace.Part{}
		for id := range v.Agents {
			out[id] = v.Part(ref, "op", id)
		}
		return out
	}
	v := view([]string{"a", "b", "c"}, Progress{Agent: "b", Op: "op", Sessions: 30})
	third := 1.0 / 3
	want := map[string]pace.Part{"a": {Lo: 0, Hi: third}, "b": {Lo: third, Hi: 2 * third}, "c": {Lo: 2 * third, Hi: 1}}
	if diff := cmp.Diff(want, parts(v), cmpopts.EquateApprox(0, 1e-9)); diff != "" {
		t.Errorf("before all reported (-want +got):\n%s", diff)
	}
	v = view([]string{"a", "b", "c"},
		Progress{Agent: "a", Op: "op", Sessions: 10}, Progress{Agent: "b", Op: "op", Sessions: 30}, Progress{Agent: "c", Op: "old", Sessions: 99})
	if diff := cmp.Diff(want, parts(v), cmpopts.EquateApprox(0, 1e-9)); diff != "" {
		t.Errorf("c reported an older op only: equal parts (-want +got):\n%s", diff)
	}
	v.Progress[ref]["c"] = Progress{Agent: "c", Op: "op", Sessions: 20}
	want = map[string]pace.Part{"a": {Lo: 0, Hi: 10.0 / 60}, "b": {Lo: 10.0 / 60, Hi: 40.0 / 60}, "c": {Lo: 40.0 / 60, Hi: 1}}
	if diff := cmp.Diff(want, parts(v), cmpopts.EquateApprox(0, 1e-9)); diff != "" {
		t.Errorf("in proportion to the sessions (-want +got):\n%s", diff)
	}
	if got := v.Part(ref, "op", "d"); got != (pace.Part{}) {
		t.Errorf("an agent not announced has part %v, want none", got)
	}
}

// TestDecide: done when every live agent reports MAINT, drained, no
// session; an agent gone is named unless allowed; an error is named.
func TestDecide(t *testing.T) {
	after := 1.0
	req := Request{Ref: ref, Intent: &intent.Intent{Backend: "ws", Server: "s2", State: haproxy.Drain, Op: &intent.Op{ID: "op", CloseAfter: &after}}}
	drained := func(a string) Progress {
		return Progress{Agent: a, Op: "op", Admin: haproxy.Maint, Phase: PhaseDrained}
	}
	expected := map[string]bool{"a": true, "b": true}
	if st := decide(view([]string{"a", "b"}, drained("a"), drained("b")), expected, req, "op"); st.Outcome != Done {
		t.Errorf("all drained: %+v", st)
	}
	waiting := Progress{Agent: "b", Op: "op", Admin: haproxy.Drain, Phase: "waiting", Sessions: 3}
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
	failed := Progress{Agent: "b", Op: "op", Admin: haproxy.Drain, Phase: PhaseError, Error: "no such server"}
	if st := decide(view([]string{"a", "b"}, drained("a"), failed), expected, req, "op"); st.Outcome != Failed || st.Problem != "b: no such server" {
		t.Errorf("b failed: %+v", st)
	}
	ready := Request{Ref: ref}
	if st := decide(view([]string{"a", "b"}, drained("a"), Progress{Agent: "b", Admin: haproxy.Ready}), expected, ready, ""); st.Outcome != "" {
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

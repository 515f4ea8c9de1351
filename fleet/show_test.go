package fleet

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/intent"
	"github.com/wsctl/wsctl/spec"
)

// TestStatusShown: an operation's rows as the commands show them: the load
// balancers done, those missing, the totals of what the agents reported,
// and a table's placeholders before a first report and for a missing one.
func TestStatusShown(t *testing.T) {
	st := Status{Rows: []Row{
		{Agent: "lb1", Report: &Progress{Admin: haproxy.Maint, Phase: PhaseDrained, Closed: 4}, Done: true},
		{Agent: "lb2", Report: &Progress{Admin: haproxy.Drain, Phase: "closing", Sessions: 3, Closed: 2}},
		{Agent: "lb3"},
		{Agent: "lb4", Report: &Progress{Admin: haproxy.Drain, Phase: "waiting", Sessions: 5}, Missing: true},
		{Agent: "lb5", Report: &Progress{Admin: haproxy.Maint, Phase: PhaseDrained}, Done: true},
	}}
	if got := st.NumDone(); got != 2 {
		t.Errorf("NumDone = %d, want 2", got)
	}
	if got := st.Missing(); !slices.Equal(got, []string{"lb4"}) {
		t.Errorf("Missing = %q, want [lb4]", got)
	}
	// A missing agent's last report still counts: its sessions were left
	// where it stopped.
	if sessions, closed := st.Totals(); sessions != 8 || closed != 6 {
		t.Errorf("Totals = %d sessions, %d closed; want 8, 6", sessions, closed)
	}
	want := []Progress{
		{Admin: haproxy.Maint, Phase: PhaseDrained, Closed: 4},
		{Admin: haproxy.Drain, Phase: "closing", Sessions: 3, Closed: 2},
		{Admin: "-", Phase: "-"},
		{Admin: haproxy.Drain, Phase: "missing", Sessions: 5, Error: "stopped reporting"},
		{Admin: haproxy.Maint, Phase: PhaseDrained},
	}
	var got []Progress
	for _, r := range st.Rows {
		got = append(got, r.Shown())
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(Progress{})); diff != "" {
		t.Errorf("Shown (-want +got):\n%s", diff)
	}
	if st.Rows[3].Report.Phase != "waiting" {
		t.Errorf("Shown changed the report itself: %+v", st.Rows[3].Report)
	}
	if (Status{}).Missing() != nil || (Status{}).NumDone() != 0 {
		t.Error("an empty status has rows")
	}
}

// TestOverview: status --fleet's view: the live agents sorted, the
// intents and every live agent's report per server, sorted by server then
// agent, for one backend or all, and its JSON contract.
func TestOverview(t *testing.T) {
	since := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	a := haproxy.Ref{Backend: "a", Server: "s1"}
	b1, b2 := haproxy.Ref{Backend: "b", Server: "s1"}, haproxy.Ref{Backend: "b", Server: "s2"}
	v := &View{
		Agents:  map[string]Announcement{"lb2": {Agent: "lb2"}, "lb1": {Agent: "lb1"}},
		Intents: map[haproxy.Ref]intent.Intent{b2: {Backend: "b", Server: "s2", State: haproxy.Maint, Since: since, Who: "ann@ci", Reason: "disk"}},
		Progress: map[haproxy.Ref]map[string]Progress{
			a:  {"lb1": {Agent: "lb1", Backend: "a", Server: "s1", Admin: haproxy.Ready}},
			b1: {"lb2": {Agent: "lb2", Backend: "b", Server: "s1", Admin: haproxy.Drain, Sessions: 2}, "lb1": {Agent: "lb1", Backend: "b", Server: "s1", Admin: haproxy.Drain}},
		},
	}
	all := v.Overview("")
	var servers []string
	for _, r := range all.Servers {
		servers = append(servers, r.Server+" "+r.Agent)
	}
	if want := []string{"a/s1 lb1", "b/s1 lb1", "b/s1 lb2"}; !slices.Equal(servers, want) || !slices.Equal(all.Agents, []string{"lb1", "lb2"}) {
		t.Errorf("servers %q, agents %q; want %q, [lb1 lb2]", servers, all.Agents, want)
	}
	o := v.Overview("b")
	if len(o.Servers) != 2 || len(o.Intents) != 1 || o.Intents[0].Server != "b/s2" {
		t.Fatalf("backend b: %+v", o)
	}
	j, err := json.Marshal(v.Overview("a"))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"agents":["lb1","lb2"],"intents":[],"servers":[{"server":"a/s1","agent":"lb1","backend":"a","admin":"READY","sessions":0,"closed":0,"updated":"0001-01-01T00:00:00Z"}]}`
	if string(j) != want {
		t.Errorf("JSON\n got %s\nwant %s", j, want)
	}
	j, _ = json.Marshal(v.Overview("b").Intents[0])
	if want := `{"server":"b/s2","backend":"b","state":"MAINT","since":"2025-01-02T03:04:05Z","who":"ann@ci","reason":"disk"}`; string(j) != want {
		t.Errorf("intent JSON\n got %s\nwant %s", j, want)
	}
	empty, _ := json.Marshal((&View{}).Overview(""))
	if string(empty) != `{"agents":[],"intents":[],"servers":[]}` {
		t.Errorf("an empty fleet: %s", empty)
	}
}

// TestResolveRef: a bare server name is the spec's one backend's, or the
// one backend with a static server of that name; otherwise it must be
// given as BACKEND/SERVER. A backend given is kept.
func TestResolveRef(t *testing.T) {
	two := &spec.Spec{Backends: []spec.Backend{
		{Name: "a", Servers: []spec.Server{{Name: "s1"}, {Name: "s2"}}},
		{Name: "b", Servers: []spec.Server{{Name: "s2"}, {Name: "s3"}}},
	}}
	for server, want := range map[string]string{"s1": "a", "s3": "b"} {
		if got, err := ResolveRef(two, haproxy.Ref{Server: server}); err != nil || got.Backend != want {
			t.Errorf("%s: %q, %v; want %q", server, got, err, want)
		}
	}
	for _, server := range []string{"s2", "s9"} {
		if _, err := ResolveRef(two, haproxy.Ref{Server: server}); err == nil || !strings.Contains(err.Error(), "give it as BACKEND/"+server) {
			t.Errorf("%s: %v, want an error asking for BACKEND/%s", server, err, server)
		}
	}
	one := &spec.Spec{Backends: []spec.Backend{{Name: "ws"}}}
	if got, err := ResolveRef(one, haproxy.Ref{Server: "echo-2"}); err != nil || got.String() != "ws/echo-2" {
		t.Errorf("one backend: %q, %v; want ws/echo-2", got, err)
	}
	if got, err := ResolveRef(two, haproxy.Ref{Backend: "b", Server: "s2"}); err != nil || got.String() != "b/s2" {
		t.Errorf("given backend: %q, %v; want b/s2", got, err)
	}
}

// TestSpecAgentPolicy: the agent's policy for a spec reads the services
// its backends follow (once each) and defaults the node to the agent id.
func TestSpecAgentPolicy(t *testing.T) {
	sp := &spec.Spec{Consul: spec.Consul{KVPrefix: "wsctl/"}, Backends: []spec.Backend{
		{Name: "a", Consul: &spec.ConsulService{Service: "echo"}}, {Name: "b"}, {Name: "c", Consul: &spec.ConsulService{Service: "echo"}},
	}}
	got, err := SpecAgentPolicy(sp, "lb2", "")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := AgentPolicy("wsctl/", "lb2", "lb2", []string{"echo"})
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if got, _ := SpecAgentPolicy(sp, "lb2", "host-2"); !strings.Contains(got, `session "host-2"`) {
		t.Errorf("--node host-2:\n%s", got)
	}
}

package agent

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wsctl/wsctl/discovery"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/internal/buildinfo"
	"github.com/wsctl/wsctl/model"
)

func running(name, addr string, flags haproxy.AdminFlags, weight int64) haproxy.ServerStatus {
	return haproxy.ServerStatus{Backend: "ws", Server: name, Addr: addr, Flags: flags, Admin: flags.State(), UserWeight: weight}
}

func srv(name, host string, port uint16) model.Server {
	return model.Server{Name: name, Host: discovery.MustParseIP(host), Port: port, Weight: 100}
}

func TestPlan(t *testing.T) {
	ws := func(servers ...model.Server) *model.Model {
		return &model.Model{Backends: []model.Backend{{Name: "ws", Servers: servers}}}
	}
	unhealthy := srv("b", "10.0.0.2", 80)
	unhealthy.Disabled = true
	heavier := srv("a", "10.0.0.1", 80)
	heavier.Weight = 50
	slot := model.Server{Name: "_slot1", Host: discovery.MustParseIP("127.0.0.1"), Port: 1, Weight: 100, Disabled: true, Slot: true}
	refB := haproxy.Ref{Backend: "ws", Server: "b"}

	tests := []struct {
		name    string
		running map[string][]haproxy.ServerStatus
		desired *model.Model
		drained map[haproxy.Ref]bool
		want    []Op
	}{
		{
			name:    "in sync",
			running: map[string][]haproxy.ServerStatus{"ws": {running("a", "10.0.0.1:80", 0, 100)}},
			desired: ws(srv("a", "10.0.0.1", 80)),
		},
		{
			name:    "new instance is added",
			running: map[string][]haproxy.ServerStatus{"ws": {running("a", "10.0.0.1:80", 0, 100)}},
			desired: ws(srv("a", "10.0.0.1", 80), srv("b", "10.0.0.2", 80)),
			want:    []Op{{Kind: OpAdd, Backend: "ws", Server: srv("b", "10.0.0.2", 80)}},
		},
		{
			name:    "new but unhealthy instance waits",
			running: map[string][]haproxy.ServerStatus{"ws": {}},
			desired: ws(unhealthy),
		},
		{
			name:    "address and weight follow discovery",
			running: map[string][]haproxy.ServerStatus{"ws": {running("a", "10.0.0.9:81", 0, 100)}},
			desired: ws(heavier),
			want: []Op{
				{Kind: OpSetAddr, Backend: "ws", Server: heavier, Current: haproxy.Ready},
				{Kind: OpSetWeight, Backend: "ws", Server: heavier, Current: haproxy.Ready},
			},
		},
		{
			name:    "removed instance is drained for removal",
			running: map[string][]haproxy.ServerStatus{"ws": {running("a", "10.0.0.1:80", 0, 100), running("b", "10.0.0.2:80", 0, 100)}},
			desired: ws(srv("a", "10.0.0.1", 80)),
			want:    []Op{{Kind: OpDrain, Backend: "ws", Server: model.Server{Name: "b"}, Remove: true, Current: haproxy.Ready}},
		},
		{
			name:    "unhealthy instance is drained, not removed",
			running: map[string][]haproxy.ServerStatus{"ws": {running("b", "10.0.0.2:80", 0, 100)}},
			desired: ws(unhealthy),
			want:    []Op{{Kind: OpDrain, Backend: "ws", Server: unhealthy, Current: haproxy.Ready}},
		},
		{
			name:    "instance the agent drained comes back",
			running: map[string][]haproxy.ServerStatus{"ws": {running("b", "10.0.0.2:80", haproxy.FlagForcedMaint, 100)}},
			desired: ws(srv("b", "10.0.0.2", 80)),
			drained: map[haproxy.Ref]bool{refB: true},
			want:    []Op{{Kind: OpReady, Backend: "ws", Server: srv("b", "10.0.0.2", 80), Current: haproxy.Maint}},
		},
		{
			// `disabled` sets forced and config maint (srv_admin_state 5).
			name:    "server disabled in the config becomes healthy",
			running: map[string][]haproxy.ServerStatus{"ws": {running("b", "10.0.0.2:80", haproxy.FlagForcedMaint|haproxy.FlagConfigMaint, 100)}},
			desired: ws(srv("b", "10.0.0.2", 80)),
			want:    []Op{{Kind: OpReady, Backend: "ws", Server: srv("b", "10.0.0.2", 80), Current: haproxy.Maint}},
		},
		{
			// Readmitted from `disabled`: the config bit stays, READY.
			name:    "server readmitted from disabled is left alone",
			running: map[string][]haproxy.ServerStatus{"ws": {running("b", "10.0.0.2:80", haproxy.FlagConfigMaint, 100)}},
			desired: ws(srv("b", "10.0.0.2", 80)),
		},
		{
			name:    "operator's drain of a server readmitted from disabled is left alone",
			running: map[string][]haproxy.ServerStatus{"ws": {running("b", "10.0.0.2:80", haproxy.FlagConfigMaint|haproxy.FlagForcedDrain, 100)}},
			desired: ws(srv("b", "10.0.0.2", 80)),
		},
		{
			name:    "server readmitted from disabled goes to DRAIN when it fails again",
			running: map[string][]haproxy.ServerStatus{"ws": {running("b", "10.0.0.2:80", haproxy.FlagConfigMaint, 100)}},
			desired: ws(unhealthy),
			want:    []Op{{Kind: OpDrain, Backend: "ws", Server: unhealthy, Current: haproxy.Ready}},
		},
		{
			name:    "operator's drain is left alone",
			running: map[string][]haproxy.ServerStatus{"ws": {running("b", "10.0.0.2:80", haproxy.FlagForcedDrain, 100)}},
			desired: ws(srv("b", "10.0.0.2", 80)),
		},
		{
			name:    "operator's maint is left alone even when removed",
			running: map[string][]haproxy.ServerStatus{"ws": {running("a", "10.0.0.1:80", 0, 100), running("b", "10.0.0.2:80", haproxy.FlagForcedMaint, 100)}},
			desired: ws(srv("a", "10.0.0.1", 80)),
		},
		{
			name:    "agent's drain of a removed instance becomes a removal",
			running: map[string][]haproxy.ServerStatus{"ws": {running("b", "10.0.0.2:80", haproxy.FlagForcedDrain, 100)}},
			desired: ws(),
			drained: map[haproxy.Ref]bool{refB: true},
			want:    []Op{{Kind: OpDrain, Backend: "ws", Server: model.Server{Name: "b"}, Remove: true, Current: haproxy.Drain}},
		},
		{
			name:    "slots are left alone",
			running: map[string][]haproxy.ServerStatus{"ws": {running("_slot1", "127.0.0.1:1", haproxy.FlagForcedMaint|haproxy.FlagConfigMaint, 100), running("_slot2", "127.0.0.1:1", haproxy.FlagForcedMaint|haproxy.FlagConfigMaint, 100)}},
			desired: ws(slot),
		},
		{
			name:    "backend HAProxy does not run needs a reload, not ops",
			running: map[string][]haproxy.ServerStatus{},
			desired: ws(srv("a", "10.0.0.1", 80)),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Plan(tt.running, tt.desired, tt.drained)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Plan() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStructureChanged(t *testing.T) {
	base := "global\n    maxconn 100\nbackend ws\n    default-server check\n    server a 10.0.0.1:80\n"
	tests := []struct {
		name     string
		old, new string
		want     bool
	}{
		{name: "same", old: base, new: base, want: false},
		{name: "server added", old: base, new: base + "    server b 10.0.0.2:80 weight 50\n", want: false},
		{name: "server removed", old: base, new: "global\n    maxconn 100\nbackend ws\n    default-server check\n", want: false},
		{name: "default-server changed", old: base, new: "global\n    maxconn 100\nbackend ws\n    default-server check inter 1s\n    server a 10.0.0.1:80\n", want: true},
		{name: "comments and blank lines", old: base, new: "# generated from /etc/wsctl.yaml\n" + base + "\n    # a note\n", want: false},
		{name: "new backend", old: base, new: base + "backend other\n    server x 10.0.0.3:80\n", want: true},
		{name: "global changed", old: base, new: "global\n    maxconn 200\nbackend ws\n    default-server check\n    server a 10.0.0.1:80\n", want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := StructureChanged([]byte(tt.old), []byte(tt.new)); got != tt.want {
				t.Errorf("StructureChanged() = %v, want %v", got, tt.want)
			}
		})
	}
	if !StructureChanged(nil, []byte(base)) {
		t.Error("StructureChanged(nil, config) = false, want true")
	}
}

func TestKeepNonEmpty(t *testing.T) {
	one := []discovery.Instance{{ID: "a", Host: discovery.MustParseIP("10.0.0.1"), Port: 80, Healthy: true}}
	a := &Agent{
		log:     slog.New(slog.DiscardHandler),
		metrics: newMetrics(buildinfo.Info{}, DefaultUnhealthyAfter),
		applied: map[string][]discovery.Instance{"ws": one, "other": one},
	}
	snap := map[string][]discovery.Instance{"ws": nil, "other": {}, "new": nil}
	a.keepNonEmpty(snap)
	want := map[string][]discovery.Instance{"ws": one, "other": one, "new": nil}
	if diff := cmp.Diff(want, snap); diff != "" {
		t.Errorf("snapshot (-want +got):\n%s", diff)
	}
	if got := a.metrics.EmptyKept.Load(); got != 2 {
		t.Errorf("EmptyKept = %d, want 2", got)
	}
}

func TestWithIntents(t *testing.T) {
	running := map[string][]haproxy.ServerStatus{"ws": {
		{Backend: "ws", Server: "a", Admin: haproxy.Ready},
		{Backend: "ws", Server: "b", Admin: haproxy.Drain},
		{Backend: "ws", Server: "c", Admin: haproxy.Ready},
	}}
	ops := []Op{
		{Kind: OpReady, Backend: "ws", Server: model.Server{Name: "b"}},
		{Kind: OpDrain, Backend: "ws", Server: model.Server{Name: "a"}},
		{Kind: OpDrain, Backend: "ws", Server: model.Server{Name: "c"}, Remove: true},
		{Kind: OpSetWeight, Backend: "ws", Server: model.Server{Name: "b", Weight: 7}},
	}
	intents := map[haproxy.Ref]haproxy.AdminState{
		{Backend: "ws", Server: "a"}: haproxy.Maint,
		{Backend: "ws", Server: "b"}: haproxy.Drain,
		{Backend: "ws", Server: "c"}: haproxy.Drain,
	}
	var got []string
	for _, op := range WithIntents(ops, running, intents) {
		got = append(got, op.String())
	}
	// b stays drained, a gets its MAINT back instead of a drain, c is still
	// removed (it left discovery) but first held in DRAIN.
	want := []string{"drain ws/c (remove)", "set-weight ws/b 7", "hold ws/a MAINT", "hold ws/c DRAIN"}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if out := WithIntents(ops, running, nil); len(out) != len(ops) {
		t.Errorf("no intents changed the plan: %v", out)
	}
}

// BenchmarkPlan times planning one change against n running servers: the
// agent's own cost per discovery change beside the render.
func BenchmarkPlan(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			running := map[string][]haproxy.ServerStatus{}
			desired := &model.Model{Backends: []model.Backend{{Name: "ws"}}}
			for i := range n {
				name := fmt.Sprintf("s%05d", i)
				addr := fmt.Sprintf("10.0.%d.%d", i/250, i%250+1)
				running["ws"] = append(running["ws"], haproxy.ServerStatus{Backend: "ws", Server: name, Addr: addr + ":80", Admin: haproxy.Ready, UserWeight: 100})
				desired.Backends[0].Servers = append(desired.Backends[0].Servers, model.Server{Name: name, Host: discovery.MustParseIP(addr), Port: 80, Weight: 100})
			}
			desired.Backends[0].Servers[n/2].Port = 81 // one change
			b.ReportAllocs()
			for b.Loop() {
				if ops := Plan(running, desired, nil); len(ops) != 1 {
					b.Fatalf("%d ops, want 1", len(ops))
				}
			}
		})
	}
}

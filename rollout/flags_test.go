package rollout

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wsctl/wsctl/drain"
	"github.com/wsctl/wsctl/rebalance"
	"github.com/wsctl/wsctl/spec"
)

// TestOptionsFor: what the flags leave out comes from the backend (close
// rate, ceiling) and the spec (state file); --rebalance paces at the
// rollout's rate, or the backend's when the drain closes at once.
func TestOptionsFor(t *testing.T) {
	sp := &spec.Spec{HAProxy: spec.HAProxy{StateFile: "/var/lib/wsctl/server-state"}}
	b := spec.Backend{Name: "ws", CloseRate: 50, ServerMaxConn: 1000}
	rate := func(r float64) *float64 { return &r }
	base := Flags{Timeout: time.Minute, CloseAfter: 30 * time.Second, WaitHealthy: 5 * time.Second, MaxPerServer: -1, MaxUnavailable: 2, Poll: time.Millisecond}
	drained := func(rate float64) drain.Options {
		return drain.Options{Timeout: time.Minute, Poll: time.Millisecond, Close: &drain.Close{After: 30 * time.Second, Rate: rate}}
	}
	tests := []struct {
		name  string
		flags func(f *Flags)
		want  Options
	}{
		{name: "the backend's and the spec's", flags: func(*Flags) {},
			want: Options{Backend: "ws", Drain: drained(50), WaitHealthy: 5 * time.Second, Ceiling: 1000, MaxUnavailable: 2,
				StatePath: "/var/lib/wsctl/wsctl-rollout-ws.json"}},
		{name: "given", flags: func(f *Flags) {
			f.CloseRate, f.MaxPerServer, f.State, f.Next, f.Force, f.Surge = rate(20), 0, "/tmp/r.json", true, true, "spare"
		}, want: Options{Backend: "ws", Drain: drain.Options{Timeout: time.Minute, Poll: time.Millisecond, Force: true, Close: &drain.Close{After: 30 * time.Second, Rate: 20}},
			Next: true, WaitHealthy: 5 * time.Second, MaxUnavailable: 2, Surge: "spare", StatePath: "/tmp/r.json"}},
		{name: "rebalance at the rollout's rate", flags: func(f *Flags) { f.CloseRate, f.Rebalance = rate(20), true },
			want: Options{Backend: "ws", Drain: drained(20), WaitHealthy: 5 * time.Second, Ceiling: 1000, MaxUnavailable: 2,
				StatePath: "/var/lib/wsctl/wsctl-rollout-ws.json", Rebalance: &rebalance.Options{Cap: 1000, Rate: 20, Timeout: time.Minute, Poll: time.Millisecond}}},
		{name: "rebalance after closing at once", flags: func(f *Flags) { f.CloseRate, f.Rebalance = rate(0), true },
			want: Options{Backend: "ws", Drain: drained(0), WaitHealthy: 5 * time.Second, Ceiling: 1000, MaxUnavailable: 2,
				StatePath: "/var/lib/wsctl/wsctl-rollout-ws.json", Rebalance: &rebalance.Options{Cap: 1000, Rate: 50, Timeout: time.Minute, Poll: time.Millisecond}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := base
			tt.flags(&f)
			got, err := OptionsFor(sp, b, f)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}

// TestOptionsForRefuses: what the backend's discovery rules out, and a
// drain the backend's own close rate leaves invalid, are refused.
func TestOptionsForRefuses(t *testing.T) {
	sp := &spec.Spec{}
	local := spec.Backend{Name: "ws", CloseRate: 50}
	fleet := spec.Backend{Name: "wc", CloseRate: 50, Consul: &spec.ConsulService{}}
	tests := []struct {
		name  string
		b     spec.Backend
		flags Flags
		want  string
	}{
		{"allow missing, local", local, Flags{AllowMissing: true}, "--allow-missing: backend ws is not discovered from Consul: its rollout uses the local admin sockets, not the fleet"},
		{"sockets, fleet", fleet, Flags{Sockets: true}, "backend wc is discovered from Consul: its rollout goes through the wsctl agents of every load balancer, not --socket"},
		{"surge, fleet", fleet, Flags{Surge: "spare"}, "--surge: backend wc is discovered from Consul: a surge server across the fleet is not supported yet"},
		{"drain", spec.Backend{Name: "ws", CloseRate: 0.001}, Flags{}, "close-rate 0.001 is out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := OptionsFor(sp, tt.b, tt.flags); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := OptionsFor(sp, fleet, Flags{AllowMissing: true}); err != nil {
		t.Errorf("--allow-missing across the fleet: %v", err)
	}
	if _, err := OptionsFor(sp, local, Flags{Sockets: true, Surge: "spare"}); err != nil {
		t.Errorf("--socket and --surge on the sockets: %v", err)
	}
}

package render_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/wsctl/wsctl/discovery"
	"github.com/wsctl/wsctl/render"
	"github.com/wsctl/wsctl/spec"
)

// TestGenerate: the servers Discover finds are rendered with the spec's
// own, within a bounded context; when it fails, the render fails, or,
// lenient (check's), renders the spec's own and says why.
func TestGenerate(t *testing.T) {
	found := func(ctx context.Context, s *spec.Spec) (discovery.Snapshot, error) {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("discovery without a deadline")
		}
		snap := discovery.Snapshot{Backends: map[string][]discovery.Instance{}}
		for _, b := range s.Backends {
			snap.Backends[b.Name] = []discovery.Instance{{ID: "found-1", Host: discovery.MustParseIP("10.9.9.9"), Port: 80, Healthy: true}}
		}
		return snap, nil
	}
	down := errors.New("consul: no answer")
	failing := func(context.Context, *spec.Spec) (discovery.Snapshot, error) { return discovery.Snapshot{}, down }
	for _, tc := range []struct {
		name    string
		o       render.Options
		wantErr error
		want    string // in the config
		wantDis error  // Generated.DiscoverErr
	}{
		{name: "the spec's own", o: render.Options{}, want: "server backend1 "},
		{name: "discovered", o: render.Options{Discover: found, Target: "nginx"}, want: "server 10.9.9.9:80"},
		{name: "discovery fails", o: render.Options{Discover: failing}, wantErr: down},
		{name: "discovery fails, lenient", o: render.Options{Discover: failing, Lenient: true}, want: "server backend1 ", wantDis: down},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := basicSpec(t)
			g, err := render.Generate(context.Background(), s, tc.o)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if !strings.Contains(string(g.Config), tc.want) || g.DiscoverErr != tc.wantDis || g.Spec != s {
				t.Errorf("DiscoverErr %v (want %v), config lacks %q:\n%s", g.DiscoverErr, tc.wantDis, tc.want, g.Config)
			}
		})
	}
}

package reload_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/wsctl/wsctl/handover"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/reload"
	"github.com/wsctl/wsctl/reload/reloadtest"
	"github.com/wsctl/wsctl/spec"
)

// TestCycle: a confirmed reload is reported (reloaded) before the hand-over
// starts, then the old worker's sessions are closed; a reload that stopped,
// or whose restore failed, hands nothing over.
func TestCycle(t *testing.T) {
	confirmed := reload.Applied{Changed: true, Old: 41, New: 57, Added: []haproxy.Ref{{Backend: "ws_cluster", Server: "extra"}}}
	restore := errors.New("restore ws_cluster/extra: refused")
	rejected := &reload.Error{Step: reload.StepValidate, Err: errors.New("unknown keyword")}
	for _, tc := range []struct {
		name    string
		host    *reloadtest.Host
		wantErr error
		// reported is whether reloaded is called; closed the sessions
		// the hand-over closes.
		reported bool
		closed   int
	}{
		{name: "hands over", host: &reloadtest.Host{Sessions: 3, Applied: confirmed}, reported: true, closed: 3},
		{name: "rejected", host: &reloadtest.Host{Sessions: 3, Err: rejected}, wantErr: rejected},
		{name: "restore failed", host: &reloadtest.Host{Sessions: 3, Applied: confirmed, Err: restore}, wantErr: restore, reported: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.host
			var got []reload.Applied
			rl, res, err := reload.Cycle(context.Background(), h, []byte("config"), reload.Options{},
				handover.Options{Poll: time.Millisecond, Timeout: time.Minute}, func(rl reload.Applied) {
					if h.Shutdown != 0 {
						t.Errorf("reloaded called after %d sessions were closed", h.Shutdown)
					}
					got = append(got, rl)
				})
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("Cycle = %v, want %v", err, tc.wantErr)
			}
			if tc.reported != (len(got) == 1) || len(got) > 1 || tc.reported && got[0].New != rl.New {
				t.Errorf("reloaded called with %+v, want it once: %v", got, tc.reported)
			}
			if h.Shutdown != tc.closed {
				t.Errorf("%d sessions closed, want %d", h.Shutdown, tc.closed)
			}
			if tc.closed > 0 && res.Outcome() != handover.Exited {
				t.Errorf("hand-over %s, want %s", res.Outcome(), handover.Exited)
			}
		})
	}
}

// TestSpecSite: the site of a spec reloads through its sockets, loading the
// config file given.
func TestSpecSite(t *testing.T) {
	var s spec.Spec
	s.HAProxy.AdminSocket, s.HAProxy.MasterSocket = "/run/haproxy/admin.sock", "/run/haproxy/master.sock"
	site, ok := reload.SpecSite(&s, "/etc/haproxy/haproxy.cfg").(reload.Site)
	want := reload.Local{ConfigFile: "/etc/haproxy/haproxy.cfg", AdminSocket: "/run/haproxy/admin.sock", MasterSocket: "/run/haproxy/master.sock"}
	if !ok || site.Local != want || site.Spec != &s {
		t.Errorf("SpecSite = %+v, want %+v with the spec", site, want)
	}
}

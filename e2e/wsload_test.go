package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wsctl/wsctl/internal/lbtest"
	"github.com/wsctl/wsctl/loadgen"
	"github.com/wsctl/wsctl/model"
)

// TestWsloadCountsHAProxyCuts makes HAProxy cut one server's sessions under
// load and expects wsload to report exactly those connections as abrupt
// drops, and no others.
func TestWsloadCountsHAProxyCuts(t *testing.T) {
	st := lbtest.StartBasic(t, model.TargetHAProxy)
	cfg := loadgen.DefaultConfig()
	cfg.URL = st.URL("/ws")
	cfg.Conns = 30
	cfg.Rate = 0
	cfg.Duration = 4 * time.Second
	cfg.Interval = 200 * time.Millisecond
	done := make(chan loadgen.Result, 1)
	go func() {
		res, err := loadgen.Run(context.Background(), cfg)
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	lbtest.WaitFor(t, 5*time.Second, "30 sessions in HAProxy", func() bool {
		return strings.Count(lbtest.SocketCommand(t, st.Admin, "show sess"), "be=ws_cluster") >= 30
	})
	// A session exists in HAProxy before its client has read the greeting
	// that tells wsload where it landed; give the greetings and a few
	// echoes time to arrive before cutting.
	time.Sleep(time.Second)
	lbtest.SocketCommand(t, st.Admin, "shutdown sessions server ws_cluster/backend2")
	res := <-done
	if res.Connected != 30 || res.Landings["backend2"] == 0 {
		t.Fatalf("connected %d, landings %v: want 30 spread over the servers", res.Connected, res.Landings)
	}
	if res.Dropped != res.Landings["backend2"] || res.DropsByCode["abrupt"] != res.Landings["backend2"] {
		t.Errorf("dropped %d %v, want the %d clients of backend2, all abrupt", res.Dropped, res.DropsByCode, res.Landings["backend2"])
	}
	if res.PerServer["backend2"] != 0 || res.PerServer["backend1"]+res.PerServer["backend3"] != 30-res.Dropped {
		t.Errorf("per_server at the end %v", res.PerServer)
	}
}

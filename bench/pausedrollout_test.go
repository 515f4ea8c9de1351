package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/internal/lbtest"
)

// pausedRollout is `wsctl rollout --pause` run the way a pipeline runs it:
// after each call the test deploys the server it paused at, then calls
// again with `--next`, until the rollout is done. The rolling-deploy
// scenario runs it on one load balancer, Fleet at scale across the fleet.
type pausedRollout struct {
	wsctl string
	// args are `rollout BACKEND -c SPEC` and its flags, without --pause
	// and --next.
	args []string
	// env is added to the command's environment.
	env []string
	// backend and rts are what is watched for new sessions: the backend
	// on every load balancer's runtime API.
	backend string
	rts     []*haproxy.Client
	// deploy restarts the server the rollout paused at.
	deploy func(server string)
	// start is the zero of the run's timeline, for the marks.
	start time.Time
}

// rollCounts is what a rollout (or a loop of drains) did.
type rollCounts struct {
	cut        int             // sessions the proxies closed: wsctl's "cuts"/"closed", or scur at shutdown
	cuts       []int           // cut per backend, in roll order
	back       int             // new sessions on a server while it was held or drained (stot delta)
	perBackend []time.Duration // drain start → back in rotation and UP
	marks      []Mark
	total      time.Duration // first drain → last server back
}

// run runs the rollout to its end. A call that fails ends it: the error
// says which, with its output, and the counts are those until then.
func (p pausedRollout) run(t *testing.T) (rollCounts, error) {
	t.Helper()
	ctx := context.Background()
	var r rollCounts
	t0 := time.Now()
	stepStart := t0
	mode := "--pause"
	for {
		// The server this call drains is the one it pauses at (or the
		// surge, in the last call): count what it takes from when it is
		// first seen out of READY (held or drained), on every load
		// balancer.
		before := make([]map[string]int64, len(p.rts))
		stop := make(chan struct{})
		var watch sync.WaitGroup
		for i, rt := range p.rts {
			before[i] = map[string]int64{}
			watch.Go(func() {
				for {
					if all, err := rt.Servers(ctx, p.backend); err == nil {
						for _, s := range all {
							if _, seen := before[i][s.Server]; !seen && s.Admin != haproxy.Ready {
								before[i][s.Server] = s.Stot
							}
						}
					}
					select {
					case <-stop:
						return
					case <-time.After(50 * time.Millisecond):
					}
				}
			})
		}
		cmd := exec.Command(p.wsctl, append(p.args, mode)...)
		cmd.Env = append(os.Environ(), p.env...)
		out, err := cmd.Output()
		close(stop)
		watch.Wait()
		backOn := func(server string) int {
			n := 0
			for i, rt := range p.rts {
				from, ok := before[i][server]
				if !ok {
					t.Errorf("%s was never seen out of READY on load balancer %d", server, i+1)
					continue
				}
				s, err := rt.Server(ctx, p.backend, server)
				if err != nil {
					t.Fatal(err)
				}
				n += int(s.Stot - from)
			}
			return n
		}
		if err != nil {
			r.total = time.Since(t0)
			return r, fmt.Errorf("wsctl rollout %s: %w: %s", mode, err, rolloutStopped(out))
		}
		mode = "--next"
		var paused string
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			var l struct {
				Type, Server, Result string
				Surge                bool
				Cuts                 int
				Paused               *struct{ Server string }
			}
			if err := json.Unmarshal([]byte(line), &l); err != nil {
				t.Fatalf("wsctl rollout output: %v\n%s", err, out)
			}
			switch {
			case l.Type == "step":
				r.cut += l.Cuts
				r.cuts = append(r.cuts, l.Cuts)
				if l.Surge {
					r.back += backOn(l.Server)
				}
			case l.Paused != nil:
				paused = l.Paused.Server
			}
		}
		if paused == "" {
			break
		}
		r.back += backOn(paused)
		r.marks = append(r.marks, Mark{TMs: time.Since(p.start).Milliseconds(), Label: "restart " + paused})
		p.deploy(paused)
		r.perBackend = append(r.perBackend, time.Since(stepStart))
		stepStart = time.Now()
	}
	// The last call readmitted the last server (and removed the surge).
	if len(r.perBackend) > 0 {
		r.perBackend[len(r.perBackend)-1] += time.Since(stepStart)
	}
	r.total = time.Since(t0)
	return r, nil
}

// restartWsecho stops w with SIGTERM (a deploy) and starts it again on its
// address.
func restartWsecho(t *testing.T, w *lbtest.Wsecho) *lbtest.Wsecho {
	t.Helper()
	w.Proc.Signal(t, syscall.SIGTERM)
	if !w.Proc.Wait(10 * time.Second) {
		t.Fatalf("%s did not stop on SIGTERM", w.ID)
	}
	return lbtest.StartWsechoAt(t, w.ID, w.Addr, "--close-spread", "0s")
}

// rolloutStopped is why `wsctl rollout -o json` stopped, from its summary
// line, or its whole output when it has none.
func rolloutStopped(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var sum struct {
		Stopped *struct{ Server, Phase, Error string }
	}
	if json.Unmarshal([]byte(lines[len(lines)-1]), &sum) != nil || sum.Stopped == nil {
		return string(out)
	}
	why, _, _ := strings.Cut(sum.Stopped.Error, "\n")
	return fmt.Sprintf("%s, %s: %s", sum.Stopped.Server, sum.Stopped.Phase, why)
}

func TestRolloutStopped(t *testing.T) {
	out := []byte(`{"type":"step","server":"a","cuts":3}` + "\n" +
		`{"type":"rollout","result":"stopped","stopped":{"server":"chat-ws-1","phase":"drain","error":"agent lb12 stopped reporting\nagent lb12 stopped reporting"}}` + "\n")
	if got, want := rolloutStopped(out), "chat-ws-1, drain: agent lb12 stopped reporting"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := rolloutStopped([]byte("usage: …\n")); got != "usage: …\n" {
		t.Errorf("without a summary got %q, want the output", got)
	}
}

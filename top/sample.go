// Package top is the model of `wsctl top`: a sampler that reads HAProxy's
// admin sockets, its master CLI, the intents, the rollouts' state files
// and the fleet into a Snapshot, and a Bubble Tea model that shows the
// snapshots as they come, per backend and server.
package top

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/wsctl/wsctl/fleet"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/intent"
	"github.com/wsctl/wsctl/rollout"
	"github.com/wsctl/wsctl/spec"
	"github.com/wsctl/wsctl/target"
)

// Sockets is what top reads HAProxy's servers from: target.Local on the
// admin sockets, where a socket that fails is a listing with its Err.
type Sockets interface {
	Read(ctx context.Context, backend string) ([]target.Listing, error)
}

var _ Sockets = (*target.Local)(nil)

// Master is what top reads from HAProxy's master CLI: the old workers a
// reload left, and the sessions they still hold.
type Master interface {
	Procs(ctx context.Context) (haproxy.Procs, error)
	WorkerSessions(ctx context.Context, pid int64) ([]haproxy.WorkerSession, error)
}

var _ Master = (*haproxy.Master)(nil)

// Sources are where a snapshot is read from; a nil or empty field is not
// read.
type Sources struct {
	Sockets Sockets
	Master  Master
	Intents intent.Store
	// Rollouts are the rollouts' state files by backend.
	Rollouts map[string]string
	// Fleet reads every load balancer's reports from Consul.
	Fleet func(ctx context.Context) (*fleet.View, error)
}

// AddSpec adds to src what the spec sp says is in progress besides the
// sockets: its operators' intents and each backend's rollout state file
// (rollout.DefaultStatePath).
func (src *Sources) AddSpec(sp *spec.Spec) error {
	var err error
	if src.Intents, err = intent.Open(sp); err != nil {
		return err
	}
	src.Rollouts = map[string]string{}
	for _, b := range sp.Backends {
		src.Rollouts[b.Name] = rollout.DefaultStatePath(sp, b.Name)
	}
	return nil
}

// Server is one server as one socket sees it.
type Server struct {
	Socket string
	haproxy.ServerStatus
}

// OldWorker is a worker a reload left, with the WebSockets it still holds
// by backend.
type OldWorker struct {
	Pid      int64
	Reloads  int
	Sessions map[string]int
}

// Total is how many sessions w holds.
func (w OldWorker) Total() int {
	n := 0
	for _, s := range w.Sessions {
		n += s
	}
	return n
}

// Rollout is a rollout in progress, from its state file.
type Rollout struct {
	Backend string
	Where   string
	Done    int
	Of      int
	Phase   rollout.Phase
	Paused  bool
}

// Snapshot is everything top shows, read at one moment. A source that
// failed is named in Errors; the others are still shown.
type Snapshot struct {
	At       time.Time
	Servers  []Server
	Old      []OldWorker
	Intents  []intent.Intent
	Rollouts []Rollout
	// Fleet is every load balancer's reports; nil without --fleet.
	Fleet  *fleet.View
	Errors []string
}

// Backends are the backends of the snapshot's servers, sorted.
func (s Snapshot) Backends() []string {
	seen := map[string]bool{}
	var out []string
	for _, sv := range s.Servers {
		if !seen[sv.Backend] {
			seen[sv.Backend] = true
			out = append(out, sv.Backend)
		}
	}
	sort.Strings(out)
	return out
}

// Sample reads every source at once; each gets its share of ctx.
func Sample(ctx context.Context, src Sources) Snapshot {
	snap := Snapshot{At: time.Now()}
	var mu sync.Mutex
	fail := func(what string, err error) {
		mu.Lock()
		defer mu.Unlock()
		snap.Errors = append(snap.Errors, fmt.Sprintf("%s: %v", what, err))
	}
	var wg sync.WaitGroup
	if src.Sockets != nil {
		wg.Go(func() {
			// Read fails with the listings' errors, named one by one.
			all, _ := src.Sockets.Read(ctx, "")
			for _, li := range all {
				if li.Err != nil {
					fail(li.Place, li.Err)
				}
				for _, s := range li.Servers {
					snap.Servers = append(snap.Servers, Server{Socket: li.Place, ServerStatus: s})
				}
			}
		})
	}
	if src.Master != nil {
		wg.Go(func() {
			old, err := oldWorkers(ctx, src.Master)
			if err != nil {
				fail("master CLI", err)
			}
			snap.Old = old
		})
	}
	if src.Intents != nil {
		wg.Go(func() {
			all, err := src.Intents.Load(ctx)
			if err != nil {
				fail("intents "+src.Intents.Where(), err)
				return
			}
			for _, in := range all {
				snap.Intents = append(snap.Intents, in)
			}
			sort.Slice(snap.Intents, func(i, j int) bool { return snap.Intents[i].Ref().String() < snap.Intents[j].Ref().String() })
		})
	}
	if src.Fleet != nil {
		wg.Go(func() {
			v, err := src.Fleet(ctx)
			if err != nil {
				fail("fleet", err)
				return
			}
			snap.Fleet = v
		})
	}
	snap.Rollouts = rollouts(src.Rollouts, fail)
	wg.Wait()
	sort.Strings(snap.Errors)
	return snap
}

// oldWorkers lists the master's old workers and counts their sessions by
// backend, as a hand-over sees them.
func oldWorkers(ctx context.Context, m Master) ([]OldWorker, error) {
	procs, err := m.Procs(ctx)
	if err != nil {
		return nil, err
	}
	var out []OldWorker
	for _, p := range procs.Old {
		w := OldWorker{Pid: p.Pid, Reloads: p.Reloads, Sessions: map[string]int{}}
		// A worker that exited since `show proc` fails here: shown
		// without sessions until the next sample drops it.
		sess, _ := m.WorkerSessions(ctx, p.Pid)
		for _, s := range sess {
			w.Sessions[s.Backend]++
		}
		out = append(out, w)
	}
	return out, nil
}

// rollouts reads the state files that exist: a rollout in progress.
func rollouts(files map[string]string, fail func(string, error)) []Rollout {
	var out []Rollout
	for backend, path := range files {
		st, ok, err := rollout.LoadCheckpoint(path)
		switch {
		case err != nil:
			fail("rollout of "+backend, err)
		case ok:
			out = append(out, Rollout{Backend: backend, Where: st.Where(), Done: st.Index, Of: len(st.Order), Phase: st.Phase, Paused: st.Paused})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Backend < out[j].Backend })
	return out
}

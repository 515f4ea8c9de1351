package handover_test

import (
	"context"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wsctl/wsctl/handover"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/haproxy/haproxytest"
	"github.com/wsctl/wsctl/internal/lbtest"
	"github.com/wsctl/wsctl/reload"
)

// clients is how many WebSockets the old worker holds; the 1,000 of the
// issue belong to a benchmark, this keeps `make test` quick.
const clients = 300

// hardStop is the old workers' hard-stop-after: far beyond the hand-over,
// so that a cut by it would show.
const hardStop = "2m"

// TestHandOverPacedAfterReload is the hand-over the issue asks for:
// WebSockets held by the worker, a structural change and a reload, then
// after the grace period the old worker's sessions are closed at the rate,
// never more than R/10 + 20 % in 100 ms, the old worker exits long before
// hard-stop-after with every session closed by the hand-over (none left
// for hard-stop-after to cut), and every client is connected again, to the
// new worker.
func TestHandOverPacedAfterReload(t *testing.T) {
	cfg := haproxytest.Config{Backend: "ws", Global: "    hard-stop-after " + hardStop}
	servers := haproxytest.Backends(t, "s1", "s2", "s3")
	lb := haproxytest.StartLB(t, cfg, servers)
	fleet := haproxytest.StartClients(t, lb.URL(), clients, true)
	ctx := context.Background()
	m := haproxy.NewMaster(lb.MasterSocket, 2*time.Second)

	// A structural change: a new backend.
	cfg.Extra = "backend added\n    server a1 " + servers[0].Addr
	if err := os.WriteFile(lb.Config, []byte(haproxytest.Render(lb.Dir, lb.Frontend, cfg, servers)), 0o644); err != nil {
		t.Fatal(err)
	}
	rl, err := reload.Swap(ctx, reload.Local{AdminSocket: lb.AdminSocket, MasterSocket: lb.MasterSocket, Timeout: 2 * time.Second}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if rl.Old == rl.New || rl.Old == 0 || rl.New == 0 {
		t.Fatalf("reload = %+v, want an old and a new worker", rl)
	}
	procs, err := m.Procs(ctx)
	if err != nil || !slices.ContainsFunc(procs.Old, func(p haproxy.Proc) bool { return p.Pid == rl.Old }) {
		t.Fatalf("show proc after the reload = %+v, %v; want worker %d among the old ones", procs, err, rl.Old)
	}
	if got := fleet.Connected(); sum(got) != clients {
		t.Fatalf("connected before the hand-over = %v, want %d", got, clients)
	}

	const (
		grace = 500 * time.Millisecond
		rate  = 100.0
	)
	start := time.Now()
	closes := &recordCloses{Master: m}
	res, err := handover.Run(ctx, closes, handover.Options{
		After: grace, Rates: map[string]float64{"ws": rate}, Workers: []int64{rl.Old},
		Timeout: 30 * time.Second, Poll: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Reports) != 1 {
		t.Fatalf("reports = %+v, want the old worker's", res.Reports)
	}
	rep := res.Reports[0]
	if rep.Outcome != handover.Exited || rep.Before != clients || rep.Closed != clients {
		t.Fatalf("report = %+v, want exited with %d sessions before, all closed by the hand-over", rep, clients)
	}
	procs, err = m.Procs(ctx)
	if err != nil || slices.ContainsFunc(procs.Old, func(p haproxy.Proc) bool { return p.Pid == rl.Old }) {
		t.Fatalf("show proc after the hand-over = %+v, %v; want worker %d gone", procs, err, rl.Old)
	}

	cuts := fleet.Since(start, false)
	if len(cuts) != clients {
		t.Fatalf("%d clients cut, want %d (each once)", len(cuts), clients)
	}
	var at []time.Time
	for _, c := range cuts {
		if c.At.Sub(start) < grace {
			t.Errorf("client %d cut %s after the start, within the grace period %s", c.Client, c.At.Sub(start), grace)
		}
		at = append(at, c.At)
	}
	// The rate is the hand-over's promise: its closes, timed where they
	// happen, hold it per 100 ms. The clients see them later, each after
	// its own scheduling delay on a loaded machine (14 seen within 100 ms
	// of 12 sent), so their cuts are held to the rate over 500 ms: a
	// hand-over that did not pace would cut all 300 at once.
	if peak, limit := haproxytest.PeakIn(closes.sorted(), 100*time.Millisecond), int(rate/10*1.2); peak > limit {
		t.Errorf("%d sessions closed within 100 ms, want at most %d (rate %g/s + 20 %%)", peak, limit, rate)
	}
	slices.SortFunc(at, time.Time.Compare)
	if peak, limit := haproxytest.PeakIn(at, 500*time.Millisecond), int(rate/2*1.2); peak > limit {
		t.Errorf("%d clients cut within 500 ms, want at most %d (rate %g/s + 20 %%)", peak, limit, rate)
	}
	if !fleet.WaitEvents(start, true, clients, 10*time.Second) {
		t.Fatalf("%d of %d clients reconnected", len(fleet.Since(start, true)), clients)
	}
	lbtest.WaitFor(t, 10*time.Second, "every client on the new worker", func() bool {
		s, err := m.WorkerSessions(ctx, rl.New)
		return err == nil && len(s) == clients
	})
}

// TestHandOverSeveralWorkers: two reloads in a row leave two old workers;
// one Run hands both over, sharing the backend's rate.
func TestHandOverSeveralWorkers(t *testing.T) {
	lb := haproxytest.StartLB(t, haproxytest.Config{Global: "    hard-stop-after " + hardStop}, haproxytest.Backends(t, "s1", "s2"))
	ctx := context.Background()
	m := haproxy.NewMaster(lb.MasterSocket, 2*time.Second)
	const each = 20
	var olds []int64
	for range 2 {
		haproxytest.StartClients(t, lb.URL(), each, true)
		rl, err := reload.Swap(ctx, reload.Local{AdminSocket: lb.AdminSocket, MasterSocket: lb.MasterSocket, Timeout: 2 * time.Second}, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		olds = append(olds, rl.Old)
	}
	procs, err := m.Procs(ctx)
	if err != nil || len(procs.Old) != 2 {
		t.Fatalf("old workers = %+v, %v; want two", procs.Old, err)
	}
	res, err := handover.Run(ctx, m, handover.Options{Rates: map[string]float64{"ws": 50}, Timeout: 30 * time.Second, Poll: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome() != handover.Exited || len(res.Reports) != 2 {
		t.Fatalf("result = %+v, want both old workers exited", res)
	}
	closed := 0
	for _, r := range res.Reports {
		if !slices.Contains(olds, r.Worker) {
			t.Errorf("report for worker %d, want only the old ones %v", r.Worker, olds)
		}
		closed += r.Closed
	}
	// Each fleet sits in the worker that was current when it connected.
	if closed != 2*each {
		t.Errorf("closed %d sessions, want %d", closed, 2*each)
	}
	if procs, err := m.Procs(ctx); err != nil || len(procs.Old) != 0 {
		t.Errorf("old workers after the hand-over = %+v, %v; want none", procs.Old, err)
	}
}

// TestHandOverNothingToDo: no old worker, nothing happens.
func TestHandOverNothingToDo(t *testing.T) {
	lb := haproxytest.StartLB(t, haproxytest.Config{}, haproxytest.Backends(t, "s1"))
	m := haproxy.NewMaster(lb.MasterSocket, 0)
	// HAProxy 3.0's master hangs up on its CLI until it has started.
	lbtest.WaitFor(t, 10*time.Second, "the master CLI", func() bool {
		_, err := m.Procs(context.Background())
		return err == nil
	})
	res, err := handover.Run(context.Background(), m, handover.Options{After: time.Hour})
	if err != nil || len(res.Reports) != 0 || res.Outcome() != handover.Exited {
		t.Fatalf("result = %+v, %v; want no report and exited", res, err)
	}
}

// recordCloses is the master a hand-over talks to, recording when each
// of its session closes was answered.
type recordCloses struct {
	handover.Master
	mu sync.Mutex
	at []time.Time
}

func (r *recordCloses) ShutdownWorkerSession(ctx context.Context, pid int64, backend string, id haproxy.SessionID) error {
	err := r.Master.ShutdownWorkerSession(ctx, pid, backend, id)
	if err == nil {
		r.mu.Lock()
		r.at = append(r.at, time.Now())
		r.mu.Unlock()
	}
	return err
}

// sorted returns the close times in order.
func (r *recordCloses) sorted() []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	at := slices.Clone(r.at)
	slices.SortFunc(at, time.Time.Compare)
	return at
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

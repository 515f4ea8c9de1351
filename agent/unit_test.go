package agent

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wsctl/wsctl/discovery"
	"github.com/wsctl/wsctl/fleet"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/intent"
	"github.com/wsctl/wsctl/internal/statefile/statefiletest"
	"github.com/wsctl/wsctl/model"
	"github.com/wsctl/wsctl/spec"
	"github.com/wsctl/wsctl/templates"
)

// Unit tests of the agent's loop and steps, on the fakes of fakes_test.go:
// no process, each well under a second.

// hostInst is an instance of ws behind a host name: HAProxy's runtime API
// cannot add it, so it needs a reload.
func hostInst(t *testing.T, id, name string) discovery.Instance {
	t.Helper()
	h, err := discovery.ParseHost(name)
	if err != nil {
		t.Fatal(err)
	}
	return discovery.Instance{ID: id, Host: h, Port: 80, Healthy: true}
}

// eventuallyFast polls cond for up to 5 s.
func eventuallyFast(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestDebounceDecides: a snapshot after a quiet spell is synced at once; one
// within MinQuiet of the last sync waits; one while a sync is due at once
// joins it rather than delaying it.
func TestDebounceDecides(t *testing.T) {
	d := &debounce{minQuiet: time.Hour, maxQuiet: 2 * time.Hour}
	defer d.stop()
	t0 := time.Now()
	d.changed(t0) // never synced: quiet
	if !d.atOnce {
		t.Fatal("first snapshot: not synced at once")
	}
	d.changed(t0) // joins the sync due at once
	if !d.atOnce {
		t.Fatal("second snapshot before the sync delayed it")
	}
	d.stop()
	d.lastSync = t0
	d.changed(t0.Add(time.Minute))
	if d.atOnce || d.quiet == nil {
		t.Fatal("snapshot within MinQuiet of the last sync: not debounced")
	}
	d.stop()
	d.changed(t0.Add(time.Hour))
	if !d.atOnce {
		t.Fatal("snapshot after MinQuiet of quiet: not synced at once")
	}
}

// TestLoopAppliesFirstChangeAtOnce: with MinQuiet and MaxQuiet of an hour,
// only the leading edge can apply the first change.
func TestLoopAppliesFirstChangeAtOnce(t *testing.T) {
	u := newUnit(t, "1h", Config{MinQuiet: time.Hour, MaxQuiet: time.Hour})
	u.prime(t, u.render(t))
	u.run(t)
	u.src.send(inst("a", 1))
	eventuallyFast(t, "a added", func() bool { return u.hap.admin("ws", "a") == haproxy.Ready })
}

// TestLoopCoalescesBurst: a burst of 50 snapshots right after a sync is
// applied in a few batches, not 50, and ends at the last snapshot.
func TestLoopCoalescesBurst(t *testing.T) {
	u := newUnit(t, "1h", Config{MinQuiet: 200 * time.Millisecond, MaxQuiet: 10 * time.Second})
	u.prime(t, u.render(t))
	u.run(t)
	u.src.send(inst("a", 1))
	eventuallyFast(t, "a added", func() bool { return u.hap.admin("ws", "a") == haproxy.Ready })
	for w := 1; w <= 50; w++ {
		in := inst("a", 1)
		in.Weight = w
		u.src.send(in)
	}
	eventuallyFast(t, "weight 50", func() bool {
		st, err := u.hap.Server(context.Background(), "ws", "a")
		return err == nil && st.UserWeight == 50
	})
	// The add, the burst, and at most one more should the burst's first
	// snapshot come after a quiet spell.
	if n := u.hap.applies(); n > 3 {
		t.Errorf("%d runtime batches for 1 add and a burst of 50, want at most 3", n)
	}
}

// TestSyncKeepsNonEmpty: a backend reported empty keeps its last instances;
// nothing is drained.
func TestSyncKeepsNonEmpty(t *testing.T) {
	u := newUnit(t, "1h", Config{})
	ctx := u.attach(t, u.render(t))
	u.syncWith(ctx, inst("a", 1))
	u.hap.took()
	u.syncWith(ctx)
	if calls := u.hap.took(); len(calls) > 0 {
		t.Errorf("empty snapshot made %q", calls)
	}
	if got := u.hap.admin("ws", "a"); got != haproxy.Ready {
		t.Errorf("a is %q, want READY", got)
	}
	if got := u.a.metrics.EmptyKept.Load(); got != 1 {
		t.Errorf("EmptyKept = %d, want 1", got)
	}
}

// TestLoopReloadRateLimit: two changes that need a reload, the second
// inside ReloadInterval of the first, make one reload each, the second
// only once the interval passed.
func TestLoopReloadRateLimit(t *testing.T) {
	const interval = 300 * time.Millisecond
	u := newUnit(t, "1h", Config{MinQuiet: time.Millisecond, ReloadInterval: interval})
	u.prime(t, u.render(t))
	u.run(t)
	u.src.send(hostInst(t, "h1", "one.example"))
	eventuallyFast(t, "h1 loaded", func() bool { return u.hap.admin("ws", "h1") == haproxy.Ready })
	u.src.send(hostInst(t, "h1", "one.example"), hostInst(t, "h2", "two.example"))
	eventuallyFast(t, "h2 loaded", func() bool { return u.hap.admin("ws", "h2") == haproxy.Ready })
	u.mu.Lock()
	reloads := slices.Clone(u.reloads)
	u.mu.Unlock()
	if len(reloads) != 2 {
		t.Fatalf("%d reloads, want 2", len(reloads))
	}
	if gap := reloads[1].Sub(reloads[0]); gap < interval {
		t.Errorf("second reload %s after the first, want at least %s", gap, interval)
	}
	// Each reload hands its old worker over; the second hand-over takes
	// over from the first, which ends.
	eventuallyFast(t, "two hand-overs, the first replaced", func() bool {
		u.mu.Lock()
		defer u.mu.Unlock()
		return u.handovers == 2 && u.handoversEnded == 1
	})
}

// TestSyncHoldsIntents: a server with an operator's intent is never set
// ready by the agent, and one HAProxy reports READY gets its intended
// state back; once the intent is gone the agent readies its server again.
func TestSyncHoldsIntents(t *testing.T) {
	u := newUnit(t, "1h", Config{})
	ctx := u.attach(t, u.render(t, inst("a", 1), inst("b", 2)))
	// b is in MAINT from the agent's own drain: the agent would ready it.
	u.hap.set("ws", "b", "10.0.0.2:80", haproxy.FlagForcedMaint, 0)
	u.a.drains[haproxy.Ref{Backend: "ws", Server: "b"}] = &drainState{started: time.Now(), done: true}
	for _, i := range []intent.Intent{{Backend: "ws", Server: "a", State: haproxy.Drain}, {Backend: "ws", Server: "b", State: haproxy.Maint}} {
		if err := u.intents.Put(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	u.syncWith(ctx, inst("a", 1), inst("b", 2))
	if got, want := u.hap.took(), []string{"state ws/a DRAIN"}; !slices.Equal(got, want) {
		t.Errorf("with intents: %q, want %q", got, want)
	}
	if got := u.hap.admin("ws", "b"); got != haproxy.Maint {
		t.Errorf("b is %s, want MAINT (held)", got)
	}
	if err := u.intents.Delete(ctx, haproxy.Ref{Backend: "ws", Server: "b"}); err != nil {
		t.Fatal(err)
	}
	u.a.retry = true
	u.syncWith(ctx, inst("a", 1), inst("b", 2))
	if got, want := u.hap.took(), []string{"state ws/b READY"}; !slices.Equal(got, want) {
		t.Errorf("intent on b gone: %q, want %q", got, want)
	}
}

// TestDrainProgress: a server that left discovery is set to DRAIN; while
// it has sessions and drain_timeout has not passed nothing more happens;
// once its sessions are gone it goes to MAINT and is deleted.
func TestDrainProgress(t *testing.T) {
	u := newUnit(t, "1h", Config{})
	ctx := u.attach(t, u.render(t, inst("a", 1), inst("b", 2)))
	u.hap.set("ws", "a", "10.0.0.1:80", 0, 2)
	u.syncWith(ctx, inst("b", 2))
	if got, want := u.hap.took(), []string{"state ws/a DRAIN"}; !slices.Equal(got, want) {
		t.Errorf("a removed: %q, want %q", got, want)
	}
	u.a.progressDrains(ctx, u.a.serversOnce(ctx))
	if got := u.hap.took(); len(got) > 0 {
		t.Errorf("a still has sessions: %q, want nothing", got)
	}
	deadline := `wsctl_agent_drain_deadline_timestamp_seconds{backend="ws",server="a"} `
	if body := scrape(u.a); !strings.Contains(body, deadline) {
		t.Errorf("draining: /metrics lacks %s:\n%s", deadline, body)
	}
	u.hap.set("ws", "a", "10.0.0.1:80", haproxy.FlagForcedDrain, 0)
	u.a.progressDrains(ctx, u.a.serversOnce(ctx))
	if got, want := u.hap.took(), []string{"state ws/a MAINT", "delete ws/a"}; !slices.Equal(got, want) {
		t.Errorf("a's sessions gone: %q, want %q", got, want)
	}
	if len(u.a.drains) != 0 {
		t.Errorf("drains left: %v", u.a.drains)
	}
	if body := scrape(u.a); strings.Contains(body, deadline) {
		t.Errorf("drained: /metrics still has %s", deadline)
	}
}

// TestDrainTimeoutUsesDrainPackage: past drain_timeout the server goes to
// the drain package, which sets MAINT before it closes a single session,
// closes them one by one (never `shutdown sessions`), and the agent
// deletes the server once drained.
func TestDrainTimeoutUsesDrainPackage(t *testing.T) {
	u := newUnit(t, "1ms", Config{})
	ctx := u.attach(t, u.render(t, inst("a", 1), inst("b", 2)))
	u.hap.set("ws", "a", "10.0.0.1:80", 0, 3)
	u.syncWith(ctx, inst("b", 2))
	time.Sleep(2 * time.Millisecond) // past drain_timeout
	u.a.progressDrains(ctx, u.a.serversOnce(ctx))
	u.a.drainClosed(ctx, <-u.a.drainResults)
	want := []string{
		"state ws/a DRAIN", // the agent's
		"state ws/a DRAIN", // the drain package's first step
		"state ws/a MAINT",
		"shutdown session ws/a", "shutdown session ws/a", "shutdown session ws/a",
		"delete ws/a",
	}
	if got := u.hap.took(); !slices.Equal(got, want) {
		t.Errorf("calls:\n got  %q\n want %q", got, want)
	}
}

// TestReloadValidationFailure: a config the proxy's check rejects is
// counted, not written, not reloaded, and the running one stays.
func TestReloadValidationFailure(t *testing.T) {
	u := newUnit(t, "1h", Config{})
	running := u.render(t, inst("a", 1))
	ctx := u.attach(t, running)
	u.validateErr = errors.New("haproxy -c: no")
	u.syncWith(ctx, inst("a", 1), hostInst(t, "h", "h.example"))
	if writes, reloads := u.counts(); writes != 0 || reloads != 0 {
		t.Errorf("%d writes, %d reloads, want none", writes, reloads)
	}
	if got := u.a.metrics.ValidationFailures.Load(); got != 1 {
		t.Errorf("ValidationFailures = %d, want 1", got)
	}
	if file, _ := os.ReadFile(u.a.cfg.ConfigFile); !bytes.Equal(file, running) || !bytes.Equal(u.a.loaded, running) {
		t.Errorf("the running config was replaced:\n%s", file)
	}
}

// TestLoopRetriesFailedReload: a reload that fails is counted and tried
// again later, without a new snapshot.
func TestLoopRetriesFailedReload(t *testing.T) {
	u := newUnit(t, "1h", Config{MinQuiet: time.Millisecond, ReloadInterval: 10 * time.Millisecond})
	u.prime(t, u.render(t))
	u.reloadErr = errors.New("master: no")
	u.run(t)
	u.src.send(hostInst(t, "h", "h.example"))
	eventuallyFast(t, "h loaded", func() bool { return u.hap.admin("ws", "h") == haproxy.Ready })
	if _, reloads := u.counts(); reloads != 2 {
		t.Errorf("%d reloads asked for, want 2", reloads)
	}
	if got := u.a.metrics.ReloadErrors.Load(); got != 1 {
		t.Errorf("ReloadErrors = %d, want 1", got)
	}
}

// TestSyncRewritesDeletedConfig: a deleted config file is written again at
// the next sync and HAProxy, which still runs what it loaded, is not
// reloaded.
func TestSyncRewritesDeletedConfig(t *testing.T) {
	u := newUnit(t, "1h", Config{})
	config := u.render(t, inst("a", 1))
	ctx := u.attach(t, config)
	if err := os.Remove(u.a.cfg.ConfigFile); err != nil {
		t.Fatal(err)
	}
	u.a.retry = true // a resync
	u.syncWith(ctx, inst("a", 1))
	if file, err := os.ReadFile(u.a.cfg.ConfigFile); err != nil || !bytes.Equal(file, config) {
		t.Errorf("config file after the sync: %v\n%s", err, file)
	}
	if writes, reloads := u.counts(); writes != 1 || reloads != 0 {
		t.Errorf("%d writes, %d reloads, want 1 and 0", writes, reloads)
	}
}

// TestStateFileRestore: a restarted agent finishes what its state file
// says it was doing: its drain of a (MAINT, delete) and the batch that
// added b (READY). Without the file both would pass for an operator's.
func TestStateFileRestore(t *testing.T) {
	u := newUnit(t, "1h", Config{})
	ctx := u.attach(t, u.render(t, inst("a", 1), inst("b", 2)))
	u.hap.set("ws", "a", "10.0.0.1:80", haproxy.FlagForcedDrain, 0)
	u.hap.set("ws", "b", "10.0.0.2:80", haproxy.FlagForcedMaint, 0)
	state := `{"drains": {"ws/a": {"started": "2020-01-01T00:00:00Z", "remove": true}}, "changing": ["ws/b"]}`
	if err := os.WriteFile(u.a.stateFile(), []byte(state), 0o644); err != nil {
		t.Fatal(err)
	}
	u.a.loadOwn()
	u.syncWith(ctx, inst("b", 2))
	u.a.progressDrains(ctx, u.a.serversOnce(ctx))
	want := []string{"state ws/b READY", "state ws/a MAINT", "delete ws/a"}
	if got := u.hap.took(); !slices.Equal(got, want) {
		t.Errorf("calls:\n got  %q\n want %q", got, want)
	}
	file, err := os.ReadFile(u.a.stateFile())
	if err != nil || strings.Contains(string(file), "ws/") {
		t.Errorf("state file after the work is done: %v\n%s", err, file)
	}
}

// TestStateFileRefusesPlantedLink: the agent's state file in a directory
// another user can write (Debian's /run/haproxy) was a planted link to a
// root-only file, which the agent (root) replaced at every batch. Saving
// through it is refused and counted, the target is unchanged; a state file
// another user owns is not restored; a file the agent owns still is.
func TestStateFileRefusesPlantedLink(t *testing.T) {
	d := statefiletest.New(t)
	link := d.Link(t, StateFileName)
	u := newUnit(t, "1h", Config{StateFile: link})
	u.a.drains[haproxy.Ref{Backend: "ws", Server: "a"}] = &drainState{started: time.Unix(1, 0)}
	u.a.saveOwn()
	if got := u.a.metrics.StateErrors.Load(); got != 1 {
		t.Errorf("state errors after a save through the link: %d, want 1", got)
	}
	d.Check(t, link)

	foreign := d.Foreign(t, "foreign-state.json", `{"drains": {"ws/b": {"started": "2020-01-01T00:00:00Z"}}}`)
	u = newUnit(t, "1h", Config{StateFile: foreign})
	u.a.loadOwn()
	if len(u.a.drains) != 0 || u.a.metrics.StateErrors.Load() != 1 {
		t.Errorf("a state file owned by uid %d was restored: drains %v", statefiletest.Nobody, u.a.drains)
	}

	own := filepath.Join(d.Path, StateFileName+".own")
	u = newUnit(t, "1h", Config{StateFile: own})
	u.a.drains[haproxy.Ref{Backend: "ws", Server: "a"}] = &drainState{started: time.Unix(1, 0)}
	u.a.saveOwn()
	u = newUnit(t, "1h", Config{StateFile: own})
	u.a.loadOwn()
	if len(u.a.drains) != 1 || u.a.metrics.StateErrors.Load() != 0 {
		t.Errorf("own state file in the same directory: drains %v, %d errors", u.a.drains, u.a.metrics.StateErrors.Load())
	}
}

// TestLoopRereadReplacesSources: a changed spec read on Reread stops the
// sources of the old spec and runs those of the new one, whose snapshots
// the agent then follows.
func TestLoopRereadReplacesSources(t *testing.T) {
	reread := make(chan os.Signal)
	u := newUnit(t, "1h", Config{MinQuiet: time.Millisecond, Reread: reread, SpecPoll: time.Hour})
	var mu sync.Mutex
	var built []*fakeSource
	u.a.edges.sources = func(*spec.Spec, *slog.Logger) ([]discovery.Source, error) {
		src := &fakeSource{feed: make(chan discovery.Snapshot), done: make(chan struct{})}
		mu.Lock()
		defer mu.Unlock()
		built = append(built, src)
		return []discovery.Source{src}, nil
	}
	source := func(i int) *fakeSource {
		eventuallyFast(t, "sources built", func() bool { mu.Lock(); defer mu.Unlock(); return len(built) > i })
		mu.Lock()
		defer mu.Unlock()
		return built[i]
	}
	u.prime(t, u.render(t))
	u.run(t)
	source(0).send(inst("a", 1))
	eventuallyFast(t, "a added", func() bool { return u.hap.admin("ws", "a") == haproxy.Ready })

	u.writeSpec(t, "2h")
	reread <- syscall.SIGHUP
	source(1).send(inst("a", 1), inst("b", 2))
	eventuallyFast(t, "b added", func() bool { return u.hap.admin("ws", "b") == haproxy.Ready })
	select {
	case <-source(0).done:
	default:
		t.Error("the old spec's source still runs")
	}
}

// TestFleetTakeOverIgnoresLateDrainResult: a fleet operation takes over a
// server whose sessions the agent's own drain is closing; that drain's
// result, coming in late, leaves the fleet drain's state alone. It used to
// clear the fleet drain's closing flag (and mark it done when it had
// drained), so the agent would start a drain of its own beside the fleet's
// or readmit the server under it.
func TestFleetTakeOverIgnoresLateDrainResult(t *testing.T) {
	u := newUnit(t, "1ms", Config{})
	ctx := u.attach(t, u.render(t, inst("a", 1), inst("b", 2)))
	u.hap.set("ws", "a", "10.0.0.1:80", 0, 3)
	u.syncWith(ctx, inst("b", 2))
	time.Sleep(2 * time.Millisecond) // past drain_timeout
	// The agent's own drain closes a's sessions in the background.
	u.a.progressDrains(ctx, u.a.serversOnce(ctx))
	u.joinFakeFleet(t)
	after := time.Hour.Seconds()
	ref := haproxy.Ref{Backend: "ws", Server: "a"}
	t0 := &fleetOp{op: "op1"}
	u.a.fleet.ops[ref] = t0
	u.a.startFleetOp(ctx, intent.Intent{Backend: "ws", Server: "a", State: haproxy.Drain, Since: time.Now(),
		Op: &intent.Op{ID: "op1", CloseAfter: &after}}, t0)
	u.a.drainClosed(ctx, <-u.a.drainResults)
	if d := u.a.drains[ref]; !d.closing || d.cancel == nil || d.done {
		t.Errorf("fleet drain after the agent's late result: closing %t, cancel set %t, done %t; want closing, cancel set, not done",
			d.closing, d.cancel != nil, d.done)
	}
}

// TestFleetEarlyViewDoesNotOutliveLaterViews: a view that came before the
// first sync, then newer ones (a rollout's hold of a, then its removal),
// leave the agent to readmit a once its intent is gone. The early view,
// kept until the next drain tick, used to be applied then over the newer
// ones: the agent took the intent for gone already, so its real removal
// changed nothing, no sync followed and a stayed in MAINT.
func TestFleetEarlyViewDoesNotOutliveLaterViews(t *testing.T) {
	u := newUnit(t, "1h", Config{})
	ctx := u.attach(t, u.render(t, inst("a", 1), inst("b", 2)))
	u.joinFakeFleet(t)
	view := func(index uint64, intents ...intent.Intent) *fleet.View {
		v := &fleet.View{Index: index, Intents: map[haproxy.Ref]intent.Intent{}}
		for _, in := range intents {
			v.Intents[in.Ref()] = in
		}
		return v
	}
	u.a.fleetView(ctx, view(1)) // before the first sync: kept for later
	u.syncWith(ctx, inst("a", 1), inst("b", 2))

	hold := intent.Intent{Backend: "ws", Server: "a", State: haproxy.Maint, Since: time.Now(),
		Op: &intent.Op{ID: "op1", Hold: true}}
	if err := u.intents.Put(ctx, hold); err != nil {
		t.Fatal(err)
	}
	u.a.fleetView(ctx, view(2, hold))
	if got := u.hap.admin("ws", "a"); got != haproxy.Maint {
		t.Fatalf("a held: %s, want MAINT", got)
	}
	u.a.fleetTick(ctx, u.a.serversOnce(ctx)) // the next drain tick

	if err := u.intents.Delete(ctx, hold.Ref()); err != nil {
		t.Fatal(err)
	}
	// As the loop does with a view whose intents changed.
	if u.a.fleetView(ctx, view(3)) {
		u.a.retry = true
	}
	u.syncWith(ctx, inst("a", 1), inst("b", 2))
	if got := u.hap.admin("ws", "a"); got != haproxy.Ready {
		t.Errorf("a after its intent is gone: %s, want READY (readmitted)", got)
	}
}

// TestAgentRendersRelativeTemplate: the spec's templates.haproxy is
// relative to the spec's directory, whatever the agent's working directory
// (the agent used to resolve it against its own and fail).
func TestAgentRendersRelativeTemplate(t *testing.T) {
	u := newUnit(t, "1h", Config{})
	tmpl, err := templates.Embedded(model.TargetHAProxy)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(u.dir, "custom.tmpl"), []byte("# custom template\n"+tmpl), 0o644); err != nil {
		t.Fatal(err)
	}
	u.a.spec.Templates.HAProxy = "custom.tmpl" // as the spec file in u.dir says
	t.Chdir(t.TempDir())
	if text := u.render(t, inst("a", 1)); !strings.HasPrefix(string(text), "# custom template\n") {
		t.Errorf("rendered without the spec's template:\n%.200s", text)
	}
}

// TestSyncFinishesAnUnfinishedBatch: a restarted agent whose state says it
// was changing a server finds the server already as desired (the batch
// took before the restart): the server is no longer the agent's, and an
// operator's DRAIN set on it afterwards is kept. It used to stay "changing"
// for good, and the agent readied the operator's drain at the next sync.
func TestSyncFinishesAnUnfinishedBatch(t *testing.T) {
	u := newUnit(t, "1h", Config{})
	ctx := u.attach(t, u.render(t, inst("a", 1), inst("b", 2)))
	u.a.changing[haproxy.Ref{Backend: "ws", Server: "b"}] = true
	u.syncWith(ctx, inst("a", 1), inst("b", 2))
	if len(u.a.changing) != 0 {
		t.Fatalf("changing %v after a sync with nothing to do, want none", u.a.changing)
	}
	u.hap.set("ws", "b", "10.0.0.2:80", haproxy.FlagForcedDrain, 0)
	u.hap.took()
	u.a.retry = true
	u.syncWith(ctx, inst("a", 1), inst("b", 2))
	if got := u.hap.admin("ws", "b"); got != haproxy.Drain {
		t.Errorf("b is %s after the operator's drain and a sync (changes %q), want DRAIN", got, u.hap.took())
	}
}

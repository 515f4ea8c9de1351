package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wsctl/wsctl/discovery"
	"github.com/wsctl/wsctl/haproxy"
)

// TestSyncListsServersWithoutSessions: a registration is planned from
// `show servers state` alone (States); `show stat`, ten times its cost
// with 1,000 servers, is not in the path of every change.
func TestSyncListsServersWithoutSessions(t *testing.T) {
	u := newUnit(t, "1h", Config{})
	ctx := u.attach(t, u.render(t, inst("a", 1)))
	u.syncWith(ctx, inst("a", 1), inst("b", 2))
	if got := u.hap.took(); !slices.Contains(got, "add ws/b 10.0.0.2:80") {
		t.Fatalf("registration of b: %q, want it added", got)
	}
	if u.hap.statReads != 0 {
		t.Errorf("the sync read the servers' sessions %d time(s), want 0", u.hap.statReads)
	}
}

// TestSyncReadmitReadsSessions: readmitting a server from MAINT depends
// on its sessions (haproxy.Client.Readmit: one with sessions is not
// forced down first, which could cut them), which States does not carry:
// the readmission reads its server's row (haproxy.ChangeReadmit).
func TestSyncReadmitReadsSessions(t *testing.T) {
	u := newUnit(t, "1h", Config{})
	ctx := u.attach(t, u.render(t, inst("a", 1), inst("b", 2)))
	u.hap.set("ws", "b", "10.0.0.2:80", haproxy.FlagForcedMaint, 2)
	u.hap.mu.Lock()
	b, _ := u.hap.find("ws", "b")
	b.st.Checked = true
	u.hap.mu.Unlock()
	u.a.drains[haproxy.Ref{Backend: "ws", Server: "b"}] = &drainState{started: time.Now(), done: true}
	u.a.retry = true
	u.syncWith(ctx, inst("a", 1), inst("b", 2))
	if got, want := u.hap.took(), []string{"state ws/b READY"}; !slices.Equal(got, want) {
		t.Errorf("readmitting b with 2 sessions: %q, want %q", got, want)
	}
}

// TestSyncIsOneConnection: a sync lists, applies its batch and reads it
// back on one admin-socket connection (haproxy.Client.Session), a
// registration's as well as a readmission's (which reads its server's
// sessions too), instead of dialling and setting up a connection per step;
// its dial starts before the model is built (Predial). A snapshot equal to
// the last one dials nothing.
func TestSyncIsOneConnection(t *testing.T) {
	u := newUnit(t, "1h", Config{})
	ctx := u.attach(t, u.render(t, inst("a", 1), inst("b", 2)))
	u.hap.conns, u.hap.predials = 0, 0
	u.syncWith(ctx, inst("a", 1), inst("b", 2), inst("c", 3))
	if got := u.hap.took(); !slices.Contains(got, "add ws/c 10.0.0.3:80") {
		t.Fatalf("registration of c: %q, want it added", got)
	}
	if u.hap.conns != 1 || u.hap.predials != 1 {
		t.Errorf("the registration's sync predialled %d times and opened %d connections, want 1 and 1", u.hap.predials, u.hap.conns)
	}
	u.syncWith(ctx, inst("a", 1), inst("b", 2), inst("c", 3))
	if u.hap.conns != 1 || u.hap.predials != 1 {
		t.Errorf("after an unchanged snapshot: %d predials and %d connections, want still 1 and 1", u.hap.predials, u.hap.conns)
	}

	u.hap.set("ws", "b", "10.0.0.2:80", haproxy.FlagForcedMaint, 2)
	u.a.drains[haproxy.Ref{Backend: "ws", Server: "b"}] = &drainState{started: time.Now(), done: true}
	u.a.retry = true
	u.hap.conns, u.hap.statRows = 0, 0
	u.syncWith(ctx, inst("a", 1), inst("b", 2), inst("c", 3))
	if u.hap.statRows == 0 {
		t.Fatal("the readmission did not read the sessions")
	}
	if u.hap.conns != 1 {
		t.Errorf("the readmission's sync opened %d connections, want 1", u.hap.conns)
	}
}

// TestSyncSavesStateInPlace: the state file a sync writes before its
// batch (so that a restarted agent finishes it) is rewritten in place, not
// replaced through a temp file and a rename, which cost more than the
// batch itself on ext4; it still lists the batch's servers while the batch
// runs.
func TestSyncSavesStateInPlace(t *testing.T) {
	u := newUnit(t, "1h", Config{})
	ctx := u.attach(t, u.render(t, inst("a", 1)))
	u.syncWith(ctx, inst("a", 1), inst("b", 2))
	inode := func() uint64 {
		var st syscall.Stat_t
		if err := syscall.Stat(u.a.stateFile(), &st); err != nil {
			t.Fatal(err)
		}
		return st.Ino
	}
	before := inode()
	var during ownWork
	u.hap.applyErr = func(haproxy.Change) error {
		data, err := os.ReadFile(u.a.stateFile())
		if err == nil {
			err = json.Unmarshal(data, &during)
		}
		return err
	}
	u.syncWith(ctx, inst("a", 1), inst("b", 2), inst("c", 3))
	if !slices.Contains(during.Changing, "ws/c") {
		t.Errorf("state file during the batch: changing %q, want ws/c", during.Changing)
	}
	if inode() != before {
		t.Error("the sync replaced the state file (a new inode), want it rewritten in place")
	}
}

// TestReadmissionWritesNoStateFirst: a readmission of a server the agent
// drained writes no state file before its batch (the drain record already
// makes the server the agent's after a restart): a write in place cost
// ~0.5 ms of the registration's path on a loaded machine. The record goes
// once the server is READY.
func TestReadmissionWritesNoStateFirst(t *testing.T) {
	u := newUnit(t, "1h", Config{})
	ctx := u.attach(t, u.render(t, inst("a", 1), inst("b", 2)))
	u.syncWith(ctx, inst("a", 1), inst("b", 2))
	u.hap.mu.Lock()
	b, _ := u.hap.find("ws", "b")
	b.sessions = []haproxy.SessionID{"0x1"}
	u.hap.mu.Unlock()
	u.syncWith(ctx, inst("a", 1)) // b drains
	stamp := func() int64 {
		var st syscall.Stat_t
		if err := syscall.Stat(u.a.stateFile(), &st); err != nil {
			t.Fatal(err)
		}
		return st.Mtim.Nano()
	}
	before := stamp()
	time.Sleep(10 * time.Millisecond) // a write now would show in the time stamp
	var during int64
	u.hap.applyErr = func(haproxy.Change) error {
		during = stamp()
		return nil
	}
	u.hap.took()
	u.syncWith(ctx, inst("a", 1), inst("b", 2))
	if got := u.hap.took(); !slices.Equal(got, []string{"state ws/b READY"}) {
		t.Fatalf("readmission: %q", got)
	}
	if during != before {
		t.Error("the state file was written before the readmission's batch")
	}
	data, err := os.ReadFile(u.a.stateFile())
	if err != nil || strings.Contains(string(data), "ws/b") {
		t.Errorf("state file once b is READY: %v\n%s", err, data)
	}
}

// TestSyncReadmitReadsOnlyItsSessions: a readmission reads the sessions
// of the server readmitted (haproxy.ChangeReadmit: its row, in the write
// that readmits it), not the `show stat` of its whole backend, which costs
// ten times `show servers state` with 1,000 servers; the readmission still
// sees the server's sessions.
func TestSyncReadmitReadsOnlyItsSessions(t *testing.T) {
	u, ctx, servers := fiftyServers(t)
	u.hap.set("ws", "s07", "10.0.0.8:80", haproxy.FlagForcedMaint, 2)
	u.a.drains[haproxy.Ref{Backend: "ws", Server: "s07"}] = &drainState{started: time.Now(), done: true}
	u.a.retry = true
	u.hap.statRows = 0
	u.syncWith(ctx, servers...)
	if got, want := u.hap.took(), []string{"state ws/s07 READY"}; !slices.Equal(got, want) {
		t.Errorf("readmitting s07 with 2 sessions: %q, want %q", got, want)
	}
	if u.hap.statRows != 1 {
		t.Errorf("the readmission read the sessions of %d servers, want 1 (s07's)", u.hap.statRows)
	}
}

// TestDrainTickReadsOnlyItsServers: while a drain is in progress the
// agent's tick reads every server's state but the sessions of the
// draining server alone — with 1,000 servers the whole `show stat` took
// its loop ~10 ms every second, in the path of the next registration —
// and still moves the drain on once its sessions are gone.
func TestDrainTickReadsOnlyItsServers(t *testing.T) {
	u, ctx, servers := fiftyServers(t)
	u.syncWith(ctx, servers...)
	ref := haproxy.Ref{Backend: "ws", Server: "s07"}
	u.hap.set("ws", "s07", "10.0.0.8:80", haproxy.FlagForcedDrain, 2)
	u.a.drains[ref] = &drainState{started: time.Now()}
	u.hap.statRows, u.hap.calls = 0, nil
	u.a.progressDrains(ctx, u.a.serversOnce(ctx))
	if u.hap.statRows != 1 {
		t.Errorf("the drain tick read the sessions of %d servers, want 1 (s07's)", u.hap.statRows)
	}
	if got := u.hap.took(); len(got) != 0 {
		t.Errorf("s07 with 2 sessions: %q, want nothing done", got)
	}
	u.hap.set("ws", "s07", "10.0.0.8:80", haproxy.FlagForcedDrain, 0)
	u.a.progressDrains(ctx, u.a.serversOnce(ctx))
	if got, want := u.hap.took(), []string{"state ws/s07 MAINT"}; !slices.Equal(got, want) {
		t.Errorf("s07 without sessions: %q, want %q", got, want)
	}
}

// fiftyServers is a unit attached to an HAProxy rendered with 50 servers
// in backend ws (s00…s49), and those servers.
func fiftyServers(t *testing.T) (*unit, context.Context, []discovery.Instance) {
	u := newUnit(t, "1h", Config{})
	var servers []discovery.Instance
	for i := range 50 {
		servers = append(servers, inst(fmt.Sprintf("s%02d", i), i+1))
	}
	return u, u.attach(t, u.render(t, servers...)), servers
}

// TestStateFollowsTheSpec: a state unchanged since the last save is
// written again where a reread spec moved the file (the spec's
// haproxy.state_file decides its directory): skipping the save as
// unchanged would leave a restarted agent, reading the new place, without
// its drains.
func TestStateFollowsTheSpec(t *testing.T) {
	u := newUnit(t, "1h", Config{})
	u.a.drains[haproxy.Ref{Backend: "ws", Server: "a"}] = &drainState{started: time.Unix(1, 0)}
	u.a.saveOwn()
	moved := *u.a.spec
	moved.HAProxy.StateFile = filepath.Join(t.TempDir(), "haproxy.state")
	u.a.spec = &moved
	u.a.saveOwn()
	data, err := os.ReadFile(u.a.stateFile())
	if err != nil || !strings.Contains(string(data), "ws/a") {
		t.Errorf("state at the spec's new place: %v\n%s", err, data)
	}
}

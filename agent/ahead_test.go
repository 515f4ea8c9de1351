package agent

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/wsctl/wsctl/discovery"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/intent"
	"github.com/wsctl/wsctl/model"
)

// TestRegistrationAddedBeforeListing: a server HAProxy did not have at
// the last sync's listing is added before the sync lists the backend (with
// 1,000 servers the listing was ~10 ms of every registration's path), on
// the sync's one connection, and the listing that follows plans nothing
// more for it.
func TestRegistrationAddedBeforeListing(t *testing.T) {
	u, ctx, servers := fiftyServers(t)
	u.syncWith(ctx, servers...)
	listingsAtAdd := -1
	u.hap.applyErr = func(ch haproxy.Change) error {
		if ch.Kind == haproxy.ChangeAdd {
			listingsAtAdd = u.hap.listings
		}
		return nil
	}
	u.hap.listings, u.hap.conns = 0, 0
	u.syncWith(ctx, append(servers, inst("new", 200))...)
	if got := u.hap.took(); !slices.Equal(got, []string{"add ws/new 10.0.0.200:80"}) {
		t.Fatalf("registration: %q, want the add alone", got)
	}
	if listingsAtAdd != 0 {
		t.Errorf("the add came after %d listing(s), want before any", listingsAtAdd)
	}
	if u.hap.listings == 0 {
		t.Error("the sync did not list the backend after the add: nothing else would be planned")
	}
	if u.hap.conns != 1 {
		t.Errorf("the sync opened %d connections, want 1", u.hap.conns)
	}
}

// TestAddAheadOnlyForUnlisted: what HAProxy may have already is planned
// from a listing, never added ahead: a server being drained that registers
// again (it is set READY, not added), a name HAProxy refused to add ahead
// (someone added it by hand: the listing shows it, and the plan follows),
// and an add that failed otherwise (the agent's unfinished batch, which
// HAProxy may half have) is retried after a listing only.
func TestAddAheadOnlyForUnlisted(t *testing.T) {
	u, ctx, servers := fiftyServers(t)
	u.syncWith(ctx, servers...)
	// s1 leaves and drains (sessions keep it), then registers again.
	u.hap.mu.Lock()
	s1, _ := u.hap.find("ws", servers[1].ID)
	s1.sessions = []haproxy.SessionID{"0x1"}
	u.hap.mu.Unlock()
	u.syncWith(ctx, slices.Delete(slices.Clone(servers), 1, 2)...)
	u.hap.took()
	u.syncWith(ctx, servers...)
	if got := u.hap.took(); slices.ContainsFunc(got, func(c string) bool { return c == "add ws/"+servers[1].ID+" 10.0.0.2:80" }) {
		t.Errorf("a draining server registered again: %q, want it readied, not added", got)
	}

	// Someone adds "manual" by hand after the last listing.
	u.hap.set("ws", "manual", "10.0.0.201:80", haproxy.FlagForcedMaint, 0)
	refused := 0 // the fake refuses a name it has, as HAProxy does
	u.hap.applyErr = func(ch haproxy.Change) error {
		if ch.Kind == haproxy.ChangeAdd && ch.Server == "manual" {
			refused++
		}
		return nil
	}
	u.syncWith(ctx, append(slices.Clone(servers), inst("manual", 201))...)
	if refused != 1 {
		t.Fatalf("add ahead of a name HAProxy had: tried %d time(s), want once", refused)
	}
	if got := u.hap.took(); slices.ContainsFunc(got, func(c string) bool { return c == "state ws/manual READY" }) {
		t.Errorf("an operator's server in MAINT: %q, want it left in MAINT", got)
	}

	// An add that failed is retried after a listing only.
	u.hap.applyErr = func(ch haproxy.Change) error {
		if ch.Kind == haproxy.ChangeAdd {
			return errors.New("no memory")
		}
		return nil
	}
	want := append(slices.Clone(servers), inst("manual", 201), inst("late", 202))
	u.hap.listings = 0
	listingsAtAdd := []int{}
	failing := u.hap.applyErr
	u.hap.applyErr = func(ch haproxy.Change) error {
		if ch.Kind == haproxy.ChangeAdd {
			listingsAtAdd = append(listingsAtAdd, u.hap.listings)
		}
		return failing(ch)
	}
	if wait := u.syncWith(ctx, want...); wait == 0 {
		t.Fatal("a sync whose add failed asks for no retry")
	}
	u.a.retry = true // as the loop does when a sync asks for a retry
	u.syncWith(ctx, want...)
	if len(listingsAtAdd) != 3 || listingsAtAdd[2] == listingsAtAdd[1] {
		t.Errorf("listings before each add: %v, want an add ahead and one after the listing, then on the retry only after a listing", listingsAtAdd)
	}
}

// TestReadmissionAheadOfListing: a server the agent drained that registers
// again is readmitted before the sync lists the backend, from its own
// state and sessions read in the write that readmits it
// (haproxy.ChangeReadmit), as the plan would: READY at once with sessions,
// and from the MAINT its drain set, with checks and no session, by the
// drain, health down, ready sequence (as haproxy.Client.Readmit), never READY
// first. An
// operator's intent, or an address that changed, leaves it to the listing
// and the plan.
func TestReadmissionAheadOfListing(t *testing.T) {
	u, ctx, servers := fiftyServers(t)
	u.syncWith(ctx, servers...)
	var listingsAt []int
	u.hap.applyErr = func(ch haproxy.Change) error {
		listingsAt = append(listingsAt, u.hap.listings)
		return nil
	}
	readmit := func(t *testing.T, want ...string) {
		t.Helper()
		u.hap.took()
		u.hap.listings, u.hap.statRows, listingsAt = 0, 0, nil
		u.a.retry = true
		u.syncWith(ctx, servers...)
		if got := u.hap.took(); !slices.Equal(got, want) {
			t.Fatalf("readmission: %q, want %q", got, want)
		}
		if slices.Max(listingsAt) != 0 {
			t.Errorf("listings before each change: %v, want none", listingsAt)
		}
		if u.hap.statRows != 1 {
			t.Errorf("read the sessions of %d servers, want the one readmitted", u.hap.statRows)
		}
	}

	// s01 left with a client on it: DRAIN. s02 has health checks (as
	// listed: HAProxy shows none for a server in MAINT).
	u.hap.mu.Lock()
	s1, _ := u.hap.find("ws", "s01")
	s1.sessions = []haproxy.SessionID{"0x1"}
	s2, _ := u.hap.find("ws", "s02")
	s2.st.Checked = true
	u.hap.mu.Unlock()
	// leave syncs without servers[i]: the agent drains it.
	leave := func(i int) { u.syncWith(ctx, slices.Delete(slices.Clone(servers), i, i+1)...) }
	leave(1)
	readmit(t, "state ws/s01 READY")

	// s02 in the agent's MAINT, checked, without sessions.
	leave(2)
	u.hap.set("ws", "s02", "10.0.0.3:80", haproxy.FlagForcedMaint, 0)
	u.a.drains[haproxy.Ref{Backend: "ws", Server: "s02"}] = &drainState{started: time.Now(), done: true}
	readmit(t, "state ws/s02 DRAIN", "health ws/s02 down", "state ws/s02 READY")

	// s03 drained by the agent, then held by an operator's intent.
	leave(3)
	u.hap.set("ws", "s03", "10.0.0.4:80", haproxy.FlagForcedDrain, 1)
	u.a.drains[haproxy.Ref{Backend: "ws", Server: "s03"}] = &drainState{started: time.Now()}
	if err := u.intents.Put(ctx, intent.Intent{Backend: "ws", Server: "s03", State: haproxy.Drain, Since: time.Now()}); err != nil {
		t.Fatal(err)
	}
	u.hap.took()
	u.a.retry = true
	u.syncWith(ctx, servers...)
	if got := u.hap.took(); len(got) != 0 {
		t.Errorf("a server an intent holds: %q, want it left in DRAIN", got)
	}

	// s04 drained, and back at another port: the plan moves and readmits it.
	leave(4)
	u.hap.set("ws", "s04", "10.0.0.5:80", haproxy.FlagForcedDrain, 1)
	u.a.drains[haproxy.Ref{Backend: "ws", Server: "s04"}] = &drainState{started: time.Now()}
	moved := slices.Clone(servers)
	moved[4].Port = 81
	u.hap.took()
	u.hap.listings, listingsAt = 0, nil
	u.a.retry = true
	u.syncWith(ctx, moved...)
	if got, want := u.hap.took(), []string{"addr ws/s04 10.0.0.5:81", "state ws/s04 READY"}; !slices.Equal(got, want) {
		t.Errorf("a drained server back at another port: %q, want %q", got, want)
	}
	if slices.Min(listingsAt) == 0 {
		t.Errorf("listings before each change: %v, want the plan's listing first", listingsAt)
	}
}

// TestRegistrationAfterRemovalAddedAhead: a server the agent drained and
// deleted, registered again, is added ahead of the listing like any new
// one: HAProxy no longer has it.
func TestRegistrationAfterRemovalAddedAhead(t *testing.T) {
	u, ctx, servers := fiftyServers(t)
	u.syncWith(ctx, servers...)
	u.syncWith(ctx, slices.Delete(slices.Clone(servers), 1, 2)...) // s01 leaves, without sessions
	u.a.progressDrains(ctx, u.a.serversOnce(ctx))
	if got := u.hap.took(); !slices.Contains(got, "delete ws/s01") {
		t.Fatalf("the drain of s01: %q, want it deleted", got)
	}
	listingsAtAdd := -1
	u.hap.applyErr = func(ch haproxy.Change) error {
		if ch.Kind == haproxy.ChangeAdd {
			listingsAtAdd = u.hap.listings
		}
		return nil
	}
	u.hap.listings = 0
	u.syncWith(ctx, servers...)
	if got := u.hap.took(); !slices.Equal(got, []string{"add ws/s01 10.0.0.2:80"}) {
		t.Fatalf("s01 registered again: %q, want it added", got)
	}
	if listingsAtAdd != 0 {
		t.Errorf("the add came after %d listing(s), want before any", listingsAtAdd)
	}
}

// TestOvertakenDrainForgotten: a drain whose server the sync lists READY
// (a readmission that took though it reported an error, or an operator's
// READY by hand) is forgotten before the plan: a server that then leaves
// discovery is drained again, not taken for one draining already.
func TestOvertakenDrainForgotten(t *testing.T) {
	u, ctx, servers := fiftyServers(t)
	u.syncWith(ctx, servers...)
	ref := haproxy.Ref{Backend: "ws", Server: "s07"}
	u.a.drains[ref] = &drainState{started: time.Now()} // and s07 READY
	u.hap.took()
	u.syncWith(ctx, slices.Delete(slices.Clone(servers), 7, 8)...)
	if got := u.hap.took(); !slices.Contains(got, "state ws/s07 DRAIN") {
		t.Errorf("s07, READY with a drain on record, leaving discovery: %q, want it drained", got)
	}
}

// TestAheadModelIsTheModels: the servers aheadModel makes, and their
// backend's settings, are those the whole model has for them, whatever
// changed: a registration, a new port, a new weight, a failing instance,
// instances out of order.
func TestAheadModelIsTheModels(t *testing.T) {
	u, ctx, servers := fiftyServers(t)
	u.syncWith(ctx, servers...)
	weighted := inst("s03", 4)
	weighted.Weight = 7
	failing := inst("s05", 6)
	failing.Healthy = false
	moved := inst("s09", 10)
	moved.Port = 81
	for _, tc := range []struct {
		name string
		snap []discovery.Instance
		want []string // the changed servers' names
	}{
		{"registration", append(slices.Clone(servers), inst("t00", 200)), []string{"t00"}},
		{"changes", slices.Concat(servers[:3], []discovery.Instance{weighted}, servers[4:5], []discovery.Instance{failing}, servers[6:9], []discovery.Instance{moved}, servers[10:]), []string{"s03", "s05", "s09"}},
		{"leaving", servers[1:], nil},
		{"out of order", slices.Concat(servers[1:], servers[:1]), names(servers, func(in discovery.Instance) string { return in.ID })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			snap := map[string][]discovery.Instance{"ws": tc.snap}
			got := u.a.aheadModel(snap)
			if tc.want == nil {
				if got != nil {
					t.Fatalf("aheadModel: %+v, want nil", got)
				}
				return
			}
			whole := u.a.model(model.TargetHAProxy, snap)
			if got == nil || len(got.Backends) != 1 || len(whole.Backends) != 1 {
				t.Fatalf("aheadModel: %+v, want one backend", got)
			}
			gb, wb := got.Backends[0], whole.Backends[0]
			if n := names(gb.Servers, func(s model.Server) string { return s.Name }); !slices.Equal(slices.Sorted(slices.Values(n)), tc.want) {
				t.Errorf("servers %q, want %q", n, tc.want)
			}
			for _, s := range gb.Servers {
				if i := slices.IndexFunc(wb.Servers, func(w model.Server) bool { return w.Name == s.Name }); i < 0 || wb.Servers[i] != s {
					t.Errorf("server %+v is not the model's", s)
				}
			}
			gb.Servers, wb.Servers, gb.NoneEnabled, wb.NoneEnabled = nil, nil, false, false
			if !reflect.DeepEqual(gb, wb) {
				t.Errorf("backend settings %+v, want the model's %+v", gb, wb)
			}
		})
	}
}

// names maps in to each one's name.
func names[T any](in []T, name func(T) string) []string {
	out := make([]string, len(in))
	for i, x := range in {
		out[i] = name(x)
	}
	return out
}

// TestAheadKeepsAnUnfinishedBatch: the ahead's batch taking does not end
// an earlier batch the agent left unfinished: the server that batch left in
// MAINT is still the agent's, and the plan readies it, not taking it for
// an operator's.
func TestAheadKeepsAnUnfinishedBatch(t *testing.T) {
	u, ctx, servers := fiftyServers(t)
	u.syncWith(ctx, servers...)
	u.hap.set("ws", "s05", "10.0.0.6:80", haproxy.FlagForcedMaint, 0)
	u.a.changing[haproxy.Ref{Backend: "ws", Server: "s05"}] = true
	u.hap.took()
	u.syncWith(ctx, append(slices.Clone(servers), inst("new", 200))...)
	got := u.hap.took()
	if !slices.Contains(got, "add ws/new 10.0.0.200:80") || !slices.Contains(got, "state ws/s05 READY") {
		t.Errorf("changes: %q, want new added and the unfinished batch's s05 READY", got)
	}
}

// TestNoAheadAfterSpecChange: after the spec changed, a registration waits
// for the listing (the backend's settings may have changed with it), on the
// sync's one connection; once HAProxy loaded the new spec's model, the next
// one is made ahead again.
func TestNoAheadAfterSpecChange(t *testing.T) {
	u, ctx, servers := fiftyServers(t)
	u.syncWith(ctx, servers...)
	listingsAtAdd := map[string]int{}
	u.hap.applyErr = func(ch haproxy.Change) error {
		if ch.Kind == haproxy.ChangeAdd {
			listingsAtAdd[ch.Server] = u.hap.listings
		}
		return nil
	}
	reread := *u.a.spec
	u.a.spec = &reread
	u.hap.listings, u.hap.conns = 0, 0
	servers = append(servers, inst("new1", 201))
	u.syncWith(ctx, servers...)
	if listingsAtAdd["new1"] == 0 {
		t.Error("a registration after a spec change was added ahead of the listing")
	}
	if u.hap.conns != 1 {
		t.Errorf("the sync after a spec change opened %d connections, want 1", u.hap.conns)
	}
	u.hap.listings = 0
	u.syncWith(ctx, append(servers, inst("new2", 202))...)
	if got, ok := listingsAtAdd["new2"]; !ok || got != 0 {
		t.Errorf("the next registration: added after %d listing(s) (added: %v), want ahead of any", got, ok)
	}
}

package consul

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/wsctl/wsctl/discovery"
)

// fakeConsul answers /v1/health/service/* from a script of responses (the
// last one repeats) and records the index each query asked for.
type fakeConsul struct {
	mu      sync.Mutex
	script  []fakeAnswer
	indexes []string // "" for a query without index
}

type fakeAnswer struct {
	status int // 0: 200
	index  uint64
}

func (f *fakeConsul) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.indexes = append(f.indexes, r.URL.Query().Get("index"))
	a := f.script[min(len(f.indexes), len(f.script))-1]
	f.mu.Unlock()
	if a.status != 0 {
		http.Error(w, "scripted failure", a.status)
		return
	}
	w.Header().Set("X-Consul-Index", strconv.FormatUint(a.index, 10))
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte("[]"))
}

func (f *fakeConsul) asked() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.indexes...)
}

// followFake runs one watcher against a fake Consul for d and returns the
// indexes it asked for.
func followFake(t *testing.T, script []fakeAnswer, d time.Duration) []string {
	t.Helper()
	fake := &fakeConsul{script: script}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	src, err := New(consulSpec(srv.Listener.Addr().String(), backend("chat", "chat")), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	src.minInterval = 100 * time.Millisecond
	src.retryBase, src.retryMax = time.Millisecond, time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	updates := make(chan update, 100)
	src.follow(ctx, src.watches[0], updates)
	return fake.asked()
}

// An index that never advances (a server answering at once) is queried
// again only after the minimum interval, never in a busy loop.
func TestFollowRateLimitsUnchangedIndex(t *testing.T) {
	asked := followFake(t, []fakeAnswer{{index: 5}}, 550*time.Millisecond)
	// One query at once, then one every 100ms: 6 or 7 with timer slack.
	if len(asked) < 3 || len(asked) > 7 {
		t.Errorf("%d queries in 550ms with a 100ms minimum interval: %q", len(asked), asked)
	}
	for i, idx := range asked[1:] {
		if idx != "5" {
			t.Errorf("query %d asked for index %q, want 5", i+1, idx)
		}
	}
}

func TestFollowIndexRules(t *testing.T) {
	script := []fakeAnswer{
		{index: 10},
		{index: 3},              // backwards: reset
		{index: 4},              // from 0: advanced
		{status: 500},           // error: reset
		{index: 0},              // zero: ask for 1
		{index: 8}, {index: 12}, // advancing: block on the latest
	}
	asked := followFake(t, script, 400*time.Millisecond)
	want := []string{"", "10", "", "4", "", "1", "8", "12"}
	if len(asked) < len(want) {
		t.Fatalf("asked %q, want %q first", asked, want)
	}
	for i := range want {
		if asked[i] != want[i] {
			t.Fatalf("asked %q, want %q first", asked, want)
		}
	}
}

// A receiver that is slow gets the newest state, not a queue of stale
// ones, and nothing when the state came back to what it already has; a
// snapshot says when the first answer it carries came in (the agent's
// convergence starts there).
func TestRunReplacesPendingSnapshot(t *testing.T) {
	src := &Source{watches: []watch{{backend: "a"}}}
	updates := make(chan update)
	out := make(chan discovery.Snapshot)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { src.loop(ctx, updates, out); close(done) }()
	defer func() { cancel(); <-done }()

	inst := func(ids ...string) []discovery.Instance {
		var out []discovery.Instance
		for _, id := range ids {
			out = append(out, discovery.Instance{ID: id})
		}
		return out
	}
	t0 := time.Now()
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	updates <- update{backend: "a", instances: inst("x"), arrived: at(1)}
	if snap := <-out; describe(snap) != "a: x=:0-" || !snap.Arrived.Equal(at(1)) {
		t.Fatalf("first: got %q arrived %v, want arrived %v", describe(snap), snap.Arrived, at(1))
	}
	updates <- update{backend: "a", instances: inst("x", "y"), arrived: at(2)}
	updates <- update{backend: "a", instances: inst("x", "y", "z"), arrived: at(3)}
	if snap := <-out; describe(snap) != "a: x=:0- y=:0- z=:0-" || !snap.Arrived.Equal(at(2)) {
		t.Fatalf("second: got %q arrived %v, want the newest state only, arrived with the first answer it carries (%v)", describe(snap), snap.Arrived, at(2))
	}
	updates <- update{backend: "a", instances: inst("x")}
	updates <- update{backend: "a", instances: inst("x", "y", "z")} // back to what was sent
	select {
	case snap := <-out:
		t.Fatalf("got %q, want nothing: the state did not change", describe(snap))
	case <-time.After(50 * time.Millisecond):
	}
}

package loadgen

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestWriteTimelineCSV(t *testing.T) {
	res := Result{Timeline: []Bucket{
		{Connects: 3},
		{},
		{Connects: 1, Closes: 2, Ends: 2},
		{Ends: 2},
	}}
	var b strings.Builder
	if err := res.WriteTimelineCSV(&b); err != nil {
		t.Fatal(err)
	}
	want := "t_ms,connects,closes,live\n" +
		"0,3,0,3\n" +
		"100,0,0,3\n" +
		"200,1,2,2\n" +
		"300,0,0,0\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("timeline CSV (-want +got):\n%s", diff)
	}
}

func TestCollectorTimelineSlots(t *testing.T) {
	start := time.Now().Add(-250 * time.Millisecond) // now falls in slot 2
	s := newCollector(start)
	s.handshakeOK(false)
	s.landed("b1")
	s.ended("b1", "1001", 1)
	res := s.result()
	if len(res.Timeline) != 3 {
		t.Fatalf("timeline has %d slots, want 3", len(res.Timeline))
	}
	if got, want := res.Timeline[2], (Bucket{Connects: 1, Closes: 1, Ends: 1}); got != want {
		t.Errorf("slot 2 = %+v, want %+v", got, want)
	}
	if res.LostEchoes != 1 || res.Dropped != 1 || res.DropsByCode["1001"] != 1 {
		t.Errorf("lost %d, dropped %d, by code %v; want 1, 1, 1001:1", res.LostEchoes, res.Dropped, res.DropsByCode)
	}
}

func TestCollectorPerServer(t *testing.T) {
	s := newCollector(time.Now())
	for range 3 {
		s.handshakeOK(false)
	}
	s.landed("b1")
	s.landed("b2")
	s.ended("b2", "", 0)
	want := map[string]int{"b1": 1, "unknown": 1} // one never greeted
	if diff := cmp.Diff(want, s.perServer()); diff != "" {
		t.Errorf("perServer (-want +got):\n%s", diff)
	}
}

func TestResultJSONKeys(t *testing.T) {
	s := newCollector(time.Now())
	res := s.result()
	res.PerServer = s.perServer()
	data, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	// The documented contract: scripts and other tests read these keys.
	for _, key := range []string{
		"connected", "handshake_failed", "dropped", "drops_by_code", "reconnects",
		"sent", "echoed", "lost_echoes", "per_server", "landings",
		"echo_p50_ms", "echo_p99_ms", "duration_ms", "interrupted",
	} {
		if _, ok := got[key]; !ok {
			t.Errorf("JSON lacks key %q: %s", key, data)
		}
	}
	for _, key := range []string{"drops_by_code", "per_server", "landings"} {
		if _, isMap := got[key].(map[string]any); !isMap {
			t.Errorf("%s = %v, want an object even when empty", key, got[key])
		}
	}
	if _, ok := got["Timeline"]; ok {
		t.Error("the timeline leaked into the JSON")
	}
}

func TestWriteText(t *testing.T) {
	res := Result{
		Connected: 12, Reconnects: 2, Dropped: 3,
		DropsByCode: map[string]int{"abrupt": 1, "1001": 2},
		Sent:        40, Echoed: 39, LostEchoes: 1,
		PerServer:       map[string]int{"b2": 5, "b1": 5},
		HandshakeFailed: 1,
		FirstError:      "handshake: 503 Service Unavailable: websocket: bad handshake",
		Interrupted:     true,
		EchoP50Ms:       0.25, EchoP99Ms: 1.5,
		DurationMs: 5000,
	}
	var b strings.Builder
	if err := res.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := `connected         12 (reconnects 2)
handshake_failed  1 (first: handshake: 503 Service Unavailable: websocket: bad handshake)
dropped           3 (1001=2 abrupt=1)
echoes            39/40 (lost 1)
echo latency      p50 0.250ms p99 1.500ms
per_server        b1=5 b2=5
landings          -
duration          5s (interrupted)
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("text output (-want +got):\n%s", diff)
	}
}

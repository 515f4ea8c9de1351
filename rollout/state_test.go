package rollout

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/wsctl/wsctl/discovery"
	"github.com/wsctl/wsctl/spec"
)

// validState is a state a rollout with a surge writes while the second
// server waits to be deployed.
const validState = `{"backend": "ws", "order": ["s1", "s2", "s3"], "index": 1, "phase": "deploy", "paused": true,
 "surge": "s4", "surge_up": true, "held": ["s3", "s4"],
 "steps": [{"server": "s1", "step": 1, "of": 3, "landing": ["s4"], "held": ["s2", "s3"], "sessions_before": 10, "cuts": 10,
   "drain": "drained", "started": "2025-01-01T00:00:00Z"}],
 "current": {"server": "s2", "step": 2, "of": 3, "landing": ["s1"], "held": ["s3", "s4"], "sessions_before": 15, "cuts": 15,
   "drain": "drained", "started": "2025-01-01T00:01:00Z"},
 "started": "2025-01-01T00:00:00Z"}`

// TestDecodeState: the states Run writes are taken; each field a hostile
// or damaged file gets wrong is refused, naming the file and the field.
func TestDecodeState(t *testing.T) {
	good := []struct {
		name, state string
	}{
		{"paused with a surge", validState},
		{"new", `{"backend": "ws", "order": ["s1"], "index": 0, "phase": "drain", "steps": []}`},
		{"every server deployed, holds left", `{"backend": "ws", "order": ["s1"], "index": 1, "phase": "drain",
			"steps": [{"server": "s1", "step": 1, "of": 1, "held": []}]}`},
		{"removing the surge", `{"backend": "ws", "order": ["s1"], "index": 1, "phase": "drain", "surge": "s2", "surge_up": true,
			"held": ["s2"], "steps": [{"server": "s1", "step": 1, "of": 1}],
			"current": {"server": "s2", "step": 2, "of": 1, "surge": true, "landing": ["s1"], "held": []}}`},
		{"surge removed, holds left", `{"backend": "ws", "order": ["s1"], "index": 1, "phase": "drain", "surge": "s2",
			"steps": [{"server": "s1", "step": 1, "of": 1}, {"server": "s2", "step": 2, "of": 1, "surge": true}]}`},
	}
	for _, tt := range good {
		if _, err := decodeCheckpoint("state.json", []byte(tt.state)); err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
	}

	bad := []struct {
		name string
		edit func(m map[string]any)
		want string
	}{
		{"newline in a name", func(m map[string]any) { m["order"] = []any{"s1", "s2\nWSCTL_ADDRESS=x", "s3"} }, `order[1]: "s2\nWSCTL_ADDRESS=x" is not a server name`},
		{"command substitution", func(m map[string]any) { m["order"] = []any{"$(touch /tmp/x)", "s2", "s3"} }, "order[0]: "},
		{"dash first", func(m map[string]any) { m["order"] = []any{"s1", "-rf", "s3"} }, "order[1]: "},
		{"duplicated order", func(m map[string]any) { m["order"] = []any{"s1", "s2", "s1"} }, "order[2]: s1 is listed twice (order[0])"},
		{"no server", func(m map[string]any) { m["order"] = []any{} }, "order: no server"},
		{"bad backend", func(m map[string]any) { m["backend"] = "ws;shutdown" }, "backend: "},
		{"index past the end", func(m map[string]any) { m["index"] = 4 }, "index: 4 is outside 0-3"},
		{"negative index", func(m map[string]any) { m["index"] = -1 }, "index: -1"},
		{"unknown phase", func(m map[string]any) { m["phase"] = "boom" }, `phase: "boom"`},
		{"paused while draining", func(m map[string]any) { m["phase"] = "drain" }, "paused: in phase drain"},
		{"surge also in the order", func(m map[string]any) { m["surge"] = "s3" }, "surge: s3 is also order[2]"},
		{"surge up without a surge", func(m map[string]any) { m["surge"] = ""; m["held"] = []any{"s3"} }, "surge_up: no surge"},
		{"every server held", func(m map[string]any) { m["held"] = []any{"s1", "s2", "s3", "s4"} }, "held[0]: s1 is neither still to be deployed nor the surge"},
		{"held twice", func(m map[string]any) { m["held"] = []any{"s3", "s3"} }, "held[1]: s3 is listed twice"},
		{"a step missing", func(m map[string]any) { m["steps"] = []any{} }, "steps: 0, want 1 with index 1"},
		{"a step of another server", func(m map[string]any) { step(m, "steps", 0)["server"] = "s2" }, `steps[0].server: "s2", want s1`},
		{"a step numbered wrong", func(m map[string]any) { step(m, "steps", 0)["of"] = 9 }, "steps[0]: step 1 of 9, want 1 of 3"},
		{"negative cuts", func(m map[string]any) { step(m, "steps", 0)["cuts"] = -5 }, "steps[0]: negative"},
		{"unknown outcome", func(m map[string]any) { step(m, "steps", 0)["drain"] = "fine" }, `steps[0].drain: "fine"`},
		{"landing elsewhere", func(m map[string]any) { step(m, "steps", 0)["landing"] = []any{"s9"} }, "steps[0].landing[0]: s9 is not a server of the rollout"},
		{"fallback with a newline", func(m map[string]any) { step(m, "steps", 0)["fallback"] = "a\nb" }, "steps[0].fallback: "},
		{"no current in phase deploy", func(m map[string]any) { delete(m, "current") }, "current: none in phase deploy"},
		{"current of another server", func(m map[string]any) { step(m, "current", -1)["server"] = "s3" }, `current.server: "s3", want s2`},
		{"current held hostile", func(m map[string]any) { step(m, "current", -1)["held"] = []any{"a b"} }, `current.held[0]: "a b" is not a server name`},
		{"empty", func(m map[string]any) { clear(m) }, "backend: "},
	}
	if _, err := decodeCheckpoint("/run/x/state.json", []byte("{\"backend\": ")); !errors.Is(err, ErrDamagedState) {
		t.Errorf("half a file: %v, want ErrDamagedState", err)
	}
	for _, tt := range bad {
		var m map[string]any
		if err := json.Unmarshal([]byte(validState), &m); err != nil {
			t.Fatal(err)
		}
		tt.edit(m)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		s, err := decodeCheckpoint("/run/x/state.json", b)
		if s != nil || !errors.Is(err, ErrDamagedState) || !strings.Contains(err.Error(), "/run/x/state.json: "+tt.want) {
			t.Errorf("%s: state %v, error %v; want ErrDamagedState naming the file and %q", tt.name, s, err, tt.want)
		}
	}
}

// step returns the step object at m[field] (index i of a list, or -1).
func step(m map[string]any, field string, i int) map[string]any {
	if i < 0 {
		return m[field].(map[string]any)
	}
	return m[field].([]any)[i].(map[string]any)
}

// FuzzRolloutState checks that no state file makes the decoder panic, that
// it returns a state or an error, and that a state it takes holds only
// plain server names, lets Where run and is the same once saved and loaded
// again. The seeds run with every go test (f.Add and
// testdata/fuzz/FuzzRolloutState); make fuzz runs it for longer.
func FuzzRolloutState(f *testing.F) {
	f.Add([]byte(validState))
	f.Add([]byte(`{"backend": "ws", "order": ["s1", "s1"], "index": 1, "phase": "deploy"}`))
	f.Add([]byte(`{"backend": "ws", "order": ["s1", "s2"], "index": 0, "phase": "deploy", "held": ["s1", "s2"]}`))
	f.Add([]byte(`{"backend": "ws", "order": ["s1", "$(id)"], "index": 2, "phase": "drain", "surge": "s3", "surge_up": true}`))
	f.Add([]byte(`{"backend": "ws", "order": ["s1"], "index": 1, "phase": "readmit", "current": null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := decodeCheckpoint("fuzz.json", data)
		if (s == nil) == (err == nil) {
			t.Fatalf("decodeCheckpoint returned state %v and error %v", s, err)
		}
		if s == nil {
			return
		}
		_ = s.Where()
		names := append(append([]string{s.server()}, s.Order...), s.Held...)
		for _, n := range names {
			if n != "" && !discovery.NamePattern.MatchString(n) {
				t.Fatalf("taken: name %q", n)
			}
		}
		if (s.Phase == PhaseDeploy || s.Phase == PhaseReadmit) && s.Current == nil {
			t.Fatalf("taken: phase %s without a step in progress", s.Phase)
		}
		// Saved (as save encodes it, without the disk: fsyncs would
		// make the fuzzing crawl) and loaded again, it is the same.
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		again, err := decodeCheckpoint("fuzz.json", b)
		if err != nil {
			t.Fatalf("saved and loaded again: %v", err)
		}
		if b2, _ := json.Marshal(again); string(b2) != string(b) {
			t.Fatalf("saved and loaded again:\n%s\nwant\n%s", b2, b)
		}
	})
}

// TestDefaultStatePath: without --state a rollout keeps its place beside
// haproxy.state_file, one file per backend.
func TestDefaultStatePath(t *testing.T) {
	sp := &spec.Spec{HAProxy: spec.HAProxy{StateFile: "/var/lib/wsctl/server-state"}}
	if got, want := DefaultStatePath(sp, "ws"), "/var/lib/wsctl/wsctl-rollout-ws.json"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

package rollout

import (
	"slices"
	"strings"
	"testing"
)

func TestOrderEmptiestFirst(t *testing.T) {
	loads := []Load{{"a": 5, "b": 1, "c": 3, "d": 1}, {"a": 0, "b": 4, "c": 0}}
	if got := Order([]string{"a", "b", "c", "d"}, loads); !slices.Equal(got, []string{"d", "c", "a", "b"}) {
		t.Errorf("order %v, want d (1), c (3), a and b (5 each, by name)", got)
	}
}

func TestChoose(t *testing.T) {
	loads := []Load{{"s1": 10, "s2": 15, "s3": 15}}
	cases := []struct {
		name          string
		server        string
		deployed, old []string
		ceiling       int64
		want          Landing
		fallback      bool
	}{
		{"first server: onto the old ones", "s1", nil, []string{"s2", "s3"}, 0,
			Landing{Servers: []string{"s2", "s3"}}, false},
		{"then onto the deployed only", "s2", []string{"s1"}, []string{"s3"}, 0,
			Landing{Servers: []string{"s1"}, Held: []string{"s3"}}, false},
		{"within the ceiling", "s2", []string{"s1"}, []string{"s3"}, 25,
			Landing{Servers: []string{"s1"}, Held: []string{"s3"}}, false},
		{"above it: plain order", "s2", []string{"s1"}, []string{"s3"}, 24,
			Landing{Servers: []string{"s1", "s3"}}, true},
		{"the ceiling counts every deployed server", "s3", []string{"s1", "s2"}, nil, 20,
			Landing{Servers: []string{"s1", "s2"}, Held: []string{}}, false},
	}
	for _, c := range cases {
		got := Choose(c.server, c.deployed, c.old, loads, c.ceiling)
		if (got.Fallback != "") != c.fallback {
			t.Errorf("%s: fallback %q", c.name, got.Fallback)
		}
		if !slices.Equal(got.Servers, c.want.Servers) || !slices.Equal(got.Held, c.want.Held) {
			t.Errorf("%s: landing %v held %v, want %v held %v", c.name, got.Servers, got.Held, c.want.Servers, c.want.Held)
		}
	}
	// Any socket over the ceiling is enough, and the message says which.
	got := Choose("s2", []string{"s1"}, []string{"s3"}, []Load{{"s1": 1, "s2": 1}, {"s1": 20, "s2": 10}}, 25)
	if !strings.Contains(got.Fallback, "30 WebSockets on socket 2, above their ceiling of 25") {
		t.Errorf("fallback %q", got.Fallback)
	}
}

package consul

import (
	"testing"
	"time"
)

func TestNextIndex(t *testing.T) {
	tests := []struct {
		name         string
		prev, got    uint64
		want         uint64
		wantAdvanced bool
	}{
		{name: "first answer", prev: 0, got: 42, want: 42, wantAdvanced: true},
		{name: "change", prev: 42, got: 50, want: 50, wantAdvanced: true},
		{name: "timeout", prev: 42, got: 42, want: 42},
		{name: "backwards resets", prev: 42, got: 7, want: 0},
		{name: "zero from server", prev: 0, got: 0, want: 1},
		{name: "zero after an index resets", prev: 42, got: 0, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, advanced := nextIndex(tt.prev, tt.got)
			if got != tt.want || advanced != tt.wantAdvanced {
				t.Errorf("nextIndex(%d, %d) = %d, %v; want %d, %v", tt.prev, tt.got, got, advanced, tt.want, tt.wantAdvanced)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	base, limit := 250*time.Millisecond, 30*time.Second
	tests := []struct {
		failures int
		ceiling  time.Duration
	}{
		{failures: 0, ceiling: base},
		{failures: 1, ceiling: base},
		{failures: 2, ceiling: 2 * base},
		{failures: 4, ceiling: 8 * base},
		{failures: 8, ceiling: limit},
		{failures: 100, ceiling: limit},
	}
	for _, tt := range tests {
		minSeen, maxSeen := tt.ceiling, time.Duration(0)
		for range 2000 {
			d := backoff(tt.failures, base, limit)
			if d < 0 || d >= tt.ceiling {
				t.Fatalf("backoff(%d) = %s, want in [0, %s)", tt.failures, d, tt.ceiling)
			}
			minSeen, maxSeen = min(minSeen, d), max(maxSeen, d)
		}
		// Full jitter spreads over the whole range.
		if minSeen > tt.ceiling/4 || maxSeen < tt.ceiling*3/4 {
			t.Errorf("backoff(%d): 2000 draws in [%s, %s], want them spread over [0, %s)", tt.failures, minSeen, maxSeen, tt.ceiling)
		}
	}
}

package pace

import (
	"testing"
	"time"
)

func TestPacerSpacesSlots(t *testing.T) {
	now := time.Unix(1000, 0)
	far := now.Add(time.Hour)
	tests := []struct {
		name string
		p    *Pacer
		want time.Duration // between two slots asked for at once
	}{
		{name: "10 a second", p: New(10), want: 100 * time.Millisecond},
		{name: "4 a second", p: New(4), want: 250 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first, ok := tt.p.Reserve(now, far)
			if !ok || !first.Equal(now) {
				t.Fatalf("first slot %v, %v; want now", first, ok)
			}
			second, ok := tt.p.Reserve(now, far)
			if !ok || second.Sub(first) != tt.want {
				t.Errorf("second slot %v after the first, want %v", second.Sub(first), tt.want)
			}
			if _, ok := tt.p.Reserve(now, now); ok {
				t.Error("a slot past the limit was handed out")
			}
		})
	}
	// No burst after a pause: the next slot is now, not the missed ones.
	p := New(10)
	p.Reserve(now, far)
	later := now.Add(time.Minute)
	if got, _ := p.Reserve(later, far); !got.Equal(later) {
		t.Errorf("after a pause the slot is %v, want now", got.Sub(later))
	}
	if got, _ := p.Reserve(later, far); got.Sub(later) != 100*time.Millisecond {
		t.Errorf("the slot after that is %v later, want 100ms", got.Sub(later))
	}
}

// TestBusyCallerKeepsTheRate: a caller whose every action takes longer
// than the interval between slots (a close is two round trips to a busy
// HAProxy) takes, when it is free again, every slot that came meanwhile
// and acts on them together, so it keeps the rate; a slot missed by more
// than Late is still gone (see the pause tests).
func TestBusyCallerKeepsTheRate(t *testing.T) {
	const rate = 1000
	start := time.Unix(1000, 0)
	tests := []struct {
		name  string
		slots Slots
	}{
		{name: "pacer", slots: New(rate)},
		{name: "schedule", slots: NewScheduled(Schedule{Start: start, Rate: rate}, func() Part { return Part{0, 1} })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now, end := start, start.Add(time.Second)
			taken := 0
			for now.Before(end) {
				slot, ok := tt.slots.Reserve(now, end)
				if !ok {
					break
				}
				now = later(now, slot)
				batch := 1
				for {
					if _, ok := tt.slots.Reserve(now, now); !ok {
						break
					}
					batch++
				}
				taken += batch
				now = now.Add(3 * time.Millisecond) // the batch's round trips
			}
			if want := rate - 5; taken < want {
				t.Errorf("took %d slots in a second at %d a second, each batch taking 3 ms; want at least %d", taken, rate, want)
			}
		})
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// TestSlowRateKeepsNoLateSlot: at 50 a second a caller 5 ms late gets
// now, not the slot it missed, so the slot after is a whole interval after
// what it acted at: a 100 ms window holds 5 closes, never the 6 that a
// saved slot next to the due ones makes (its 20 % margin is one close).
func TestSlowRateKeepsNoLateSlot(t *testing.T) {
	const rate = 50
	start := time.Unix(1000, 0)
	far := start.Add(time.Hour)
	for name, slots := range map[string]Slots{
		"pacer":    New(rate),
		"schedule": NewScheduled(Schedule{Start: start, Rate: rate}, func() Part { return Part{0, 1} }),
	} {
		t.Run(name, func(t *testing.T) {
			if _, ok := slots.Reserve(start, far); !ok {
				t.Fatal("no first slot")
			}
			late := start.Add(25 * time.Millisecond) // the 20 ms slot missed by 5 ms
			got, _ := slots.Reserve(late, far)
			if got.Before(late) {
				t.Errorf("a slot %v before now was handed out at %g a second", late.Sub(got), float64(rate))
			}
		})
	}
}

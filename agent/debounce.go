package agent

import "time"

// debounce decides when the loop syncs. A snapshot that arrives after a
// quiet spell (no sync pending, none for MinQuiet) is applied at once: the
// leading edge. One that arrives while a sync is due at once joins it (the
// sync takes the latest snapshots). Others wait until no snapshot arrived
// for MinQuiet, at most MaxQuiet after the first, and are applied together.
type debounce struct {
	minQuiet, maxQuiet time.Duration
	// quiet and deadline are the pending sync's timers (nil: none).
	quiet, deadline *time.Timer
	// atOnce is set while the pending sync is due at once.
	atOnce bool
	// lastSync is when the last sync that ran ended.
	lastSync time.Time
}

// changed schedules the sync for a snapshot that arrived at now.
func (d *debounce) changed(now time.Time) {
	switch {
	case d.atOnce:
	case d.quiet == nil && now.Sub(d.lastSync) >= d.minQuiet:
		d.schedule(0)
	default:
		d.schedule(d.minQuiet)
	}
}

// schedule makes the pending sync come after wait, or starts one; a
// pending sync's MaxQuiet deadline stands.
func (d *debounce) schedule(wait time.Duration) {
	d.atOnce = wait == 0
	if d.quiet == nil {
		d.quiet = time.NewTimer(wait)
		d.deadline = time.NewTimer(max(wait, d.maxQuiet))
		return
	}
	d.quiet.Reset(wait)
}

// stop forgets the pending sync: it is running.
func (d *debounce) stop() {
	for _, t := range []*time.Timer{d.quiet, d.deadline} {
		if t != nil {
			t.Stop()
		}
	}
	d.quiet, d.deadline, d.atOnce = nil, nil, false
}

// channels are the pending sync's timers' channels (nil without one).
func (d *debounce) channels() (quiet, deadline <-chan time.Time) {
	if d.quiet == nil {
		return nil, nil
	}
	return d.quiet.C, d.deadline.C
}

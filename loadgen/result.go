package loadgen

import (
	"encoding/csv"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is what a run measured. Its JSON keys are documented in the
// package doc and are a contract; the maps are never nil.
type Result struct {
	Connected       int            `json:"connected"`
	HandshakeFailed int            `json:"handshake_failed"`
	FirstError      string         `json:"first_handshake_error,omitempty"`
	Dropped         int            `json:"dropped"`
	DropsByCode     map[string]int `json:"drops_by_code"`
	Reconnects      int            `json:"reconnects"`
	Sent            int            `json:"sent"`
	Echoed          int            `json:"echoed"`
	LostEchoes      int            `json:"lost_echoes"`
	PerServer       map[string]int `json:"per_server"`
	Landings        map[string]int `json:"landings"`
	EchoP50Ms       float64        `json:"echo_p50_ms"`
	EchoP99Ms       float64        `json:"echo_p99_ms"`
	DurationMs      int64          `json:"duration_ms"`
	Interrupted     bool           `json:"interrupted"`
	// Timeline has one Bucket per 100ms since the start of the run.
	Timeline []Bucket `json:"-"`
}

// WriteText prints the result for a human, one figure a line.
func (r Result) WriteText(w io.Writer) error {
	failed := strconv.Itoa(r.HandshakeFailed)
	if r.FirstError != "" {
		failed += " (first: " + r.FirstError + ")"
	}
	dur := (time.Duration(r.DurationMs) * time.Millisecond).String()
	if r.Interrupted {
		dur += " (interrupted)"
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "connected\t%d (reconnects %d)\n", r.Connected, r.Reconnects)
	fmt.Fprintf(tw, "handshake_failed\t%s\n", failed)
	fmt.Fprintf(tw, "dropped\t%d (%s)\n", r.Dropped, formatCounts(r.DropsByCode))
	fmt.Fprintf(tw, "echoes\t%d/%d (lost %d)\n", r.Echoed, r.Sent, r.LostEchoes)
	fmt.Fprintf(tw, "echo latency\tp50 %.3fms p99 %.3fms\n", r.EchoP50Ms, r.EchoP99Ms)
	fmt.Fprintf(tw, "per_server\t%s\n", formatCounts(r.PerServer))
	fmt.Fprintf(tw, "landings\t%s\n", formatCounts(r.Landings))
	fmt.Fprintf(tw, "duration\t%s\n", dur)
	return tw.Flush()
}

// formatCounts renders a map as "a=1 b=2", sorted by key, or "-" when empty.
func formatCounts(m map[string]int) string {
	if len(m) == 0 {
		return "-"
	}
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

// WriteTimelineCSV writes the timeline as CSV with a header row:
// t_ms,connects,closes,live. t_ms is the start of the 100ms slot, closes
// counts drops and live the connections open at the end of the slot.
func (r Result) WriteTimelineCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"t_ms", "connects", "closes", "live"}); err != nil {
		return fmt.Errorf("timeline: %w", err)
	}
	live := 0
	for i, b := range r.Timeline {
		live += b.Connects - b.Ends
		row := []string{
			strconv.FormatInt(int64(i)*slot.Milliseconds(), 10),
			strconv.Itoa(b.Connects),
			strconv.Itoa(b.Closes),
			strconv.Itoa(live),
		}
		if err := cw.Write(row); err != nil {
			return fmt.Errorf("timeline: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("timeline: %w", err)
	}
	return nil
}

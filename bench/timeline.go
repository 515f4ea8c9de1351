package bench

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"

	"github.com/wsctl/wsctl/loadgen"
)

// Row is one 100 ms slot of a run: handshakes, drops and the connections
// open at its end. TMs is the start of the slot since the start of the run.
type Row struct {
	TMs      int64
	Connects int
	Closes   int
	Live     int
}

// RowsFromBuckets turns a loadgen timeline into rows.
func RowsFromBuckets(buckets []loadgen.Bucket) []Row {
	rows := make([]Row, len(buckets))
	live := 0
	for i, b := range buckets {
		live += b.Connects - b.Ends
		rows[i] = Row{TMs: int64(i) * 100, Connects: b.Connects, Closes: b.Closes, Live: live}
	}
	return rows
}

// ParseTimelineCSV reads the CSV that loadgen.Result.WriteTimelineCSV (and
// wsload --timeline) writes.
func ParseTimelineCSV(r io.Reader) ([]Row, error) {
	recs, err := csv.NewReader(r).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("bench: timeline: %w", err)
	}
	if len(recs) == 0 || len(recs[0]) != 4 || recs[0][0] != "t_ms" {
		return nil, fmt.Errorf("bench: timeline: no t_ms,connects,closes,live header")
	}
	rows := make([]Row, 0, len(recs)-1)
	for i, rec := range recs[1:] {
		var n [4]int64
		for j, f := range rec {
			v, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("bench: timeline: row %d: %w", i+1, err)
			}
			n[j] = v
		}
		rows = append(rows, Row{TMs: n[0], Connects: int(n[1]), Closes: int(n[2]), Live: int(n[3])})
	}
	return rows, nil
}

// ReadTimelineCSV is ParseTimelineCSV of the file at path.
func ReadTimelineCSV(path string) ([]Row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("bench: timeline: %w", err)
	}
	defer f.Close()
	return ParseTimelineCSV(f)
}

// SumRows adds timelines of processes that started together, slot by slot.
// A timeline that ended early keeps its last live count.
func SumRows(timelines ...[]Row) []Row {
	n := 0
	for _, t := range timelines {
		n = max(n, len(t))
	}
	out := make([]Row, n)
	for i := range out {
		out[i].TMs = int64(i) * 100
		for _, t := range timelines {
			switch {
			case i < len(t):
				out[i].Connects += t[i].Connects
				out[i].Closes += t[i].Closes
				out[i].Live += t[i].Live
			case len(t) > 0:
				out[i].Live += t[len(t)-1].Live
			}
		}
	}
	return out
}

// Peak returns the largest value of field over rows[from:to] (slot indexes,
// clamped).
func Peak(rows []Row, from, to int, field func(Row) int) int {
	from, to = max(from, 0), min(to, len(rows))
	best := 0
	for i := from; i < to; i++ {
		best = max(best, field(rows[i]))
	}
	return best
}

// Sum returns the sum of field over rows[from:to] (slot indexes, clamped).
func Sum(rows []Row, from, to int, field func(Row) int) int {
	from, to = max(from, 0), min(to, len(rows))
	n := 0
	for i := from; i < to; i++ {
		n += field(rows[i])
	}
	return n
}

// Window returns rows[from:to] (slot indexes, clamped) as a timeline of
// its own, starting at 0, and the marks that fall in it, shifted the same.
// The inputs are left alone.
func Window(rows []Row, marks []Mark, from, to int) ([]Row, []Mark) {
	from, to = max(from, 0), min(to, len(rows))
	if from >= to {
		return nil, nil
	}
	out := slices.Clone(rows[from:to])
	for i := range out {
		out[i].TMs = int64(i) * 100
	}
	var ms []Mark
	for _, m := range marks {
		if m.TMs -= int64(from) * 100; m.TMs >= 0 && m.TMs < int64(to-from)*100 {
			ms = append(ms, m)
		}
	}
	return out, ms
}

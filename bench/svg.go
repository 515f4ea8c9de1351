package bench

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"strings"
)

// Mark is a labelled instant on a plot, e.g. "drain backend1".
type Mark struct {
	TMs   int64
	Label string
}

// plot geometry, in SVG user units.
const (
	plotW, plotH             = 900, 360
	padL, padR, padT, padB   = 60, 70, 40, 40
	innerW, innerH           = plotW - padL - padR, plotH - padT - padB
	colConnects, colCloses   = "#2a9d2a", "#d62728"
	colLive, colMark, colAxe = "#1f5fbf", "#888888", "#333333"
)

// WriteSVG plots rows: connects and closes per 100 ms on the left axis,
// live connections on the right one, marks as dashed vertical lines.
func WriteSVG(w io.Writer, title string, rows []Row, marks []Mark) error {
	bw := bufio.NewWriter(w)
	end := int64(100)
	if len(rows) > 0 {
		end = rows[len(rows)-1].TMs + 100
	}
	perSlot, live := 1, 1
	for _, r := range rows {
		perSlot = max(perSlot, r.Connects, r.Closes)
		live = max(live, r.Live)
	}
	perSlot, live = niceCeil(perSlot), niceCeil(live)
	x := func(t int64) float64 { return padL + float64(t)/float64(end)*innerW }
	yl := func(v int) float64 { return padT + innerH - float64(v)/float64(perSlot)*innerH }
	yr := func(v int) float64 { return padT + innerH - float64(v)/float64(live)*innerH }

	fmt.Fprintf(bw, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n", plotW, plotH, plotW, plotH)
	fmt.Fprintf(bw, `<rect width="%d" height="%d" fill="white"/>`+"\n", plotW, plotH)
	fmt.Fprintf(bw, `<text x="%d" y="18" font-size="13">%s</text>`+"\n", padL, html.EscapeString(title))
	// Axes and ticks: five steps on each side, time every tenth of the run.
	fmt.Fprintf(bw, `<path d="M%d %d V%d H%d V%d" fill="none" stroke="%s"/>`+"\n", padL, padT, padT+innerH, padL+innerW, padT, colAxe)
	for i := 0; i <= 5; i++ {
		y := padT + innerH - float64(i)/5*innerH
		fmt.Fprintf(bw, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#eee"/>`+"\n", padL, padL+innerW, y, y)
		fmt.Fprintf(bw, `<text x="%d" y="%.1f" text-anchor="end" fill="%s">%d</text>`+"\n", padL-4, y+4, colAxe, perSlot*i/5)
		fmt.Fprintf(bw, `<text x="%d" y="%.1f" fill="%s">%d</text>`+"\n", padL+innerW+4, y+4, colLive, live*i/5)
	}
	for i := 0; i <= 10; i++ {
		t := end * int64(i) / 10
		fmt.Fprintf(bw, `<text x="%.1f" y="%d" text-anchor="middle">%.1fs</text>`+"\n", x(t), padT+innerH+14, float64(t)/1000)
	}
	fmt.Fprintf(bw, `<text x="%d" y="%d">per 100 ms</text><text x="%d" y="%d" text-anchor="end" fill="%s">live</text>`+"\n",
		padL-50, padT-8, padL+innerW+60, padT-8, colLive)
	for _, m := range marks {
		fmt.Fprintf(bw, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="%s" stroke-dasharray="4 3"/>`+"\n", x(m.TMs), x(m.TMs), padT, padT+innerH, colMark)
		fmt.Fprintf(bw, `<text x="%.1f" y="%d" fill="%s" text-anchor="end" transform="rotate(-90 %.1f %d)">%s</text>`+"\n",
			x(m.TMs)+10, padT+4, colMark, x(m.TMs)+10, padT+4, html.EscapeString(m.Label))
	}
	line := func(color string, y func(Row) float64) {
		var b strings.Builder
		for i, r := range rows {
			if i > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%.1f,%.1f", x(r.TMs+50), y(r))
		}
		fmt.Fprintf(bw, `<polyline fill="none" stroke="%s" stroke-width="1.2" points="%s"/>`+"\n", color, b.String())
	}
	line(colConnects, func(r Row) float64 { return yl(r.Connects) })
	line(colCloses, func(r Row) float64 { return yl(r.Closes) })
	line(colLive, func(r Row) float64 { return yr(r.Live) })
	// Legend.
	for i, l := range []struct{ color, text string }{
		{colConnects, "connects / 100 ms"}, {colCloses, "closes (drops) / 100 ms"}, {colLive, "live connections (right axis)"},
	} {
		lx := padL + 200 + i*190
		fmt.Fprintf(bw, `<rect x="%d" y="%d" width="12" height="3" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n", lx, 30, l.color, lx+16, 34, l.text)
	}
	fmt.Fprintln(bw, `</svg>`)
	return bw.Flush()
}

// niceCeil rounds n up to 1, 2 or 5 times a power of ten.
func niceCeil(n int) int {
	p := 1
	for {
		for _, m := range []int{1, 2, 5} {
			if m*p >= n {
				return m * p
			}
		}
		p *= 10
	}
}

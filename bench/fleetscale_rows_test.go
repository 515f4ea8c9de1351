package bench

import (
	"flag"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

var scaleRowsFlag = flag.String("bench-fleetscale-rows", "",
	"Fleet at scale: run only these rows, comma-separated `NxC@R[+rollout][+cluster]` (N load balancers of C WebSockets each, "+
		"drained at R/s; +rollout adds a fleet rollout, +cluster three Consul servers), e.g. 1x5000@500,10x3000@1000+rollout; "+
		"a full run writes them to the section fleetscale-rerun")

// The rows of the "Fleet at scale" table, in order: the old sizes,
// then N = 1, 5, 10, 20 with 5,000 WebSockets per load balancer at both
// rates (the rollout once per size, at the higher rate), then the 3-server
// Consul variant. Smoke: two tiny fleets, each with its rollout.
const (
	fullScaleRows = "10x500@500,20x500@500,10x3000@1000," +
		"1x5000@500,1x5000@1000+rollout,5x5000@500,5x5000@1000+rollout," +
		"10x5000@500,10x5000@1000+rollout,20x5000@500,20x5000@1000+rollout," +
		"10x3000@1000+cluster"
	smokeScaleRows = "1x20@50+rollout,2x20@50+rollout"
)

// maxPerLB is the most WebSockets a row may put on one load balancer: the
// spec it renders says `connections: 6000` (HAProxy's maxconn is that
// +10 %), and one HAProxy process holds at most ~9,980 here anyway (two
// descriptors a WebSocket, 20,000 per process).
const maxPerLB = 6000

// scaleCase is one row of the "Fleet at scale" scenario.
type scaleCase struct {
	lbs, perLB int
	rate       float64
	rollout    bool // a fleet rollout of every server after the drain
	cluster    bool // three Consul servers instead of one dev agent
}

func (c scaleCase) total() int { return c.lbs * c.perLB }

// backendCap is the most WebSockets a row plans on one wsecho process. A
// process may open 20,000 descriptors (one a WebSocket), and a rollout
// lands a server's clients on the one just deployed, which then holds
// about total/(servers-1): with 12,500 planned that stays near 14,300.
const backendCap = 12500

// backends is how many wsecho processes hold the WebSockets: three, or
// more when they would hold more than backendCap each.
func (c scaleCase) backends() int { return max(3, (c.total()+backendCap-1)/backendCap) }

// label names the row in tables and subtests (test names stay as they
// were before rollouts joined some rows).
func (c scaleCase) label() string {
	s := fmt.Sprintf("%d × %d, rate %g/s", c.lbs, c.perLB, c.rate)
	if c.cluster {
		s += ", 3 Consul servers"
	}
	return s
}

// scaleCases are the rows to run: -bench-fleetscale-rows when given, else
// the full or the smoke table.
func scaleCases(t *testing.T) []scaleCase {
	t.Helper()
	rows := size(smokeScaleRows, fullScaleRows)
	if *scaleRowsFlag != "" {
		rows = *scaleRowsFlag
	}
	cs, err := parseScaleRows(rows)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// parseScaleRows reads rows written as NxC@R[+rollout][+cluster], comma
// separated.
func parseScaleRows(s string) ([]scaleCase, error) {
	var cs []scaleCase
	for i, row := range strings.Split(s, ",") {
		row = strings.TrimSpace(row)
		c, err := parseScaleRow(row)
		if err != nil {
			return nil, fmt.Errorf("bench: fleet-scale row %d %q: %w", i+1, row, err)
		}
		cs = append(cs, c)
	}
	return cs, nil
}

func parseScaleRow(row string) (scaleCase, error) {
	var c scaleCase
	head, opts, _ := strings.Cut(row, "+")
	if opts != "" {
		for _, o := range strings.Split(opts, "+") {
			switch o {
			case "rollout":
				c.rollout = true
			case "cluster":
				c.cluster = true
			default:
				return c, fmt.Errorf("unknown option %q (want rollout or cluster)", o)
			}
		}
	}
	sizes, rate, ok := strings.Cut(head, "@")
	lbs, perLB, ok2 := strings.Cut(sizes, "x")
	if !ok || !ok2 {
		return c, fmt.Errorf("want NxC@R (load balancers x WebSockets each @ close rate), e.g. 10x3000@1000")
	}
	var err error
	if c.lbs, err = strconv.Atoi(lbs); err != nil || c.lbs < 1 || c.lbs > 200 {
		return c, fmt.Errorf("load balancers %q: want 1 to 200", lbs)
	}
	if c.perLB, err = strconv.Atoi(perLB); err != nil || c.perLB < 1 || c.perLB > maxPerLB {
		return c, fmt.Errorf("WebSockets per load balancer %q: want 1 to %d", perLB, maxPerLB)
	}
	if c.rate, err = strconv.ParseFloat(rate, 64); err != nil || !(c.rate >= 1 && c.rate <= 100000) {
		return c, fmt.Errorf("close rate %q: want 1 to 100000 a second", rate)
	}
	return c, nil
}

func TestParseScaleRows(t *testing.T) {
	for _, tc := range []struct {
		name, rows string
		want       []scaleCase
		err        string
	}{
		{name: "one", rows: "1x5000@500", want: []scaleCase{{lbs: 1, perLB: 5000, rate: 500}}},
		{name: "options and spaces", rows: "10x3000@1000+cluster, 20x5000@1000+rollout+cluster",
			want: []scaleCase{{lbs: 10, perLB: 3000, rate: 1000, cluster: true}, {lbs: 20, perLB: 5000, rate: 1000, rollout: true, cluster: true}}},
		{name: "no rate", rows: "1x5000", err: `row 1 "1x5000": want NxC@R`},
		{name: "too many per load balancer", rows: "1x20@50,1x7000@500", err: `row 2 "1x7000@500": WebSockets per load balancer "7000": want 1 to 6000`},
		{name: "zero load balancers", rows: "0x10@50", err: `load balancers "0"`},
		{name: "bad rate", rows: "1x10@fast", err: `close rate "fast"`},
		{name: "unknown option", rows: "1x10@50+surge", err: `unknown option "surge"`},
		{name: "empty", rows: "", err: `row 1 ""`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseScaleRows(tc.rows)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	// The tables the scenario runs parse.
	for _, rows := range []string{fullScaleRows, smokeScaleRows} {
		if _, err := parseScaleRows(rows); err != nil {
			t.Error(err)
		}
	}
}

package bench

import (
	"bytes"
	"encoding/xml"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/wsctl/wsctl/loadgen"
)

func TestTimelineRoundTrip(t *testing.T) {
	res := loadgen.Result{Timeline: []loadgen.Bucket{{Connects: 3, Ends: 0}, {Connects: 1, Closes: 2, Ends: 2}, {}}}
	var buf bytes.Buffer
	if err := res.WriteTimelineCSV(&buf); err != nil {
		t.Fatal(err)
	}
	got, err := ParseTimelineCSV(&buf)
	if err != nil {
		t.Fatal(err)
	}
	want := RowsFromBuckets(res.Timeline)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parsed %+v, want %+v", got, want)
	}
	if want[2].Live != 2 {
		t.Errorf("live at the end %d, want 2", want[2].Live)
	}
}

func TestSumRows(t *testing.T) {
	a := []Row{{TMs: 0, Connects: 2, Live: 2}, {TMs: 100, Closes: 1, Live: 1}}
	b := []Row{{TMs: 0, Connects: 5, Live: 5}}
	got := SumRows(a, b)
	want := []Row{{TMs: 0, Connects: 7, Live: 7}, {TMs: 100, Closes: 1, Live: 6}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("SumRows = %+v, want %+v", got, want)
	}
	if p := Peak(got, 0, 99, func(r Row) int { return r.Connects }); p != 7 {
		t.Errorf("Peak = %d, want 7", p)
	}
}

func TestWriteSVGIsWellFormed(t *testing.T) {
	var buf bytes.Buffer
	rows := []Row{{TMs: 0, Connects: 10, Live: 10}, {TMs: 100, Closes: 3, Live: 7}}
	if err := WriteSVG(&buf, "a <title> & more", rows, []Mark{{TMs: 50, Label: "drain b1"}}); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(&buf)
	for {
		_, err := dec.Token()
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("not well-formed XML: %v", err)
			}
			break
		}
	}
	for _, n := range []struct{ in, want int }{{1, 1}, {3, 5}, {7, 10}, {101, 200}, {4999, 5000}} {
		if got := niceCeil(n.in); got != n.want {
			t.Errorf("niceCeil(%d) = %d, want %d", n.in, got, n.want)
		}
	}
}

func TestUpdateSection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "RESULTS.md")
	for _, step := range []struct{ name, body string }{{"a", "body-alpha"}, {"b", "body-beta"}, {"a", "body-gamma"}} {
		if err := UpdateSection(path, step.name, step.body); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if strings.Contains(s, "body-alpha") || !strings.Contains(s, "body-gamma") || strings.Index(s, "body-gamma") > strings.Index(s, "body-beta") {
		t.Errorf("section a not replaced in place:\n%s", s)
	}
	if !strings.HasPrefix(s, "# wsctl benchmarks") {
		t.Errorf("no header:\n%s", s)
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		name string
		in   []float64
		want float64
	}{
		{name: "none", in: nil, want: 0},
		{name: "odd", in: []float64{3, 1, 2}, want: 2},
		{name: "even", in: []float64{4, 1, 3, 2}, want: 2.5},
	} {
		if got := Median(c.in); got != c.want {
			t.Errorf("%s: Median(%v) = %g, want %g", c.name, c.in, got, c.want)
		}
	}
}

func TestTreeRSSOfThisProcess(t *testing.T) {
	rss, n, err := TreeRSS(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if rss <= 0 || n < 1 {
		t.Errorf("TreeRSS(self) = %d bytes over %d processes, want > 0 over ≥ 1", rss, n)
	}
}

func TestWindowAndSum(t *testing.T) {
	rows := []Row{{TMs: 0, Closes: 1}, {TMs: 100, Closes: 2}, {TMs: 200, Closes: 3}, {TMs: 300, Closes: 4}}
	marks := []Mark{{TMs: 50, Label: "before"}, {TMs: 150, Label: "in"}, {TMs: 350, Label: "after"}}
	got, ms := Window(rows, marks, 1, 3)
	want := []Row{{TMs: 0, Closes: 2}, {TMs: 100, Closes: 3}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Window rows = %v, want %v", got, want)
	}
	if wantM := []Mark{{TMs: 50, Label: "in"}}; !reflect.DeepEqual(ms, wantM) {
		t.Errorf("Window marks = %v, want %v", ms, wantM)
	}
	if rows[1].TMs != 100 || marks[1].TMs != 150 {
		t.Errorf("Window changed its inputs: %v %v", rows, marks)
	}
	if got, _ := Window(rows, nil, -5, 99); len(got) != 4 {
		t.Errorf("Window clamped to %d rows, want 4", len(got))
	}
	closes := func(r Row) int { return r.Closes }
	if got := Sum(rows, 1, 99, closes); got != 9 {
		t.Errorf("Sum(1, 99) = %d, want 9", got)
	}
}

package consul

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/consul/api"

	"github.com/wsctl/wsctl/discovery"
	"github.com/wsctl/wsctl/spec"
)

// answerBody is entries as Consul sends them: indented like a dev agent,
// or compact like a server.
func answerBody(t testing.TB, entries []*api.ServiceEntry, indent bool) []byte {
	t.Helper()
	if entries == nil {
		entries = []*api.ServiceEntry{} // Consul answers "[]", never "null"
	}
	var body []byte
	var err error
	if indent {
		body, err = json.MarshalIndent(entries, "", "    ")
	} else {
		body, err = json.Marshal(entries)
	}
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// registered is a fresh registration beside healthAnswer's entries.
func registered() *api.ServiceEntry {
	e := healthAnswer(1)[0]
	e.Service.ID, e.Service.Address, e.Service.CreateIndex = "chat-new", "10.1.0.1", 5000
	e.Checks = e.Checks[:2]
	return e
}

// answerPairs are consecutive answers of one service, as Consul sends
// them: each change at the first, a middle and the last position, and
// from and to no instance at all.
func answerPairs(t testing.TB, indent bool) []struct {
	name     string
	old, new []byte
	decoded  int // elements decoded for new
} {
	base := healthAnswer(5)
	body := func(es ...*api.ServiceEntry) []byte { return answerBody(t, es, indent) }
	insert := func(i int) []byte { return body(slices.Insert(slices.Clone(base), i, registered())...) }
	remove := func(i int) []byte { return body(slices.Delete(slices.Clone(base), i, i+1)...) }
	flip := func(i int) []byte {
		es := healthAnswer(5)
		es[i].Checks[1].Status = api.HealthCritical
		return body(es...)
	}
	all := body(base...)
	return []struct {
		name     string
		old, new []byte
		decoded  int
	}{
		{name: "unchanged", old: all, new: all, decoded: 0},
		{name: "insert first", old: all, new: insert(0), decoded: 1},
		{name: "insert middle", old: all, new: insert(2), decoded: 1},
		{name: "insert last", old: all, new: insert(5), decoded: 1},
		{name: "remove first", old: all, new: remove(0), decoded: 0},
		{name: "remove middle", old: all, new: remove(2), decoded: 0},
		{name: "remove last", old: all, new: remove(4), decoded: 0},
		{name: "check flip first", old: all, new: flip(0), decoded: 1},
		{name: "check flip middle", old: all, new: flip(2), decoded: 1},
		{name: "check flip last", old: all, new: flip(4), decoded: 1},
		{name: "empty to one", old: body(), new: body(base[0]), decoded: 1},
		{name: "one to empty", old: body(base[0]), new: body(), decoded: 0},
		{name: "one to another", old: body(base[0]), new: body(base[1]), decoded: 1},
	}
}

// candidateOpts compares candidates, hosts by value.
var candidateOpts = cmp.Options{
	cmp.AllowUnexported(candidate{}),
	cmp.Comparer(func(a, b discovery.Host) bool { return a == b }),
}

// TestAnswerReusesUnchangedEntries: after an answer, the next one is read
// exactly as a whole decode reads it, decoding only the entries that are
// new or changed.
func TestAnswerReusesUnchangedEntries(t *testing.T) {
	svc := spec.ConsulService{Service: "chat"}
	for _, indent := range []bool{false, true} {
		for _, tc := range answerPairs(t, indent) {
			t.Run(fmt.Sprintf("%s/indent=%v", tc.name, indent), func(t *testing.T) {
				var a answer
				if _, err := a.update(tc.old, -1, svc); err != nil {
					t.Fatal(err)
				}
				got, err := a.update(tc.new, -1, svc)
				if err != nil {
					t.Fatal(err)
				}
				want, _ := wholeCandidates(tc.new, svc)
				if diff := cmp.Diff(want, got, candidateOpts); diff != "" {
					t.Errorf("candidates (-whole +incremental):\n%s", diff)
				}
				if a.decoded != tc.decoded {
					t.Errorf("decoded %d entries, want %d", a.decoded, tc.decoded)
				}
				// Back to the old answer, from what the new one left.
				got, err = a.update(tc.old, -1, svc)
				want, _ = wholeCandidates(tc.old, svc)
				if diff := cmp.Diff(want, got, candidateOpts); err != nil || diff != "" {
					t.Errorf("back to the old answer: %v (-whole +incremental):\n%s", err, diff)
				}
			})
		}
	}
}

// TestAnswerFallsBack: a body the reuse cannot prove goes the whole way,
// to the whole decode's result or error; an error leaves the last answer
// to start from.
func TestAnswerFallsBack(t *testing.T) {
	svc := spec.ConsulService{Service: "chat"}
	three := `[{"Service":{"ID":"a"}},{"Service":{"ID":"b"}},{"Service":{"ID":"c"}}]`
	for _, tc := range []struct {
		name, old, new string
		wantErr        bool
		decoded        int
	}{
		// Two kept elements would touch without a comma.
		{name: "comma dropped", old: three, new: `[{"Service":{"ID":"a"}}{"Service":{"ID":"c"}}]`, wantErr: true},
		{name: "closed early", old: `[{"Service":{"ID":"a"}} ]`, new: `[{"Service":{"ID":"a"}}] ]`, wantErr: true},
		{name: "trailing comma", old: three, new: `[{"Service":{"ID":"a"}},{"Service":{"ID":"b"}},]`, wantErr: true},
		{name: "leading comma", old: three, new: `[,{"Service":{"ID":"b"}},{"Service":{"ID":"c"}}]`, wantErr: true},
		{name: "bracket gone", old: three, new: `{"Service":{"ID":"a"}},{"Service":{"ID":"b"}},{"Service":{"ID":"c"}}]`, wantErr: true},
		{name: "garbage after", old: three, new: three + `x`, wantErr: true},
		{name: "garbage instead of a space", old: three + ` `, new: three + `x`, wantErr: true},
		{name: "garbage instead of a space before", old: ` ` + three, new: `x` + three, wantErr: true},
		{name: "an element broken", old: three, new: `[{"Service":{"ID":"a"}},{"Service":{"ID":"b"},{"Service":{"ID":"c"}}]`, wantErr: true},
		{name: "a string element", old: three, new: `[{"Service":{"ID":"a"}},"b",{"Service":{"ID":"c"}}]`, wantErr: true},
		{name: "an object", old: three, new: `{"Service":{"ID":"a"}}`, wantErr: true},
		// Not an array, but what goccy reads as none: no entries.
		{name: "null", old: three, new: `null`, decoded: 0},
		// A literal ends at the byte after it, which changed.
		{name: "null grows", old: `[null]`, new: `[nullx]`, wantErr: true},
		{name: "null to object", old: `[null,null]`, new: `[null,{"Service":{"ID":"a"}}]`, decoded: 1},
		// Only the separators between the kept first and last changed.
		{name: "separators changed", old: three, new: strings.ReplaceAll(three, ",{", ", {"), decoded: 1},
		{name: "everything moved", old: three, new: " " + three, decoded: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a answer
			if _, err := a.update([]byte(tc.old), -1, svc); err != nil {
				t.Fatal(err)
			}
			got, err := a.update([]byte(tc.new), -1, svc)
			want, wantErr := wholeCandidates([]byte(tc.new), svc)
			if (err != nil) != tc.wantErr || (wantErr != nil) != tc.wantErr {
				t.Fatalf("error %v, whole decode's %v; want an error: %v", err, wantErr, tc.wantErr)
			}
			if diff := cmp.Diff(want, got, candidateOpts); diff != "" {
				t.Errorf("candidates (-whole +incremental):\n%s", diff)
			}
			if err == nil && a.decoded != tc.decoded {
				t.Errorf("decoded %d entries, want %d", a.decoded, tc.decoded)
			}
			if err != nil && string(a.body) != tc.old {
				t.Errorf("after the error, the answer to start from is %q, want the last good one", a.body)
			}
		})
	}
}

// TestAnswerDecodesOnlyTheChange: a registration into a service of 1,000
// instances decodes the one new entry, not the megabyte around it; a
// deregistration decodes none; a check flip the one entry.
func TestAnswerDecodesOnlyTheChange(t *testing.T) {
	const n = 1000
	svc := spec.ConsulService{Service: "chat"}
	base := healthAnswer(n)
	var a answer
	if _, err := a.update(answerBody(t, base, true), -1, svc); err != nil {
		t.Fatal(err)
	}
	if a.decoded != n {
		t.Fatalf("first answer: decoded %d entries, want %d", a.decoded, n)
	}
	flipped := healthAnswer(n)
	flipped[n/3].Checks[1].Status = api.HealthCritical
	for _, step := range []struct {
		name    string
		entries []*api.ServiceEntry
		decoded int
	}{
		{name: "registration", entries: slices.Insert(slices.Clone(base), n/2, registered()), decoded: 1},
		{name: "deregistration", entries: base, decoded: 0},
		{name: "check flip", entries: flipped, decoded: 1},
	} {
		body := answerBody(t, step.entries, true)
		got, err := a.update(body, -1, svc)
		if err != nil {
			t.Fatal(err)
		}
		if a.decoded != step.decoded {
			t.Errorf("%s: decoded %d entries, want %d", step.name, a.decoded, step.decoded)
		}
		want, _ := wholeCandidates(body, svc)
		if diff := cmp.Diff(want, got, candidateOpts); diff != "" {
			t.Errorf("%s: candidates (-whole +incremental):\n%s", step.name, diff)
		}
	}
}

// TestNameCandidatesCheapPerEntry: naming runs over every entry on every
// answer; an entry whose own name is free costs no allocation of its own.
func TestNameCandidatesCheapPerEntry(t *testing.T) {
	const n = 1000
	svc := spec.ConsulService{Service: "chat"}
	cands, err := wholeCandidates(answerBody(t, healthAnswer(n), false), svc)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	allocs := testing.AllocsPerRun(5, func() { nameCandidates(cands, log) })
	if allocs > n/10 {
		t.Errorf("%.0f allocations for %d entries, want under %d", allocs, n, n/10)
	}
}

func TestSplitArray(t *testing.T) {
	for _, tc := range []struct {
		body string
		want []string // nil: refused
	}{
		{body: `[]`, want: []string{}},
		{body: " \t\r\n[ \n ] \n", want: []string{}},
		{body: `[1]`, want: []string{`1`}},
		{body: `[ 1 , "a" ,null,true, -2.5e3 ]`, want: []string{`1`, `"a"`, `null`, `true`, `-2.5e3`}},
		{body: `[{"a":[1,{"b":"]}"}]},[[]],{}]`, want: []string{`{"a":[1,{"b":"]}"}]}`, `[[]]`, `{}`}},
		{body: `["\"]", "\\", "\\\"", "\u005d"]`, want: []string{`"\"]"`, `"\\"`, `"\\\""`, `"\u005d"`}},
		// The inside of an element is the decoder's business.
		{body: `[{]]`, want: []string{`{]`}},
		{body: `[1}]`, want: []string{`1}`}},
		{body: ``},
		{body: `null`},
		{body: `{}`},
		{body: `[`},
		{body: `[1`},
		{body: `[1,]`},
		{body: `[,1]`},
		{body: `[,]`},
		{body: `[1 2]`},
		{body: `[1,,2]`},
		{body: `[{}{}]`},
		{body: `[] []`},
		{body: `[]x`},
		{body: `["]`},
		{body: `["\"]`},
		{body: `[{"a":"}]`},
		{body: `[{"a":[}]`},
	} {
		spans, err := splitArray([]byte(tc.body), nil)
		if tc.want == nil {
			if err == nil {
				t.Errorf("splitArray(%q) = %v, want an error", tc.body, spans)
			}
			continue
		}
		if err != nil {
			t.Errorf("splitArray(%q): %v", tc.body, err)
			continue
		}
		got := []string{}
		for _, sp := range spans {
			got = append(got, tc.body[sp.start:sp.end])
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("splitArray(%q) = %q, want %q", tc.body, got, tc.want)
		}
	}
}

// FuzzAnswerSplit holds splitArray to encoding/json. Whenever
// encoding/json decodes a body into []json.RawMessage, splitArray splits
// it into the same elements byte for byte, except "null" (not an array:
// refused, and then decoded whole). Whenever splitArray accepts a body
// whose elements are each valid JSON, encoding/json accepts it too. What
// splitArray does not check is only the inside of an element, which the
// element's decode validates.
func FuzzAnswerSplit(f *testing.F) {
	for _, indent := range []bool{false, true} {
		f.Add(answerBody(f, healthAnswer(3), indent))
	}
	for _, s := range []string{`[]`, ` [ 1 , "a\"]" , null , [ { } ] ] `, `[{]]`, `[1,]`, `null`, `["\\"]`, `[1 2]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		spans, err := splitArray(body, nil)
		var raw []json.RawMessage
		jsonErr := json.Unmarshal(body, &raw)
		if jsonErr == nil {
			if string(bytes.TrimSpace(body)) == "null" {
				if err == nil {
					t.Fatalf("%q split into %v", body, spans)
				}
				return
			}
			if err != nil {
				t.Fatalf("encoding/json read %q, splitArray: %v", body, err)
			}
		}
		if err != nil {
			return
		}
		prev := 0
		for _, sp := range spans {
			if sp.start < prev || sp.end <= sp.start || sp.end > len(body) {
				t.Fatalf("%q: spans %v out of order", body, spans)
			}
			prev = sp.end
		}
		if jsonErr != nil {
			for _, sp := range spans {
				if !json.Valid(body[sp.start:sp.end]) {
					return // the element's decode refuses it
				}
			}
			t.Fatalf("%q split into valid elements %v, encoding/json: %v", body, spans, jsonErr)
		}
		if len(spans) != len(raw) {
			t.Fatalf("%q: %d elements, encoding/json %d", body, len(spans), len(raw))
		}
		for i, sp := range spans {
			if !bytes.Equal(body[sp.start:sp.end], raw[i]) {
				t.Fatalf("%q: element %d is %q, encoding/json's %q", body, i, body[sp.start:sp.end], raw[i])
			}
		}
	})
}

// FuzzAnswerIncremental: whatever the answer before (old), an answer
// (new) reads exactly as its whole decode: the same candidates, an error
// exactly when the whole decode fails; and back to old after it, the same.
func FuzzAnswerIncremental(f *testing.F) {
	for _, indent := range []bool{false, true} {
		for _, tc := range answerPairs(f, indent) {
			f.Add(tc.old, tc.new)
			f.Add(tc.new, tc.old)
		}
	}
	f.Add([]byte(`[null,{"Service":{"ID":"a"}}]`), []byte(`[null,{"Service":{"ID":"a"}}{"Service":{"ID":"b"}}]`))
	f.Add([]byte(`[{"Service":{"ID":"a","Tags":["WS"]}},{}]`), []byte(`[{"Service":{"ID":"a","Tags":["ws","x"]}},{}, null]`))
	svcs := []spec.ConsulService{{Service: "chat"}, {Service: "chat", Tags: []string{"ws"}, AllowWarning: true}}
	f.Fuzz(func(t *testing.T, old, new []byte) {
		for _, svc := range svcs {
			var a answer
			_, _ = a.update(old, -1, svc)
			for i, body := range [][]byte{new, old} {
				// Read as a watch reads it, a few bytes at a time, with
				// the common prefix measured as they come.
				read, same, err := readInto(nil, iotest.HalfReader(bytes.NewReader(body)), a.body)
				if err != nil || !bytes.Equal(read, body) {
					t.Fatalf("readInto: %q, %v; want %q", read, err, body)
				}
				if want := commonPrefix(a.body, body); same != want {
					t.Fatalf("readInto measured a common prefix of %d bytes, want %d", same, want)
				}
				got, err := a.update(read, same, svc)
				want, wantErr := wholeCandidates(body, svc)
				if (err != nil) != (wantErr != nil) {
					t.Fatalf("update %d (%q after %q): error %v, the whole decode's %v", i, body, old, err, wantErr)
				}
				if diff := cmp.Diff(want, got, candidateOpts); diff != "" {
					t.Fatalf("update %d (%q after %q): candidates (-whole +incremental):\n%s", i, body, old, diff)
				}
			}
		}
	})
}

// BenchmarkAnswerOneRegistration is one answer of a 1,000-instance
// service as a dev agent sends it (indented), alternately with one
// registration more and without it, from the body read to the instances:
// decoded whole, and decoded where it changed.
func BenchmarkAnswerOneRegistration(b *testing.B) {
	const n = 1000
	svc := spec.ConsulService{Service: "chat"}
	base := healthAnswer(n)
	bodies := [2][]byte{answerBody(b, base, true), answerBody(b, slices.Insert(slices.Clone(base), n/2, registered()), true)}
	log := slog.New(slog.DiscardHandler)
	b.Run("whole", func(b *testing.B) {
		b.SetBytes(int64(len(bodies[0])))
		for i := 0; b.Loop(); i++ {
			cands, err := wholeCandidates(bodies[i%2], svc)
			if err != nil {
				b.Fatal(err)
			}
			nameCandidates(cands, log)
		}
	})
	b.Run("incremental", func(b *testing.B) {
		var a answer
		if _, err := a.update(bodies[1], -1, svc); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(bodies[0])))
		decoded := 0
		for i := 0; b.Loop(); i++ {
			cands, err := a.update(bodies[i%2], -1, svc)
			if err != nil {
				b.Fatal(err)
			}
			nameCandidates(cands, log)
			decoded += a.decoded
		}
		b.ReportMetric(float64(decoded)/float64(b.N), "decoded/op")
	})
}

// TestAnswerBuffersReused: a watch reads each answer into the buffer the
// last one no longer holds (readInto, answer.spare), and what the answer
// keeps from earlier bodies stays right once their buffers hold the next
// answers: the candidates after every answer are the whole decode's. It
// would fail if the decoder referred to a body's bytes instead of copying
// them, or if spare handed out the body the answer holds.
func TestAnswerBuffersReused(t *testing.T) {
	svc := spec.ConsulService{Service: "chat"}
	var bodies [][]byte
	for _, tc := range answerPairs(t, true) {
		bodies = append(bodies, tc.old, tc.new)
	}
	var (
		a     answer
		spare []byte
		held  = map[*byte]bool{} // the arrays of the bodies given to update
	)
	for i, want := range bodies {
		body, _, err := readInto(spare, bytes.NewReader(want), nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(spare) < cap(spare) && cap(spare) >= len(want) && &spare[:1][0] != &body[0] {
			t.Fatalf("answer %d: read into a new array though the spare one had room", i)
		}
		before := a.body
		got, err := a.update(body, -1, svc)
		if err != nil {
			t.Fatal(err)
		}
		spare = a.spare(before, body)
		if cap(spare) > 0 && len(a.body) > 0 && &spare[:1][0] == &a.body[0] {
			t.Fatalf("answer %d: the spare buffer is the one the answer holds", i)
		}
		held[&body[0]] = true
		whole, _ := wholeCandidates(want, svc)
		if diff := cmp.Diff(whole, got, candidateOpts); diff != "" {
			t.Fatalf("answer %d read into a reused buffer (-whole +incremental):\n%s", i, diff)
		}
	}
	if len(held) > 3 {
		t.Errorf("%d arrays for %d answers, want the two a watch alternates (and the first)", len(held), len(bodies))
	}
}

// TestReadIntoMeasuresPrefix: the common prefix readInto measures as the
// bytes arrive, one at a time or in halves, is the whole bodies'.
func TestReadIntoMeasuresPrefix(t *testing.T) {
	for _, tc := range []struct{ old, body string }{
		{"", "[1,2]"}, {"[1,2]", ""}, {"[1,2]", "[1,2]"}, {"[1,2]", "[1,2,3]"}, {"[1,2,3]", "[1,2]"},
		{"[1,2]", "[3,2]"}, {"x[1,2]", "[1,2]"}, {"[1,2]", "[1,3]"},
	} {
		for name, wrap := range map[string]func(io.Reader) io.Reader{"one": iotest.OneByteReader, "half": iotest.HalfReader} {
			got, same, err := readInto(make([]byte, 0, 2), wrap(strings.NewReader(tc.body)), []byte(tc.old))
			if err != nil || string(got) != tc.body || same != commonPrefix([]byte(tc.old), []byte(tc.body)) {
				t.Errorf("%s: %q after %q: read %q, same %d, %v", name, tc.body, tc.old, got, same, err)
			}
		}
	}
}

package consul

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sort"

	gojson "github.com/goccy/go-json"

	"github.com/wsctl/wsctl/spec"
)

// answer is one watch's last health answer, kept so that the next one is
// decoded only where it differs. Consul answers a blocking query with every
// instance of the service, never a delta: with 1,000 instances 1.3 MB
// (3 MB from a dev agent, which indents), ~10 ms to decode whole and
// ~3 ms more to check, in the path of every registration. Consecutive
// answers are nearly equal byte for byte (a registration inserts one
// entry, a deregistration removes one, a check flip changes a few bytes
// of one; Consul sorts the entries alike each time), so the entries in the
// common prefix and suffix of the two bodies keep their candidates and
// only the ones between are decoded and checked.
//
// The result is exactly what decoding the whole body gives: anything the
// reuse cannot prove (the brackets changed, the middle does not scan as
// separators and elements, an element does not decode) goes the whole
// way (see FuzzAnswerIncremental). The zero answer holds nothing; an
// answer belongs to the goroutine following its watch (no locking).
type answer struct {
	body  []byte      // the last answer that split; nil: none
	spans []span      // its elements
	items []candidate // one per element
	// open is the offset just after body's '['; close is that of its ']'.
	open, close int
	// decoded counts the elements the last update decoded (all of them
	// when it decoded the whole body).
	decoded int
}

// update returns the candidates of body, svc's next answer, in the order
// of its entries, and keeps body for the next update. same is the length
// of the common prefix of body and the last body, when the caller measured
// it as the body arrived (readInto), else -1. The slice is the answer's:
// read it before the next update, do not modify it. An error is that of
// decoding the whole body, and leaves the answer as it was.
func (a *answer) update(body []byte, same int, svc spec.ConsulService) ([]candidate, error) {
	a.decoded = 0
	if a.body != nil && a.reuse(body, same, svc) {
		return a.items, nil
	}
	spans, err := splitArray(body, nil)
	if err == nil {
		var items []candidate
		if items, err = a.decodeAll(body, spans, svc); err == nil {
			a.keep(body, spans, items)
			return items, nil
		}
	}
	// Not an array the scanner takes, or an element that does not decode:
	// the whole decode says what the answer is (an error, or what goccy
	// reads anyway, such as "null"), and nothing is kept to reuse.
	items, err := wholeCandidates(body, svc)
	if err != nil {
		return nil, err
	}
	*a = answer{items: items, decoded: len(items)}
	return items, nil
}

// spare returns the one of before (the body the answer held when update
// was given body) and body that the answer no longer holds, emptied, for
// the next answer to be read into: nothing the answer keeps refers to a
// body's bytes (the decoder copies what it reads).
func (a *answer) spare(before, body []byte) []byte {
	if len(a.body) > 0 && len(body) > 0 && &a.body[0] == &body[0] {
		return before[:0]
	}
	return body[:0]
}

// wholeCandidates decodes body whole and makes the candidates of its
// entries: what update's result must always be.
func wholeCandidates(body []byte, svc spec.ConsulService) ([]candidate, error) {
	raw, err := decodeHealth(body)
	if err != nil {
		return nil, err
	}
	items := make([]candidate, len(raw))
	for i := range raw {
		items[i] = newCandidate(raw[i].serviceEntry(svc), svc.AllowWarning)
	}
	return items, nil
}

// reuse reads body from the last answer: the elements wholly inside the
// bodies' common prefix (same, when measured: see update) or suffix keep
// their candidates, the ones between are scanned and decoded. It reports
// false, changing nothing, when it cannot prove the result is the whole
// body's.
func (a *answer) reuse(body []byte, same int, svc spec.ConsulService) bool {
	old := a.body
	// Elements 0..k-1 end inside the common prefix. A number or literal
	// also needs the byte after it to end it: the scan of the middle
	// checks that byte, as it starts after element k-1, where only
	// whitespace, ',' or ']' may follow.
	p := same
	if p < 0 {
		p = commonPrefix(old, body)
	}
	if p < a.open { // the '[' or what is before it changed
		return false
	}
	k := sort.Search(len(a.spans), func(i int) bool { return a.spans[i].end > p })
	from, st := a.open, afterOpen
	if k > 0 {
		from, st = a.spans[k-1].end, afterElem
	}
	// The suffix is measured after the kept elements, not after the whole
	// prefix: a new entry looks like its neighbours, and the prefix runs
	// into it.
	s := commonSuffix(old[from:], body[from:])
	if s < len(old)-a.close { // the ']' or what follows it changed
		return false
	}
	shift := len(body) - len(old)
	m := sort.Search(len(a.spans), func(i int) bool { return a.spans[i].start >= len(old)-s })
	to := a.close + shift
	if m < len(a.spans) {
		to = a.spans[m].start + shift
	}
	mid, st, end, err := scanArray(body, from, to, st, nil)
	if err != nil || end != to {
		return false
	}
	// What follows to is element m (needs a separator or '[' before it) or
	// the closing ']' (needs no trailing comma).
	if m < len(a.spans) && st == afterElem || m == len(a.spans) && st == afterComma {
		return false
	}
	decoded, err := a.decodeAll(body, mid, svc)
	if err != nil {
		return false
	}
	// In place: a registration moves the entries after it by one, where
	// new slices allocated and cleared ~200 KB with 1,000 entries, in the
	// path of every change and for the collector to reclaim.
	a.spans = slices.Replace(a.spans, k, m, mid...)
	for i := k + len(mid); i < len(a.spans); i++ {
		a.spans[i].start += shift
		a.spans[i].end += shift
	}
	a.items = slices.Replace(a.items, k, m, decoded...)
	a.close += shift
	a.body = body
	return true
}

// decodeAll decodes body's elements at spans and makes their candidates.
func (a *answer) decodeAll(body []byte, spans []span, svc spec.ConsulService) ([]candidate, error) {
	items := make([]candidate, len(spans))
	for i, sp := range spans {
		var e healthEntry
		if err := gojson.Unmarshal(body[sp.start:sp.end], &e); err != nil {
			return nil, fmt.Errorf("decode entry %d: %w", i, err)
		}
		a.decoded++
		items[i] = newCandidate(e.serviceEntry(svc), svc.AllowWarning)
	}
	return items, nil
}

// keep makes body, split into spans with items, the answer the next
// update starts from.
func (a *answer) keep(body []byte, spans []span, items []candidate) {
	open := skipSpace(body, 0) + 1
	a.body, a.spans, a.items = body, spans, items
	a.open, a.close = open, bytes.LastIndexByte(body, ']')
}

// compareChunk is how many bytes commonPrefix and commonSuffix compare at
// once with bytes.Equal (vectorised) before looking for the differing
// byte.
const compareChunk = 1024

// commonPrefix is the length of the longest common prefix of a and b.
func commonPrefix(a, b []byte) int {
	n := min(len(a), len(b))
	i := 0
	for i+compareChunk <= n && bytes.Equal(a[i:i+compareChunk], b[i:i+compareChunk]) {
		i += compareChunk
	}
	for i < n && a[i] == b[i] {
		i++
	}
	return i
}

// commonSuffix is the length of the longest common suffix of a and b.
func commonSuffix(a, b []byte) int {
	n := min(len(a), len(b))
	i := 0
	for i+compareChunk <= n && bytes.Equal(a[len(a)-i-compareChunk:len(a)-i], b[len(b)-i-compareChunk:len(b)-i]) {
		i += compareChunk
	}
	for i < n && a[len(a)-1-i] == b[len(b)-1-i] {
		i++
	}
	return i
}

// span is one element of a JSON array: body[start:end].
type span struct{ start, end int }

// arrayState is where a scan of a JSON array's top level stands.
type arrayState uint8

const (
	afterOpen  arrayState = iota // after '[': an element or ']' next
	afterElem                    // after an element: ',' or ']' next
	afterComma                   // after ',': an element next
)

// errNotArray is wrapped by the errors of splitArray and scanArray.
var errNotArray = errors.New("not a JSON array")

// splitArray returns the spans of the elements of the JSON array body,
// appended to spans, without decoding them: it follows strings, escapes
// and the depth of {} and [] to find where each element ends, and checks
// the array around them: ws '[' ws ']' ws, or ws '[' ws elem ws
// (',' ws elem ws)* ']' ws. What is inside an element is not checked (a
// decode of the element does that): "[{]]" has the element "{]". A body
// with valid elements splits exactly when encoding/json decodes it into
// []json.RawMessage, into the same elements, except "null" (no array),
// which it refuses (see FuzzAnswerSplit).
func splitArray(body []byte, spans []span) ([]span, error) {
	i := skipSpace(body, 0)
	if i == len(body) || body[i] != '[' {
		return nil, fmt.Errorf("%w: no '[' at offset %d", errNotArray, i)
	}
	spans, _, end, err := scanArray(body, i+1, len(body), afterOpen, spans)
	if err != nil {
		return nil, err
	}
	if end == len(body) {
		return nil, fmt.Errorf("%w: no closing ']'", errNotArray)
	}
	if j := skipSpace(body, end+1); j != len(body) {
		return nil, fmt.Errorf("%w: %q after the array at offset %d", errNotArray, body[j], j)
	}
	return spans, nil
}

// scanArray scans body[from:to], part of the top level of a JSON array
// that stands in st at from, and appends the spans of the elements it
// finds to spans. It stops at to, or at a ']' that closes the array, and
// returns where it stopped and the state there. An element must end
// before to.
func scanArray(body []byte, from, to int, st arrayState, spans []span) ([]span, arrayState, int, error) {
	for i := from; i < to; {
		switch c := body[i]; {
		case isSpace(c):
			i++
		case c == ',':
			if st != afterElem {
				return nil, st, i, fmt.Errorf("%w: unexpected ',' at offset %d", errNotArray, i)
			}
			st = afterComma
			i++
		case c == ']':
			if st == afterComma {
				return nil, st, i, fmt.Errorf("%w: ']' after ',' at offset %d", errNotArray, i)
			}
			return spans, st, i, nil
		default:
			if st == afterElem {
				return nil, st, i, fmt.Errorf("%w: no ',' before the element at offset %d", errNotArray, i)
			}
			end, err := elementEnd(body, i, to)
			if err != nil {
				return nil, st, i, err
			}
			spans = append(spans, span{i, end})
			st, i = afterElem, end
		}
	}
	return spans, st, to, nil
}

// elementEnd returns the end of the element that starts at body[i], which
// must end before to: an object or array at its closing byte, a string at
// its closing quote, anything else (a number, true, false, null) at the
// next whitespace, ',' or ']'.
func elementEnd(body []byte, i, to int) (int, error) {
	switch body[i] {
	case '"':
		return stringEnd(body, i, to)
	case '{', '[':
		depth := 0
		for j := i; j < to; j++ {
			switch body[j] {
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1, nil
				}
			case '"':
				end, err := stringEnd(body, j, to)
				if err != nil {
					return 0, err
				}
				j = end - 1
			}
		}
		return 0, fmt.Errorf("%w: the element at offset %d does not end", errNotArray, i)
	}
	j := i
	for j < to && !isSpace(body[j]) && body[j] != ',' && body[j] != ']' {
		j++
	}
	return j, nil
}

// stringEnd returns the offset after the closing quote of the string
// that opens at body[i], which must close before to.
func stringEnd(body []byte, i, to int) (int, error) {
	for j := i + 1; j < to; {
		q := bytes.IndexByte(body[j:to], '"')
		if q < 0 {
			break
		}
		j += q
		// A quote after an odd number of backslashes is escaped.
		bs := 0
		for body[j-1-bs] == '\\' {
			bs++
		}
		if bs%2 == 0 {
			return j + 1, nil
		}
		j++
	}
	return 0, fmt.Errorf("%w: the string at offset %d does not end", errNotArray, i)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// skipSpace returns the offset of the first byte of body at or after i
// that is not JSON whitespace.
func skipSpace(body []byte, i int) int {
	for i < len(body) && isSpace(body[i]) {
		i++
	}
	return i
}

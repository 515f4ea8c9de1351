package spec

import (
	"testing"
)

// FuzzParse checks that no spec text makes the decoder panic or run away, and
// that Parse returns a spec or an error, never both or neither. The seeds run
// with every go test; make fuzz runs it for longer.
func FuzzParse(f *testing.F) {
	f.Add([]byte(validSpec))
	f.Add([]byte(aliasBomb(20)))
	f.Add([]byte("backends: &a [*a]\n"))
	f.Add([]byte("proxy: ${P:-haproxy}\nlisteners: [{name: f, bind: ':80', default_backend: b, routes: [{path: /ws, backend: b}]}]\nbackends: [{name: b, consul: {service: ws, tags: [a, b]}}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("fuzz.yaml", data, func(k string) (string, bool) { return "x" + k, k != "UNSET" })
		if (s == nil) == (err == nil) {
			t.Fatalf("Parse returned spec %v and error %v", s, err)
		}
	})
}

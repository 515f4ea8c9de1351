package spec

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// TestReferenceMatchesDecoder keeps the key table of docs/spec.md in step
// with the decoder: every key the decoder takes is documented (itself or
// through a documented parent such as `backends[].consul`), and every
// documented key exists.
func TestReferenceMatchesDecoder(t *testing.T) {
	doc, err := os.ReadFile("../docs/spec.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := documentedKeys(string(doc))
	if len(documented) < 20 {
		t.Fatalf("found %d documented keys in docs/spec.md; has the table moved?", len(documented))
	}
	paths := map[string]bool{} // every path the decoder knows, leaves and parents
	var leaves []string
	var walk func(t reflect.Type, prefix string)
	walk = func(typ reflect.Type, prefix string) {
		for typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		switch {
		case typ == durationType || typ.Kind() != reflect.Struct && typ.Kind() != reflect.Slice:
			leaves = append(leaves, prefix)
			return
		case typ.Kind() == reflect.Slice:
			paths[prefix+"[]"] = true
			walk(typ.Elem(), prefix+"[]")
			return
		}
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			p := name
			if prefix != "" {
				p = prefix + "." + name
			}
			paths[p] = true
			walk(f.Type, p)
		}
	}
	walk(reflect.TypeFor[Spec](), "")
	for _, leaf := range leaves {
		covered := false
		for p := leaf; p != ""; p = parentKey(p) {
			if documented[p] {
				covered = true
				break
			}
		}
		if !covered {
			t.Errorf("docs/spec.md does not document %s", leaf)
		}
	}
	for key := range documented {
		if !paths[key] {
			t.Errorf("docs/spec.md documents %s, which the decoder does not take", key)
		}
	}
}

var (
	tableRow = regexp.MustCompile("(?m)^\\| (`[^|]*`) \\|")
	codeSpan = regexp.MustCompile("`([^`]+)`")
)

// documentedKeys reads the first column of the key table: "`a.b`",
// "`a.b` / `c` / `d`" (siblings of a.b), "`a[].b`, `.c`".
func documentedKeys(doc string) map[string]bool {
	keys := map[string]bool{}
	for _, row := range tableRow.FindAllStringSubmatch(doc, -1) {
		var first string
		for _, m := range codeSpan.FindAllStringSubmatch(row[1], -1) {
			k := m[1]
			if first == "" {
				first = k
			} else if strings.HasPrefix(k, ".") || !strings.Contains(k, ".") {
				k = strings.TrimPrefix(k, ".")
				if parent := parentKey(first); parent != "" {
					k = parent + "." + k
				}
			}
			keys[k] = true
		}
	}
	return keys
}

// parentKey is "a.b" for "a.b.c", "a" for "a[]", "" at the top.
func parentKey(p string) string {
	if strings.HasSuffix(p, "[]") {
		return strings.TrimSuffix(p, "[]")
	}
	i := strings.LastIndexByte(p, '.')
	if i < 0 {
		return ""
	}
	return p[:i]
}

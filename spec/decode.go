package spec

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// decoder fills the spec structs from the YAML tree itself rather than through
// the YAML library's decoder: that way an unknown key, a duplicate key and a
// value of the wrong type each come back with the field's path and line, and
// values produced by ${VAR} expansion are typed after expansion.
//
// Following aliases is what the YAML library's Node parsing does not do, and
// what turns a few kilobytes of nested anchors into millions of values: the
// decoder counts the nodes it visits through aliases and stops at
// MaxAliasNodes.
type decoder struct {
	file string
	errs []error
	// inAlias is how many aliases deep the current node is; expanded counts
	// the nodes visited at inAlias > 0; outerAlias and outerPath are the
	// outermost alias being followed, where the file says to expand.
	inAlias    int
	expanded   int
	outerAlias *yaml.Node
	outerPath  string
}

// MaxAliasNodes bounds the YAML nodes a spec may reach through aliases
// (*name), counting each use of an anchor again, nested uses multiplied. The
// nodes written out in the file are bounded by its size instead.
const MaxAliasNodes = 10_000

var durationType = reflect.TypeOf(Duration(0))

func reflectValueOf(s *Spec) reflect.Value { return reflect.ValueOf(s).Elem() }

func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	d.errs = append(d.errs, &FieldError{File: d.file, Line: n.Line, Field: path, Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode {
		if d.inAlias == 0 {
			d.outerAlias, d.outerPath = n, path
		}
		d.inAlias++
		defer func() { d.inAlias-- }()
		n = n.Alias
	}
	if d.inAlias > 0 {
		d.expanded++
		if d.expanded > MaxAliasNodes {
			if d.expanded == MaxAliasNodes+1 { // once, at the use that crossed the limit
				d.fail(d.outerAlias, d.outerPath, "aliases expand to more than %d YAML nodes: write the values out instead of nesting anchors", MaxAliasNodes)
			}
			return
		}
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	switch {
	case v.Type() == durationType:
		d.scalar(n, path, "a duration such as 30s or 1h", func(s string) bool {
			t, err := time.ParseDuration(s)
			if err != nil || t < 0 {
				return false
			}
			v.SetInt(int64(t))
			return true
		})
	case v.Kind() == reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		d.decode(n, p.Elem(), path)
		v.Set(p)
	case v.Kind() == reflect.Struct:
		d.mapping(n, v, path)
	case v.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n, path, "want a list")
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.decode(c, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case v.Kind() == reflect.String:
		d.scalar(n, path, "a string", func(s string) bool { v.SetString(s); return true })
	case v.Kind() == reflect.Int:
		d.scalar(n, path, "a whole number", func(s string) bool {
			i, err := strconv.Atoi(strings.ReplaceAll(s, "_", ""))
			if err != nil {
				return false
			}
			v.SetInt(int64(i))
			return true
		})
	case v.Kind() == reflect.Float64:
		d.scalar(n, path, "a number", func(s string) bool {
			f, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return false
			}
			v.SetFloat(f)
			return true
		})
	case v.Kind() == reflect.Bool:
		d.scalar(n, path, "true or false", func(s string) bool {
			switch strings.ToLower(s) {
			case "true":
				v.SetBool(true)
			case "false":
				v.SetBool(false)
			default:
				return false
			}
			return true
		})
	default:
		panic("spec: no decoder for " + v.Type().String())
	}
}

func (d *decoder) scalar(n *yaml.Node, path, want string, set func(string) bool) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "want %s", want)
		return
	}
	if !set(n.Value) {
		d.fail(n, path, "%q is not %s", n.Value, want)
	}
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "want a mapping of keys to values")
		return
	}
	fields := map[string]int{}
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			fields[name] = i
		}
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		fpath := k.Value
		if path != "" {
			fpath = path + "." + k.Value
		}
		if first, dup := seen[k.Value]; dup {
			d.fail(k, fpath, "duplicate key (first set on line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		idx, ok := fields[k.Value]
		if !ok {
			known := sortedKeys(fields)
			if c := closest(k.Value, known); c != "" {
				d.fail(k, fpath, "unknown key; did you mean %q? (known keys: %s)", c, strings.Join(known, ", "))
			} else {
				d.fail(k, fpath, "unknown key (known keys: %s)", strings.Join(known, ", "))
			}
			continue
		}
		d.decode(val, v.Field(idx), fpath)
	}
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// closest returns the known key nearest to key by edit distance when it is
// close enough to be a typo (at most 2 edits, and fewer than half of key's
// letters), else "".
func closest(key string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := editDistance(strings.ToLower(key), k); d < bestD && 2*d < len(key) {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			sub := prev[j-1]
			if a[i-1] != b[j-1] {
				sub++
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, sub)
		}
		prev = cur
	}
	return prev[len(b)]
}

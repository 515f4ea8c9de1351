package spec

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/wsctl/wsctl/internal/inputfile"
)

// LookupEnv reads an environment variable; os.LookupEnv in production.
type LookupEnv func(key string) (string, bool)

// Load reads, expands, decodes, defaults and validates the spec at path,
// reading ${VAR} values from the process environment.
func Load(path string) (*Spec, error) {
	return LoadEnv(path, os.LookupEnv)
}

// LoadEnv is Load with the environment given.
func LoadEnv(path string, env LookupEnv) (*Spec, error) {
	data, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data, env)
}

// ReadFile returns the bytes of the spec file at path, refusing anything but
// a regular file of at most inputfile.MaxSpec bytes (1 MiB).
func ReadFile(path string) ([]byte, error) {
	data, err := inputfile.Read(path, inputfile.MaxSpec)
	if err != nil {
		return nil, fmt.Errorf("spec: %w", err)
	}
	return data, nil
}

// Parse is Load on data already read; name is used in error messages.
func Parse(name string, data []byte, env LookupEnv) (*Spec, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlError(name, data, err)
	}
	s := &Spec{File: name, doc: &document{file: name}}
	if len(root.Content) == 0 {
		return nil, &FieldError{File: name, Line: 1, Msg: "the file is empty"}
	}
	top := root.Content[0]
	s.doc.root = top
	if err := expandEnv(top, name, env); err != nil {
		return nil, err
	}
	d := decoder{file: name}
	d.decode(top, reflectValueOf(s), "")
	if err := errors.Join(d.errs...); err != nil {
		return nil, err
	}
	s.Default()
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}

// FieldError is a problem with one field of a spec file.
type FieldError struct {
	File  string
	Line  int    // 0 when unknown
	Field string // dotted path such as backends[0].balance; empty for the file
	Msg   string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Field != "" {
		b.WriteString(": ")
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// yamlError turns the YAML library's syntax errors into file:line errors. A
// tab in the indentation is named, at its line: the library's message
// ("found character that cannot start any token") doesn't say tab, and its
// line is at times the one before.
func yamlError(name string, data []byte, err error) error {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		var line int
		fmt.Sscan(m[1], &line)
		if tab := tabIndented(data, line); tab > 0 {
			return &FieldError{File: name, Line: tab, Msg: "invalid YAML: tab characters are not allowed in YAML indentation; use spaces"}
		}
		return &FieldError{File: name, Line: line, Msg: "invalid YAML: " + m[2]}
	}
	return &FieldError{File: name, Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

// tabIndented returns the first of the 1-based lines n to n+2 of data whose
// indentation holds a tab, or 0.
func tabIndented(data []byte, n int) int {
	lines := strings.Split(string(data), "\n")
	for i := max(n, 1); i <= min(n+2, len(lines)); i++ {
		l := lines[i-1]
		if strings.Contains(l[:len(l)-len(strings.TrimLeft(l, " \t"))], "\t") {
			return i
		}
	}
	return 0
}

var envRef = regexp.MustCompile(`\$\$\{|\$\{([^}]*)\}`)
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// expandEnv replaces ${VAR} and ${VAR:-default} in every scalar value (not in
// keys). $${ is a literal ${. An unset variable without a default is an error:
// silently rendering an empty socket path or address helps nobody. Aliases
// are not followed (an anchor is expanded once, where it is written), so the
// walk is bounded by the file's size.
func expandEnv(n *yaml.Node, file string, env LookupEnv) error {
	var errs []error
	var walk func(n *yaml.Node, isKey bool)
	walk = func(n *yaml.Node, isKey bool) {
		switch n.Kind {
		case yaml.DocumentNode, yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c, false)
			}
		case yaml.MappingNode:
			for i, c := range n.Content {
				walk(c, i%2 == 0)
			}
		case yaml.ScalarNode:
			if isKey || !strings.Contains(n.Value, "${") {
				return
			}
			n.Value = envRef.ReplaceAllStringFunc(n.Value, func(ref string) string {
				if ref == "$${" {
					return "${"
				}
				expr := ref[2 : len(ref)-1]
				key, def, hasDef := strings.Cut(expr, ":-")
				if !envName.MatchString(key) {
					errs = append(errs, &FieldError{File: file, Line: n.Line, Msg: fmt.Sprintf("%q is not a variable reference (write ${NAME} or ${NAME:-default})", ref)})
					return ref
				}
				if v, ok := env(key); ok && (v != "" || !hasDef) {
					return v
				}
				if hasDef {
					return def
				}
				errs = append(errs, &FieldError{File: file, Line: n.Line, Msg: fmt.Sprintf("environment variable %s is not set (give a default with ${%s:-value})", key, key)})
				return ref
			})
		}
	}
	walk(n, false)
	return errors.Join(errs...)
}

// document keeps the YAML tree to find the line of a field after decoding.
type document struct {
	file string
	root *yaml.Node
}

// line returns the line of the field at path (e.g. "backends[1].servers[0].name"),
// or of its nearest parent present in the file.
func (d *document) line(path string) int {
	if d == nil || d.root == nil {
		return 0
	}
	n := d.root
	best := n.Line
	for _, part := range splitPath(path) {
		next := child(n, part)
		if next == nil {
			break
		}
		n = next
		best = n.Line
	}
	return best
}

func splitPath(path string) []string {
	var parts []string
	for _, seg := range strings.Split(path, ".") {
		for seg != "" {
			i := strings.IndexByte(seg, '[')
			if i < 0 {
				parts = append(parts, seg)
				break
			}
			if i > 0 {
				parts = append(parts, seg[:i])
			}
			j := strings.IndexByte(seg, ']')
			if j < i {
				break
			}
			parts = append(parts, seg[i:j+1])
			seg = seg[j+1:]
		}
	}
	return parts
}

func child(n *yaml.Node, part string) *yaml.Node {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if strings.HasPrefix(part, "[") {
		var i int
		if _, err := fmt.Sscanf(part, "[%d]", &i); err != nil || n.Kind != yaml.SequenceNode || i < 0 || i >= len(n.Content) {
			return nil
		}
		return n.Content[i]
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == part {
			// Point at the key: that is the line a reader looks for.
			v := n.Content[i+1]
			if v.Kind == yaml.ScalarNode {
				return v
			}
			k := *v
			k.Line = n.Content[i].Line
			return &k
		}
	}
	return nil
}

// Errorf returns a FieldError for field (a dotted path such as
// "backends[0].sticky") located in the spec's file, for the stages after
// loading that reject what a spec asks.
func (s *Spec) Errorf(field, format string, args ...any) error {
	return &FieldError{File: s.File, Line: s.doc.line(field), Field: field, Msg: fmt.Sprintf(format, args...)}
}

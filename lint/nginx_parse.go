package lint

// nginx is parsed by this tokenizer rather than a library such as
// github.com/tufanbarisyildirim/gonginx (not a dependency): gonginx records the line of the token that ends a
// statement, so every server, location and upstream block gets the line of
// its closing brace and a directive split over lines gets its last line,
// while the linter must point at the line the user has to edit. nginx's
// grammar is small (words, quotes, escapes, "${var}", ";", "{", "}", "#"
// comments), and the tokenizer follows ngx_conf_read_token. Includes are
// spliced in place with their own file names and lines; *_by_lua_block
// bodies are skipped.

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"

	"github.com/wsctl/wsctl/internal/inputfile"
)

// nDirective is one nginx directive: its name, arguments, position and, for
// block directives, the directives inside.
type nDirective struct {
	name    string
	args    []string
	at      pos
	isBlock bool
	block   []*nDirective
}

// nConfig is a parsed nginx config with its includes spliced in.
type nConfig struct {
	file    string
	root    []*nDirective
	missing []nInclude // includes that matched no file
}

// nInclude is an include directive that matched nothing.
type nInclude struct {
	at      pos
	pattern string
}

// includeFS reads included files; nil means includes are not followed.
type includeFS interface {
	Glob(pattern string) ([]string, error)
	ReadFile(name string) ([]byte, error)
}

// osFS is the real file system; it reads only regular files of bounded size.
type osFS struct{}

func (osFS) Glob(pattern string) ([]string, error) { return filepath.Glob(pattern) }
func (osFS) ReadFile(name string) ([]byte, error) {
	return inputfile.Read(name, inputfile.MaxConfig)
}

// nParser turns tokens into directives and follows includes.
type nParser struct {
	cfg   *nConfig
	dir   string // includes are relative to the main file's directory, like nginx's conf prefix
	fsys  includeFS
	stack []string // files being read, to refuse include cycles
}

// parseNginx parses data, named name, following includes through fsys.
func parseNginx(name string, data []byte, fsys includeFS) (*nConfig, error) {
	p := &nParser{cfg: &nConfig{file: name}, dir: filepath.Dir(name), fsys: fsys}
	root, err := p.parseFile(name, data)
	if err != nil {
		return nil, err
	}
	p.cfg.root = root
	return p.cfg, nil
}

func (p *nParser) parseFile(name string, data []byte) ([]*nDirective, error) {
	p.stack = append(p.stack, name)
	defer func() { p.stack = p.stack[:len(p.stack)-1] }()
	lx := &nLexer{file: name, data: data, line: 1}
	ds, err := p.parseBlock(lx, false)
	var nested *nParseError
	if err != nil && !errors.As(err, &nested) {
		err = &nParseError{file: name, line: lx.line, err: err}
	}
	return ds, err
}

// nParseError is a syntax error at a line of a (possibly included) file.
type nParseError struct {
	file string
	line int
	err  error
}

func (e *nParseError) Error() string {
	return fmt.Sprintf("lint: parse %s:%d: %v", e.file, e.line, e.err)
}
func (e *nParseError) Unwrap() error { return e.err }

// parseBlock reads directives up to the closing brace (inBlock) or the end.
func (p *nParser) parseBlock(lx *nLexer, inBlock bool) ([]*nDirective, error) {
	var ds []*nDirective
	for {
		d, end, err := lx.statement()
		if err != nil {
			return nil, err
		}
		switch {
		case d == nil && end == tokEOF && !inBlock, d == nil && end == '}' && inBlock:
			return ds, nil
		case end == tokEOF && d != nil:
			return nil, errors.New(`unexpected end of file, expecting ";" or "{"`)
		case end == tokEOF:
			return nil, errors.New(`unexpected end of file, expecting "}"`)
		case d == nil || end == '}':
			return nil, fmt.Errorf("unexpected %q", string(end))
		case end == ';':
			included, err := p.include(d)
			if err != nil {
				return nil, err
			}
			ds = append(ds, included...)
		default: // '{'
			d.isBlock = true
			if strings.HasSuffix(d.name, "_by_lua_block") {
				err = lx.skipBlock()
			} else {
				d.block, err = p.parseBlock(lx, true)
			}
			if err != nil {
				return nil, err
			}
			ds = append(ds, d)
		}
	}
}

// include returns d itself, or for an include the directives of the files
// it matches (none when includes are not followed).
func (p *nParser) include(d *nDirective) ([]*nDirective, error) {
	if d.name != "include" || len(d.args) != 1 {
		return []*nDirective{d}, nil
	}
	if p.fsys == nil {
		return nil, nil
	}
	pattern := d.args[0]
	if !filepath.IsAbs(pattern) {
		pattern = filepath.Join(p.dir, pattern)
	}
	files := []string{pattern}
	if strings.ContainsAny(pattern, "*?[") {
		var err error
		if files, err = p.fsys.Glob(pattern); err != nil {
			return nil, fmt.Errorf("include %q: %w", d.args[0], err)
		}
		// glob(3), which nginx uses, doesn't match a leading dot with a wildcard.
		if !strings.HasPrefix(filepath.Base(pattern), ".") {
			files = slices.DeleteFunc(files, func(f string) bool { return strings.HasPrefix(filepath.Base(f), ".") })
		}
		slices.Sort(files)
	}
	var out []*nDirective
	for _, f := range files {
		if slices.Contains(p.stack, f) {
			return nil, fmt.Errorf("include %q: %s includes itself", d.args[0], f)
		}
		data, err := p.fsys.ReadFile(f)
		if errors.Is(err, fs.ErrNotExist) {
			p.cfg.missing = append(p.cfg.missing, nInclude{at: d.at, pattern: d.args[0]})
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("include %q: %w", d.args[0], err)
		}
		ds, err := p.parseFile(f, data)
		if err != nil {
			return nil, err
		}
		out = append(out, ds...)
	}
	return out, nil
}

// Token kinds besides the punctuation bytes ';', '{' and '}'.
const (
	tokEOF  = 0
	tokWord = 'w'
)

type nToken struct {
	kind byte
	text string
	line int
}

// nLexer reads nginx tokens the way ngx_conf_read_token does.
type nLexer struct {
	file string
	data []byte
	i    int
	line int
}

// statement reads the words of one directive and the token that ends it
// (";", "{", "}" or the end); the directive is nil when there are no words.
func (lx *nLexer) statement() (*nDirective, byte, error) {
	var d *nDirective
	for {
		t, err := lx.next()
		if err != nil || t.kind != tokWord {
			return d, t.kind, err
		}
		if d == nil {
			d = &nDirective{name: t.text, at: pos{file: lx.file, line: t.line}}
		} else {
			d.args = append(d.args, t.text)
		}
	}
}

func (lx *nLexer) next() (nToken, error) {
	for lx.i < len(lx.data) {
		c := lx.data[lx.i]
		switch {
		case c == '\n':
			lx.line++
			lx.i++
		case c == ' ' || c == '\t' || c == '\r':
			lx.i++
		case c == '#':
			for lx.i < len(lx.data) && lx.data[lx.i] != '\n' {
				lx.i++
			}
		case c == ';' || c == '{' || c == '}':
			lx.i++
			return nToken{kind: c, line: lx.line}, nil
		case c == '"' || c == '\'':
			return lx.quoted(c)
		default:
			return lx.word(), nil
		}
	}
	return nToken{kind: tokEOF, line: lx.line}, nil
}

// word reads an unquoted word: it ends at a blank, ";" or "{" (but "${" is a
// variable); quotes and "}" inside it are ordinary characters.
func (lx *nLexer) word() nToken {
	t := nToken{kind: tokWord, line: lx.line}
	start := lx.i
	for lx.i < len(lx.data) {
		c := lx.data[lx.i]
		if c == '\\' && lx.i+1 < len(lx.data) {
			lx.i += 2
			continue
		}
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ';' || c == '{' && (lx.i == start || lx.data[lx.i-1] != '$') {
			break
		}
		lx.i++
	}
	t.text = unescapeNginx(lx.data[start:lx.i])
	return t
}

// quoted reads a quoted string; after it comes a blank, ";", "{" or ")".
func (lx *nLexer) quoted(q byte) (nToken, error) {
	t := nToken{kind: tokWord, line: lx.line}
	lx.i++
	start := lx.i
	for lx.i < len(lx.data) && lx.data[lx.i] != q {
		if lx.data[lx.i] == '\\' && lx.i+1 < len(lx.data) {
			lx.i++
		}
		if lx.data[lx.i] == '\n' {
			lx.line++
		}
		lx.i++
	}
	if lx.i >= len(lx.data) {
		return t, errors.New("unexpected end of file in a quoted string")
	}
	t.text = unescapeNginx(lx.data[start:lx.i])
	lx.i++
	if lx.i < len(lx.data) && !strings.ContainsRune(" \t\r\n;{)", rune(lx.data[lx.i])) {
		return t, fmt.Errorf("unexpected %q after a quoted string", lx.data[lx.i])
	}
	return t, nil
}

// skipBlock skips a Lua block body up to its matching "}".
func (lx *nLexer) skipBlock() error {
	depth := 1
	var quote byte
	for ; lx.i < len(lx.data); lx.i++ {
		c := lx.data[lx.i]
		switch {
		case c == '\n':
			lx.line++
		case quote != 0:
			if c == '\\' {
				lx.i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '{':
			depth++
		case c == '}':
			if depth--; depth == 0 {
				lx.i++
				return nil
			}
		}
	}
	return errors.New(`unexpected end of file in a Lua block, expecting "}"`)
}

// unescapeNginx drops the backslash before a quote or backslash and turns
// \t, \r, \n into their characters; other escapes (regex ones) stay.
func unescapeNginx(b []byte) string {
	if !slices.Contains(b, '\\') {
		return string(b)
	}
	var s strings.Builder
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' && i+1 < len(b) {
			switch b[i+1] {
			case '"', '\'', '\\':
				i++
			case 't':
				s.WriteByte('\t')
				i++
				continue
			case 'r':
				s.WriteByte('\r')
				i++
				continue
			case 'n':
				s.WriteByte('\n')
				i++
				continue
			}
		}
		s.WriteByte(b[i])
	}
	return s.String()
}

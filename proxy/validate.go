package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/wsctl/wsctl/internal/binpath"
)

// Binaries wsctl validates with. Unless a Validator names a path, both are
// looked up in PATH and then in the sbin directories Debian installs them
// to; $WSCTL_HAPROXY, when set, is the haproxy binary (see FindBinary).
const (
	HAProxyBinary = "haproxy"
	NginxBinary   = "nginx"
)

// validateTimeout bounds one run of the proxy binary.
const validateTimeout = 30 * time.Second

// ErrBinaryNotFound is returned when the proxy binary is not installed, or
// the path a Validator names does not exist.
var ErrBinaryNotFound = binpath.ErrNotFound

// Problem is one complaint of the proxy binary about a config.
// Its JSON is part of `wsctl check -o json`, a documented contract: fields
// are only ever added.
type Problem struct {
	Severity string `json:"severity"`       // "error" or "warning"
	Line     int    `json:"line,omitempty"` // line in the validated config, 0 when not given
	Message  string `json:"message"`
	Text     string `json:"text,omitempty"` // that line of the config, trimmed
}

// Rejected is returned when the proxy binary refuses a config.
type Rejected struct {
	Binary   string    // the binary's name
	Path     string    // and its path
	Problems []Problem // errors and warnings, in output order
	Output   string    // everything the binary printed
}

func (r *Rejected) Error() string {
	for _, p := range r.Problems {
		if p.Severity == "error" {
			return fmt.Sprintf("%s rejected the config: line %d: %s", r.Binary, p.Line, p.Message)
		}
	}
	return fmt.Sprintf("%s rejected the config: %s", r.Binary, strings.TrimSpace(lastLine(r.Output)))
}

// Result is a successful validation; Warnings may still be set.
type Result struct {
	Binary   string // the binary's name
	Path     string // and its path
	Warnings []Problem
}

// Validator runs the real proxy binary on a config.
type Validator struct {
	// Dir is where relative paths in the config (certificates) resolve:
	// HAProxy runs in it, nginx reads its copy of the config from it (nginx
	// resolves against the config's directory). "" is the current one.
	Dir string
	// Strict makes warnings fatal (haproxy -dW; nginx has no warnings mode,
	// so its warnings become errors here).
	Strict bool
	// HAProxy and Nginx are the paths of the binaries to validate with,
	// such as the ones run in production; "" finds them (FindBinary).
	HAProxy, Nginx string
}

// Validate checks config (the text of a whole config file) for target
// ("haproxy" or "nginx") with the real binary.
func (v Validator) Validate(ctx context.Context, target string, config []byte) (*Result, error) {
	bin, err := v.binary(target)
	if err != nil {
		return nil, err
	}
	// nginx resolves relative paths (certificates, includes) against the
	// config file's own directory, so its copy is written into Dir.
	tmpDir := ""
	if target == NginxBinary {
		tmpDir = v.Dir
	}
	f, err := os.CreateTemp(tmpDir, ".wsctl-check-*.conf")
	if err != nil {
		return nil, fmt.Errorf("validate: %w", err)
	}
	file := f.Name()
	defer os.Remove(file)
	if target == HAProxyBinary {
		var cleanup func()
		config, cleanup, err = withStateFile(config)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("validate: %w", err)
		}
		defer cleanup()
	}
	_, err = f.Write(config)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("validate: %w", err)
	}
	var args []string
	switch target {
	case HAProxyBinary:
		args = []string{"-c", "-f", file}
		if v.Strict {
			args = append([]string{"-dW"}, args...)
		}
	case NginxBinary:
		args = []string{"-t", "-q", "-e", "stderr", "-c", file}
		if v.Dir != "" {
			args = append(args, "-p", v.Dir)
		}
	default:
		return nil, fmt.Errorf("validate: unknown target %q", target)
	}
	ctx, cancel := context.WithTimeout(ctx, validateTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = v.Dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	runErr := cmd.Run()
	problems := parseProblems(target, file, out.String(), config)
	if ctx.Err() != nil {
		return nil, fmt.Errorf("validate: %s did not finish within %s", bin, validateTimeout)
	}
	var exitErr *exec.ExitError
	if runErr != nil && !errors.As(runErr, &exitErr) {
		return nil, fmt.Errorf("validate: run %s: %w", bin, runErr)
	}
	var warnings []Problem
	for _, p := range problems {
		if p.Severity == "warning" {
			warnings = append(warnings, p)
		}
	}
	if runErr != nil || (v.Strict && len(warnings) > 0) {
		return nil, &Rejected{Binary: filepath.Base(bin), Path: bin, Problems: problems, Output: out.String()}
	}
	return &Result{Binary: filepath.Base(bin), Path: bin, Warnings: warnings}, nil
}

// EmptyStateFile is a server-state-file holding no server: HAProxy 2.6
// warns about a missing or empty file ("Can't get version of the global
// server state file"), not about this.
const EmptyStateFile = "1\n"

// withStateFile points a `server-state-file` that does not exist (yet) at
// an empty one: whether the host has saved its state is no property of the
// config, and haproxy -dW would refuse the config for it. wsctl creates
// the real file before HAProxy starts or reloads (see package serverstate).
func withStateFile(config []byte) ([]byte, func(), error) {
	nop := func() {}
	lines := strings.Split(string(config), "\n")
	for i, l := range lines {
		f := strings.Fields(l)
		if len(f) != 2 || f[0] != "server-state-file" || !filepath.IsAbs(f[1]) {
			continue
		}
		if _, err := os.Stat(f[1]); err == nil {
			return config, nop, nil
		}
		tmp, err := os.CreateTemp("", ".wsctl-check-*.state")
		if err != nil {
			return nil, nop, err
		}
		_, err = tmp.WriteString(EmptyStateFile)
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		cleanup := func() { os.Remove(tmp.Name()) }
		if err != nil {
			cleanup()
			return nil, nop, err
		}
		lines[i] = strings.Replace(l, f[1], tmp.Name(), 1)
		return []byte(strings.Join(lines, "\n")), cleanup, nil
	}
	return config, nop, nil
}

// binary returns the path of the binary for target: the one v names, or
// FindBinary's.
func (v Validator) binary(target string) (string, error) {
	var path string
	switch target {
	case HAProxyBinary:
		path = v.HAProxy
	case NginxBinary:
		path = v.Nginx
	default:
		return "", fmt.Errorf("validate: unknown target %q", target)
	}
	if path == "" {
		return FindBinary(target)
	}
	if err := binpath.Executable(path); err != nil {
		return "", fmt.Errorf("validate: %s binary %s: %w", target, path, err)
	}
	return path, nil
}

// FindBinary returns the path of the proxy binary for target: for haproxy
// $WSCTL_HAPROXY when set, else target in PATH, then in /usr/sbin,
// /usr/local/sbin and /sbin.
func FindBinary(target string) (string, error) {
	p, err := binpath.Find(target)
	if err != nil {
		return "", fmt.Errorf("validate: %w", err)
	}
	return p, nil
}

// BinaryVersion returns the version the proxy binary at path reports
// (haproxy -v, nginx -v), such as "2.6.12-1+deb12u4" or "1.22.1".
func BinaryVersion(ctx context.Context, path string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, validateTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "-v").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("version of %s: %w", path, err)
	}
	m := binaryVersion.FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("version of %s: no version in %.80q", path, out)
	}
	return string(m[1]), nil
}

var (
	// HAProxy version 2.6.12-1+deb12u4 2026/10/17 - https://haproxy.org/
	// nginx version: nginx/1.22.1
	binaryVersion = regexp.MustCompile(`(?m)^(?:HAProxy version |nginx version: nginx/)(\S+)`)
	// [ALERT]    (123) : config : parsing [/tmp/x.cfg:12] : unknown keyword …
	haproxyLine = regexp.MustCompile(`^\[(ALERT|WARNING)\]\s+\(\d+\)\s*:\s*(.*)$`)
	haproxyPos  = regexp.MustCompile(`\[([^\[\]]+):(\d+)\]`)
	// nginx: [emerg] unknown directive "foo" in /tmp/x.conf:12
	// 2026/11/23 15:36:42 [emerg] 20000#20000: unknown directive … (with -e stderr)
	nginxLine = regexp.MustCompile(`^(?:nginx: |\S+ \S+ )\[(emerg|alert|crit|error|warn)\] (?:\d+#\d+: )?(.*?)(?: in (\S+):(\d+))?$`)
)

func parseProblems(target, file, output string, config []byte) []Problem {
	lines := strings.Split(string(config), "\n")
	text := func(n int) string {
		if n < 1 || n > len(lines) {
			return ""
		}
		return strings.TrimSpace(lines[n-1])
	}
	var problems []Problem
	for _, l := range strings.Split(output, "\n") {
		l = strings.TrimSpace(l)
		var p Problem
		switch target {
		case HAProxyBinary:
			m := haproxyLine.FindStringSubmatch(l)
			if m == nil {
				continue
			}
			p.Severity, p.Message = "error", m[2]
			if m[1] == "WARNING" {
				p.Severity = "warning"
			}
			if pos := haproxyPos.FindStringSubmatch(m[2]); pos != nil && pos[1] == file {
				p.Line, _ = strconv.Atoi(pos[2])
			}
			p.Message = strings.TrimPrefix(strings.ReplaceAll(p.Message, file, "config"), "config : ")
		case NginxBinary:
			m := nginxLine.FindStringSubmatch(l)
			if m == nil {
				continue
			}
			p.Severity, p.Message = "error", m[2]
			if m[1] == "warn" {
				p.Severity = "warning"
			}
			if m[3] == file {
				p.Line, _ = strconv.Atoi(m[4])
			}
			p.Message = strings.ReplaceAll(p.Message, file, "config")
		}
		p.Text = text(p.Line)
		problems = append(problems, p)
	}
	return problems
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

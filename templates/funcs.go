package templates

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
)

// Limits on what a template can make. A config is a few hundred kilobytes;
// these stop a template (a user's own, or a typo in one) from taking the
// host's memory.
const (
	// MaxOutput bounds a rendered config, and any one string a function
	// builds.
	MaxOutput = 64 << 20 // 64 MiB
	// MaxItems bounds the lists and sequences until, untilStep and seq build.
	MaxItems = 100_000
)

// notHermetic are the functions of sprig's hermetic map that still depend on
// more than their arguments: the clock, randomness (keys, salts, IVs, serial
// numbers) or the local time zone. A config must be a function of the spec
// and the discovered servers only, so that render is repeatable and diff
// means something.
var notHermetic = []string{
	"ago", "toDate", "mustToDate",
	"randInt", "shuffle",
	"bcrypt", "htpasswd", "encryptAES",
	"genPrivateKey", "genCA", "genCAWithKey",
	"genSelfSignedCert", "genSelfSignedCertWithKey",
	"genSignedCert", "genSignedCertWithKey",
}

// funcMap is sprig's hermetic function map (no env, expandenv, now, random
// values or DNS lookups) minus notHermetic, with the functions that allocate
// by a count argument replaced by ones that refuse beyond the limits before
// allocating.
func funcMap() template.FuncMap {
	m := sprig.HermeticTxtFuncMap()
	for _, name := range notHermetic {
		delete(m, name)
	}
	untilStep := m["untilStep"].(func(int, int, int) []int)
	until := m["until"].(func(int) []int)
	seq := m["seq"].(func(...int) string)
	indent := m["indent"].(func(int, string) string)
	nindent := m["nindent"].(func(int, string) string)
	m["untilStep"] = func(start, stop, step int) ([]int, error) {
		if err := maxItems("untilStep", start, stop, step); err != nil {
			return nil, err
		}
		return untilStep(start, stop, step), nil
	}
	m["until"] = func(count int) ([]int, error) {
		if err := maxItems("until", 0, count, 1); err != nil {
			return nil, err
		}
		return until(count), nil
	}
	m["seq"] = func(params ...int) (string, error) {
		start, end, step := 1, 0, 1
		switch len(params) {
		case 1:
			end = params[0]
		case 2:
			start, end = params[0], params[1]
		case 3:
			start, step, end = params[0], params[1], params[2]
		}
		if err := maxItems("seq", start, end, step); err != nil {
			return "", err
		}
		return seq(params...), nil
	}
	m["repeat"] = func(count int, s string) (string, error) {
		if count < 0 {
			return "", fmt.Errorf("repeat: negative count %d", count)
		}
		if err := maxOutput("repeat", float64(count)*float64(len(s))); err != nil {
			return "", err
		}
		return strings.Repeat(s, count), nil
	}
	m["indent"] = func(spaces int, s string) (string, error) {
		if err := maxIndent("indent", spaces, s); err != nil {
			return "", err
		}
		return indent(spaces, s), nil
	}
	m["nindent"] = func(spaces int, s string) (string, error) {
		if err := maxIndent("nindent", spaces, s); err != nil {
			return "", err
		}
		return nindent(spaces, s), nil
	}
	return m
}

// maxItems refuses a sequence from start towards stop by step of more than
// MaxItems numbers. It counts as if the direction were right, which
// overestimates only sequences that come out empty anyway.
func maxItems(name string, start, stop, step int) error {
	if step == 0 {
		return nil
	}
	n := math.Abs(float64(stop)-float64(start)) / math.Abs(float64(step))
	if n > MaxItems {
		return fmt.Errorf("%s: %.0f items is over the limit of %d", name, n, MaxItems)
	}
	return nil
}

func maxIndent(name string, spaces int, s string) error {
	if spaces < 0 {
		return fmt.Errorf("%s: negative count %d", name, spaces)
	}
	lines := strings.Count(s, "\n") + 1
	return maxOutput(name, float64(spaces)*float64(lines)+float64(len(s)))
}

func maxOutput(name string, size float64) error {
	if size > MaxOutput {
		return fmt.Errorf("%s: %.0f bytes is over the %d MiB limit", name, size, MaxOutput>>20)
	}
	return nil
}

// errOutputLimit is returned by Render for a config over MaxOutput.
var errOutputLimit = fmt.Errorf("output is over the %d MiB limit", MaxOutput>>20)

// limitedBuffer collects the rendered config and fails a write that would
// take it over limit, which stops the template at once.
type limitedBuffer struct {
	buf   []byte
	limit int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if len(b.buf)+len(p) > b.limit {
		return 0, errOutputLimit
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

var undefinedFunc = regexp.MustCompile(`function "([^"]+)" not defined`)

// explainParseError adds why a sprig function a template calls is missing:
// it was taken out to keep rendering hermetic.
func explainParseError(err error) error {
	m := undefinedFunc.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	if _, inSprig := sprig.TxtFuncMap()[m[1]]; !inSprig {
		return err
	}
	return fmt.Errorf("%w (wsctl templates render from the spec and discovery alone: sprig functions that read the environment, the clock, randomness or DNS are left out)", err)
}

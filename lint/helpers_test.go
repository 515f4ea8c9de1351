package lint

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// testOptions are fixed so findings don't depend on the machine running the
// tests: a 20,000-file hard limit (as on the reference host) and 2 CPUs.
var testOptions = Options{Heartbeat: 30 * time.Second, Connections: 5000, FDLimit: 20000, CPUs: 2}

// ruleCase is one rule test: a config, the findings that must be there
// ("rule@text": text is a unique part of the line the finding points at) and
// the rules that must not fire.
type ruleCase struct {
	name   string
	config string
	opt    *Options // nil: testOptions
	want   []string
	absent []string
}

// edit applies old→new replacements to base; each old must be there.
func edit(t *testing.T, base string, pairs ...string) string {
	t.Helper()
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(base, pairs[i]) {
			t.Fatalf("edit: %q is not in the base config", pairs[i])
		}
		base = strings.Replace(base, pairs[i], pairs[i+1], 1)
	}
	return base
}

// lineOf returns the 1-based line of config starting with text (blanks
// aside), else the first holding it.
func lineOf(t *testing.T, config, text string) int {
	t.Helper()
	lines := strings.Split(config, "\n")
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), text) {
			return i + 1
		}
	}
	for i, l := range lines {
		if strings.Contains(l, text) {
			return i + 1
		}
	}
	t.Fatalf("no line holds %q", text)
	return 0
}

// runRuleCases lints each case as target and checks want and absent.
func runRuleCases(t *testing.T, target string, cases []ruleCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opt := testOptions
			if tc.opt != nil {
				opt = *tc.opt
			}
			opt.Target = target
			fs, err := Lint("test.cfg", []byte(tc.config), opt)
			if err != nil {
				t.Fatalf("Lint: %v", err)
			}
			var got []string
			for _, f := range fs {
				got = append(got, fmt.Sprintf("%s:%d", f.Rule, f.Line))
			}
			for _, w := range tc.want {
				rule, text, _ := strings.Cut(w, "@")
				if key := fmt.Sprintf("%s:%d", rule, lineOf(t, tc.config, text)); !slices.Contains(got, key) {
					t.Errorf("missing %s (at %q); got %v", key, text, got)
				}
			}
			for _, a := range tc.absent {
				for _, f := range fs {
					if f.Rule == a {
						t.Errorf("unexpected %s at line %d: %s", a, f.Line, f.Message)
					}
				}
			}
		})
	}
}

func optWith(f func(*Options)) *Options {
	o := testOptions
	f(&o)
	return &o
}

// withoutReloadInfo drops nginx/reload-handover, which every nginx config
// with a worker_shutdown_timeout gets: what nginx cannot do is no defect of
// the config under test.
func withoutReloadInfo(fs []Finding) []Finding {
	out := []Finding{}
	for _, f := range fs {
		if f.Rule != "nginx/reload-handover" {
			out = append(out, f)
		}
	}
	return out
}

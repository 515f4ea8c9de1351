// Package prometheus_test runs promtool's unit tests of the alerting rules
// shipped in examples/prometheus (and in the Debian package).
package prometheus_test

import (
	"os/exec"
	"testing"

	"github.com/wsctl/wsctl/internal/lbtest"
)

// TestAlertRules checks alerts.yml and runs its unit tests,
// alerts_test.yml, with the real promtool.
func TestAlertRules(t *testing.T) {
	promtool := lbtest.Binary(t, "promtool")
	for _, args := range [][]string{
		{"check", "rules", "alerts.yml"},
		{"test", "rules", "alerts_test.yml"},
	} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %v: %v\n%s", args, err, out)
		}
	}
}

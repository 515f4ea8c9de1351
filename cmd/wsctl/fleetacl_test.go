package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wsctl/wsctl/internal/lbtest"
)

// TestFleetACL: `wsctl fleet acl` prints the agent's and the pipeline's
// policies from the spec (its kv_prefix, its services), refuses anything
// but one of --agent and --pipeline, and docs/security.md shows exactly
// what it prints for the spec there.
func TestFleetACL(t *testing.T) {
	text := strings.NewReplacer("FRONTEND", "127.0.0.1:8080", "CONSUL", "127.0.0.1:8500", "RUN", "/run/haproxy").Replace(fleetSpecText)
	specFile := writeFile(t, filepath.Join(t.TempDir(), "wsctl.yaml"), text)
	code, agent, errOut := wsctl("fleet", "acl", "-c", specFile, "--agent", "lb2")
	if code != 0 {
		t.Fatalf("--agent: exit %d: %s", code, errOut)
	}
	for _, want := range []string{`key "wsctl/agents/lb2" { policy = "write" }`, `key_prefix "wsctl/progress/lb2/" { policy = "write" }`,
		`key_prefix "wsctl/" { policy = "read" }`, `session "lb2" { policy = "write" }`, `service "echo" { policy = "read" }`} {
		if !strings.Contains(agent, want) {
			t.Errorf("agent policy lacks %s:\n%s", want, agent)
		}
	}
	if strings.Contains(agent, `"wsctl/intents/`) || strings.Contains(agent, `key_prefix "wsctl/agents/"`) {
		t.Errorf("agent policy writes beyond its own keys:\n%s", agent)
	}
	if _, withNode, _ := wsctl("fleet", "acl", "-c", specFile, "--agent", "lb2", "--node", "host-2"); !strings.Contains(withNode, `session "host-2"`) {
		t.Errorf("--node host-2:\n%s", withNode)
	}
	code, pipeline, errOut := wsctl("fleet", "acl", "-c", specFile, "--pipeline")
	if code != 0 || !strings.Contains(pipeline, `key_prefix "wsctl/intents/" { policy = "write" }`) {
		t.Fatalf("--pipeline: exit %d, %q, %s", code, pipeline, errOut)
	}
	for _, args := range [][]string{{}, {"--agent", "lb2", "--pipeline"}, {"--pipeline", "--node", "x"}, {"--agent", "lb 2"}} {
		if code, _, errOut := wsctl(append([]string{"fleet", "acl", "-c", specFile}, args...)...); code != 2 || errOut == "" {
			t.Errorf("%v: exit %d, stderr %q; want 2 with a reason", args, code, errOut)
		}
	}
	doc, err := os.ReadFile(filepath.Join(lbtest.ModuleRoot(t), "docs", "security.md"))
	if err != nil {
		t.Fatal(err)
	}
	for name, policy := range map[string]string{"agent lb2": agent, "pipeline": pipeline} {
		if !strings.Contains(string(doc), "```hcl\n"+policy+"```") {
			t.Errorf("docs/security.md does not show the %s policy `wsctl fleet acl` prints:\n%s", name, policy)
		}
	}
}

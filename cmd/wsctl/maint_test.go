package main

import (
	"strings"
	"testing"
	"time"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/haproxy/haproxytest"
)

// TestMaint refuses while sessions remain, complies with --force without
// cutting anyone, and puts an idle server in MAINT at once.
func TestMaint(t *testing.T) {
	f := startFixture(t, nil)
	fleet := haproxytest.StartClients(t, f.lb.URL(), 4, false)
	start := time.Now()

	r := execute(t, maintCmd, false, nil, "ws/s1", "--socket", f.lb.AdminSocket)
	want := "wsctl: ws/s1 has 2 live sessions (2 on " + f.lb.AdminSocket + "): drain it first with `wsctl drain ws/s1`, or use --force"
	if r.code != exitError || strings.TrimSpace(r.errOut) != want {
		t.Fatalf("exit %d, stderr %q; want 2 and %q", r.code, r.errOut, want)
	}
	if got := f.admin(t, "s1"); got != haproxy.Ready {
		t.Fatalf("refused maint left s1 %s, want READY", got)
	}

	r = execute(t, maintCmd, false, nil, "ws/s1", "--socket", f.lb.AdminSocket, "--force")
	if r.code != 0 || !strings.Contains(r.errOut, "ws/s1 is MAINT with 2 sessions still open") {
		t.Fatalf("--force: exit %d, stderr %q", r.code, r.errOut)
	}
	if got := f.admin(t, "s1"); got != haproxy.Maint {
		t.Errorf("s1 is %s after --force, want MAINT", got)
	}
	time.Sleep(200 * time.Millisecond)
	if cut := fleet.Since(start, false); len(cut) != 0 || fleet.Connected()["s1"] != 2 {
		t.Errorf("maint cut %d sessions; connected %v", len(cut), fleet.Connected())
	}

	// ws/s2 is idle, but with s1 in MAINT the last server of ws.
	r = execute(t, maintCmd, false, nil, "ws/s2", "--socket", f.lb.AdminSocket)
	if r.code != exitError || !strings.HasPrefix(r.errOut, "wsctl: maint: ") || !strings.Contains(r.errOut, "taking out ws/s2 leaves backend ws nothing to send clients to") {
		t.Fatalf("last server: exit %d, stderr %q; want 2 and a refusal", r.code, r.errOut)
	}
	if got := f.admin(t, "s2"); got != haproxy.Ready {
		t.Fatalf("refused maint left s2 %s, want READY", got)
	}

	// other/s2 has no sessions and is the only server of other. Off a
	// terminal too, the result is one line: a pipeline's log shows it.
	r = execute(t, maintCmd, false, nil, "other/s2", "--socket", f.lb.AdminSocket, "--force")
	if r.code != 0 || r.out != "other/s2 is MAINT\n" {
		t.Errorf("idle server: exit %d, stdout %q, stderr %q", r.code, r.out, r.errOut)
	}
}

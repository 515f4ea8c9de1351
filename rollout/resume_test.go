package rollout_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wsctl/wsctl/drain"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/haproxy/haproxytest"
	"github.com/wsctl/wsctl/intent"
	"github.com/wsctl/wsctl/rollout"
	"github.com/wsctl/wsctl/target"
)

// damagedStates are state files a rollout never writes, each with the
// field its refusal must name. The first three made Run panic after the
// deploy command had run; the names reached the command's environment.
var damagedStates = []struct {
	name, state, field string
}{
	{"unknown server", `{"backend": "ws", "order": ["s1", "nope", "s3"], "index": 1, "phase": "deploy", "held": ["s3"],
		"steps": [{"server": "s1", "step": 1, "of": 3}], "current": {"server": "nope", "step": 2, "of": 3}}`,
		"order[1]: lb: "},
	{"duplicated order", `{"backend": "ws", "order": ["s1", "s2", "s1"], "index": 1, "phase": "deploy",
		"steps": [{"server": "s1", "step": 1, "of": 3}]}`,
		"order[2]: s1 is listed twice"},
	{"all servers held", `{"backend": "ws", "order": ["s1", "s2", "s3"], "index": 1, "phase": "deploy", "held": ["s1", "s2", "s3"],
		"steps": [{"server": "s1", "step": 1, "of": 3}]}`,
		"held[0]: s1 is neither still to be deployed"},
	{"newline in a name", `{"backend": "ws", "order": ["s1\nWSCTL_ADDRESS=evil", "s2", "s3"], "index": 0, "phase": "deploy",
		"current": {"server": "s1\nWSCTL_ADDRESS=evil", "step": 1, "of": 3}}`,
		`order[0]: "s1\nWSCTL_ADDRESS=evil" is not a server name`},
	{"command substitution", `{"backend": "ws", "order": ["$(touch /tmp/wsctl-pwned)", "s2", "s3"], "index": 0, "phase": "deploy",
		"current": {"server": "$(touch /tmp/wsctl-pwned)", "step": 1, "of": 3}}`,
		`order[0]: "$(touch /tmp/wsctl-pwned)" is not a server name`},
	{"no step in progress", `{"backend": "ws", "order": ["s1", "s2", "s3"], "index": 0, "phase": "deploy"}`,
		"current: none in phase deploy"},
}

// TestRolloutRefusesDamagedState resumes each damaged state against a
// real HAProxy: Run refuses it naming the file and the field, before the
// deploy command runs or any server, intent or the file changes.
func TestRolloutRefusesDamagedState(t *testing.T) {
	lb := haproxytest.StartLB(t, haproxytest.Config{}, haproxytest.Backends(t, "s1", "s2", "s3"))
	c, err := haproxy.Dial(context.Background(), lb.AdminSocket, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range damagedStates {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			state, marker := filepath.Join(dir, "rollout.json"), filepath.Join(dir, "deployed")
			if err := os.WriteFile(state, []byte(tt.state), 0o600); err != nil {
				t.Fatal(err)
			}
			intents := intent.NewFile(filepath.Join(dir, intent.FileName))
			res, err := rollout.Run(context.Background(), rollout.Options{
				Backend:   "ws",
				Target:    &target.Local{Sockets: []target.Socket{{Name: "lb", Runtime: c}}, Intents: intents},
				Drain:     drain.Options{Timeout: 5 * time.Second, Close: &drain.Close{After: 100 * time.Millisecond}},
				Deploy:    rollout.Command("touch "+marker, nil, io.Discard, io.Discard),
				StatePath: state,
			})
			if !errors.Is(err, rollout.ErrDamagedState) || !strings.Contains(err.Error(), state+": "+tt.field) {
				t.Fatalf("error %v, want ErrDamagedState naming %s and %q", err, state, tt.field)
			}
			t.Log(err)
			if res.Resumed != "" || res.Current != nil || len(res.Steps) != 0 {
				t.Errorf("result %+v, want nothing done", res)
			}
			if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the deploy command ran: %v", err)
			}
			if b, err := os.ReadFile(state); err != nil || string(b) != tt.state {
				t.Errorf("the state file changed: %q, %v", b, err)
			}
			all, err := c.Servers(context.Background(), "ws")
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range all {
				if s.Admin != haproxy.Ready {
					t.Errorf("%s is %s, want READY as before", s.Server, s.Admin)
				}
			}
			if got, err := intents.Load(context.Background()); err != nil || len(got) != 0 {
				t.Errorf("intents %v, %v; want none", got, err)
			}
		})
	}
}

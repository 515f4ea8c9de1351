package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/wsctl/wsctl/discovery"
	"github.com/wsctl/wsctl/fleet"
	"github.com/wsctl/wsctl/rollout"
	"github.com/wsctl/wsctl/spec"
	"github.com/wsctl/wsctl/target"
)

// askedFleet is a fake fleet whose every operation is done on lb1; it
// records what it was asked: "DRAIN ws/echo-2", "admit ws/echo-1".
type askedFleet struct {
	fakeFleet
	asked []string
	// intents are the intents written, in order.
	intents []fleet.Request
}

func newAskedFleet() *askedFleet {
	return &askedFleet{fakeFleet: fakeFleet{run: fleet.Status{Op: "op1", Outcome: fleet.Done, Rows: []fleet.Row{{Agent: "lb1", Done: true}}}}}
}

func (f *askedFleet) Run(ctx context.Context, req fleet.Request, update func(fleet.Status)) (fleet.Status, error) {
	what := "admit"
	if req.Intent != nil {
		what = string(req.Intent.State)
	}
	f.asked = append(f.asked, what+" "+req.Ref.String())
	f.intents = append(f.intents, req)
	return f.fakeFleet.Run(ctx, req, update)
}

// factory is a Factory reaching f as the fleet, with its output in
// memory.
func (f *askedFleet) factory() (*Factory, func() (string, string)) {
	ios, out, errOut := testIO()
	return &Factory{IO: ios, Fleet: func(spec.Consul) (target.Operator, error) { return f, nil }},
		func() (string, string) { return out.String(), errOut.String() }
}

// runCmd executes cmd with args and returns its exit code.
func runCmd(cmd *cobra.Command, args ...string) int {
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	return exitCode(cmd.Execute())
}

// TestDrainRunFleet: drain --fleet reaches the fleet through the Factory,
// writes the DRAIN intent with the close and timeout flags, who and why,
// and prints the fleet's documented summary.
func TestDrainRunFleet(t *testing.T) {
	fake := newAskedFleet()
	f, output := fake.factory()
	code := runCmd(NewCmdDrain(f, nil), "echo-2", "--fleet", "-c", fleetSpec(t), "--close-after", "5s", "--close-rate", "20",
		"--reason", "deploy 1.4.2", "-o", "json", "--quiet")
	out, errOut := output()
	if code != exitOK {
		t.Fatalf("exit %d, stdout %s, stderr %s", code, out, errOut)
	}
	if !slices.Equal(fake.asked, []string{"DRAIN ws/echo-2"}) {
		t.Fatalf("asked %q, want the DRAIN of ws/echo-2 (the bare name resolved with the spec)", fake.asked)
	}
	in := fake.intents[0].Intent
	if in.Reason != "deploy 1.4.2" || in.Op == nil || *in.Op.CloseAfter != 5 || in.Op.CloseRate != 20 || in.Op.Timeout != 300 {
		t.Errorf("intent %+v (op %+v), want close after 5 s at 20/s, timeout 300 s, the reason", in, in.Op)
	}
	var got fleet.Summary
	if err := json.Unmarshal([]byte(out), &got); err != nil || got.Server != "ws/echo-2" || got.Result != "done" ||
		len(got.LoadBalancers) != 1 || got.LoadBalancers[0].Agent != "lb1" {
		t.Errorf("summary %+v (%v) from %s", got, err, out)
	}

	// The fleet cannot be reached: exit 2, nothing asked.
	fake = newAskedFleet()
	f, _ = fake.factory()
	f.Fleet = func(spec.Consul) (target.Operator, error) { return nil, errors.New("fleet: no consul") }
	if code := runCmd(NewCmdDrain(f, nil), "echo-2", "--fleet", "-c", fleetSpec(t)); code != exitError || len(fake.asked) != 0 {
		t.Errorf("unreachable fleet: exit %d, asked %q; want 2, nothing", code, fake.asked)
	}
}

// TestRolloutRunFleet: a rollout of a backend discovered from Consul rolls
// the servers discovery has (through Factory.Discover), by name, each
// drained, deployed and readmitted through the agents (Factory.Fleet),
// and removes its state file at the end.
func TestRolloutRunFleet(t *testing.T) {
	fake := newAskedFleet()
	f, output := fake.factory()
	var deployed []string
	f.Deploy = func(string, []string, io.Writer, io.Writer) rollout.Deployer {
		return func(_ context.Context, s rollout.Server) error {
			deployed = append(deployed, s.Name+" "+s.Addr)
			return nil
		}
	}
	f.Discover = func(_ context.Context, s *spec.Spec) (discovery.Snapshot, error) {
		return discovery.Snapshot{Backends: map[string][]discovery.Instance{"ws": {
			{ID: "echo-2", Host: discovery.MustParseIP("10.0.0.2"), Port: 8080},
			{ID: "echo-1", Host: discovery.MustParseIP("10.0.0.1"), Port: 8080},
		}}}, nil
	}
	state := filepath.Join(t.TempDir(), "rollout.json")
	code := runCmd(NewCmdRollout(f, nil), "ws", "-c", fleetSpec(t), "--exec", "./deploy.sh", "--state", state, "--quiet", "--wait-healthy", "0")
	out, errOut := output()
	if code != exitOK {
		t.Fatalf("exit %d, stdout %s, stderr %s", code, out, errOut)
	}
	if want := []string{"DRAIN ws/echo-1", "admit ws/echo-1", "DRAIN ws/echo-2", "admit ws/echo-2"}; !slices.Equal(fake.asked, want) {
		t.Errorf("asked %q, want %q", fake.asked, want)
	}
	if want := []string{"echo-1 10.0.0.1:8080", "echo-2 10.0.0.2:8080"}; !slices.Equal(deployed, want) {
		t.Errorf("deployed %q, want %q", deployed, want)
	}
	if !strings.Contains(out, "rollout of ws done: 2 servers") {
		t.Errorf("stdout %q", out)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("state file left: %v", err)
	}
}

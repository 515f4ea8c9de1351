package bench

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/wsctl/wsctl/internal/lbtest"
)

var (
	full    = flag.Bool("bench-full", false, "run the scenarios at full size and write bench/RESULTS.md and the plots")
	repeats = flag.Int("bench-repeats", 3, "repeats of each full scenario (smoke runs once)")
)

// size returns smoke in a plain test run and full with -bench-full.
func size[T any](smoke, big T) T {
	if *full {
		return big
	}
	return smoke
}

// runs is how many times a scenario repeats.
func runs() int {
	if *full {
		return max(*repeats, 1)
	}
	return 1
}

// inSubtest runs one run of a scenario as a subtest named name and returns
// its figures: what the run started (Consul, HAProxy, backends, an agent)
// stops when it ends, not when the whole scenario does. Kept to the end,
// each run's stack slowed every later one (the churn's Consul alone with
// 1,000 servers: 79, 127, 173 ms over three repeats).
func inSubtest[R any](t *testing.T, name string, run func(*testing.T) R) R {
	t.Helper()
	var r R
	t.Run(name, func(t *testing.T) { r = run(t) })
	return r
}

// publish writes a scenario's section of RESULTS.md and its plots, only in
// full runs: smoke runs must not overwrite measured figures.
func publish(t *testing.T, name, body string, plots map[string]func(f *os.File) error) {
	t.Helper()
	if !*full {
		t.Logf("smoke run, RESULTS.md left alone; section would be:\n%s", body)
		return
	}
	for file, write := range plots {
		f, err := os.Create(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := write(f); err != nil {
			f.Close()
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := UpdateSection("RESULTS.md", name, body); err != nil {
		t.Fatal(err)
	}
}

// stack is examples/basic running for real (lbtest.StartBasic).
type stack struct{ *lbtest.Basic }

// startStack starts examples/basic for target with its connections set to
// conns and replace applied to the spec text.
func startStack(t *testing.T, target string, conns int, replace ...string) *stack {
	t.Helper()
	return &stack{lbtest.StartBasic(t, target, append([]string{"connections: 4000", fmt.Sprintf("connections: %d", conns)}, replace...)...)}
}

func (st *stack) url() string { return "ws://" + st.Frontend + "/ws" }

// serverStat returns a `show stat` field of a server of ws_cluster.
func (st *stack) serverStat(t *testing.T, server string, field int) string {
	t.Helper()
	for _, l := range strings.Split(lbtest.SocketCommand(t, st.Admin, "show stat"), "\n") {
		f := strings.Split(l, ",")
		if len(f) > field && f[0] == "ws_cluster" && f[1] == server {
			return f[field]
		}
	}
	t.Fatalf("no server %s in show stat", server)
	return ""
}

// show stat columns.
const (
	statScur   = 4
	statStot   = 7
	statStatus = 17
)

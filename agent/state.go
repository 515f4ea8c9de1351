package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path/filepath"
	"slices"
	"time"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/internal/statefile"
)

// StateFileName is the agent's state file, kept beside haproxy.state_file
// (where wsctl keeps its state) unless Config.StateFile says otherwise.
const StateFileName = "wsctl-agent-state.json"

// maxStateFile bounds the state file the agent reads back.
const maxStateFile = 16 << 20

// ownWork is what the agent has done to HAProxy that a restarted agent
// must know to finish it: the drains it started, and the servers it was
// changing when it stopped (an `add server` leaves a server in MAINT until
// the batch sets it ready). Without it a restarted agent would take those
// servers' DRAIN or MAINT for an operator's and leave them there for good.
// Operator intents live elsewhere (package intent) and always win.
type ownWork struct {
	Drains map[string]ownDrain `json:"drains,omitempty"`
	// Changing are the servers of a batch that had not completed.
	Changing []string `json:"changing,omitempty"`
	// Rebalances are the servers set to MAINT for fleet rebalances, by
	// backend: recorded before the MAINT, forgotten once READY again.
	Rebalances map[string]ownRebalance `json:"rebalances,omitempty"`
}

// ownRebalance is the agent's part in one backend's fleet rebalance.
type ownRebalance struct {
	ID    string    `json:"id"`
	Round int       `json:"round"`
	Until time.Time `json:"until"`
	// Maint are the servers the agent set to MAINT.
	Maint []string `json:"maint"`
}

type ownDrain struct {
	Started time.Time `json:"started"`
	Remove  bool      `json:"remove,omitempty"`
}

// stateFile returns where the state is kept.
func (a *Agent) stateFile() string {
	if a.cfg.StateFile != "" {
		return a.cfg.StateFile
	}
	return filepath.Join(filepath.Dir(a.spec.HAProxy.StateFile), StateFileName)
}

// loadOwn reads the state a previous run left: its drains go on (their
// drain_timeout counts from when they began) and the servers it was
// changing are the agent's to bring to the desired state. A missing file
// is a first run; an unreadable one is logged and ignored.
func (a *Agent) loadOwn() {
	path := a.stateFile()
	data, err := statefile.Read(path, maxStateFile)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	var st ownWork
	if err == nil {
		err = json.Unmarshal(data, &st)
	}
	if err != nil {
		a.metrics.StateErrors.Add(1)
		a.log.Error("agent state unreadable; starting without it", "file", path, "err", err)
		return
	}
	for key, d := range st.Drains {
		ref, err := parseOwnRef(key)
		if err != nil {
			a.log.Error("agent state: entry ignored", "file", path, "err", err)
			continue
		}
		a.drains[ref] = &drainState{started: d.Started, remove: d.Remove}
	}
	for _, key := range st.Changing {
		if ref, err := parseOwnRef(key); err == nil {
			a.changing[ref] = true
		}
	}
	for backend, r := range st.Rebalances {
		for _, server := range r.Maint {
			if _, err := parseOwnRef(backend + "/" + server); err != nil {
				a.log.Error("agent state: fleet rebalance entry ignored", "file", path, "err", err)
				delete(st.Rebalances, backend)
				break
			}
		}
	}
	a.restoreFleetRebalances(st.Rebalances)
	if len(st.Drains)+len(st.Changing) > 0 {
		a.log.Info("agent state restored", "file", path, "drains", len(a.drains), "changing", len(a.changing))
	}
}

// parseOwnRef parses a "backend/server" key of the state file.
func parseOwnRef(key string) (haproxy.Ref, error) {
	ref, err := haproxy.ParseRef(key)
	if err == nil && ref.Backend == "" {
		err = fmt.Errorf("%q has no backend", key)
	}
	return ref, err
}

// saveOwn writes the state (the write is skipped when nothing changed) and
// publishes the deadlines of the drains in progress.
func (a *Agent) saveOwn() {
	st := ownWork{Drains: map[string]ownDrain{}}
	deadlines := map[[2]string]time.Time{}
	for ref, d := range a.drains {
		st.Drains[ref.String()] = ownDrain{Started: d.started.UTC(), Remove: d.remove}
		if !d.done {
			deadlines[[2]string{ref.Backend, ref.Server}] = d.started.Add(a.drainTimeout(ref.Backend))
		}
	}
	a.metrics.progress.setDrains(deadlines)
	for _, ref := range slices.SortedFunc(maps.Keys(a.changing), compareRefs) {
		// A drained server is the agent's by its drain record already: a
		// readmission leaves the file as it was, and skips the write in
		// the path of the registration.
		if _, drained := a.drains[ref]; !drained {
			st.Changing = append(st.Changing, ref.String())
		}
	}
	st.Rebalances = a.ownFleetRebalances()
	data, err := json.MarshalIndent(st, "", "  ")
	data = append(data, '\n')
	path := a.stateFile() // a spec reread may move it
	if err == nil && path == a.ownSaved.path && bytes.Equal(data, a.ownSaved.data) {
		// What the agent last wrote: no system call in the path of the
		// change (a file edited behind the agent's back is rewritten at
		// its next change).
		return
	}
	if err == nil {
		// Written before and after every batch, in the path of every
		// change: in place (statefile.Overwrite: no temp file, rename or
		// fsync, each of which cost more than the batch on ext4). A
		// restarted agent still finds what a killed one was changing;
		// what it records is lost with HAProxy's runtime state on a host
		// crash anyway.
		_, err = statefile.Overwrite(path, data)
	}
	a.ownSaved.path, a.ownSaved.data = "", nil
	if err == nil {
		a.ownSaved.path, a.ownSaved.data = path, data
	}
	if err != nil {
		a.metrics.StateErrors.Add(1)
		a.log.Error("save agent state", "err", err)
	}
}

func compareRefs(x, y haproxy.Ref) int {
	if x.Backend != y.Backend {
		if x.Backend < y.Backend {
			return -1
		}
		return 1
	}
	switch {
	case x.Server < y.Server:
		return -1
	case x.Server > y.Server:
		return 1
	}
	return 0
}

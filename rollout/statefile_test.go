package rollout

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wsctl/wsctl/internal/statefile/statefiletest"
)

// TestStateFileRefusesPlantedLink: the rollout's state file beside the
// admin socket, in a directory another user can write (Debian's
// /run/haproxy), was a planted link to a root-only file that root's
// rollout replaced at every phase. Saving through it and loading a state
// file another user owns are refused; the target is unchanged; a state
// file the rollout owns in the same directory still works.
func TestStateFileRefusesPlantedLink(t *testing.T) {
	d := statefiletest.New(t)
	st := &Checkpoint{Backend: "ws", Order: []string{"s1", "s2"}, Phase: PhaseDrain, Started: time.Unix(1, 0).UTC()}
	link := d.Link(t, "wsctl-rollout-ws.json")
	if err := st.save(link); err == nil || !strings.Contains(err.Error(), link+": refusing to follow symbolic link") {
		t.Errorf("save through a link = %v, want a refusal", err)
	}
	d.Check(t, link)

	foreign := d.Foreign(t, "foreign.json", `{"backend": "ws", "order": ["s1"], "index": 0, "phase": "drain"}`)
	if _, _, err := LoadCheckpoint(foreign); err == nil || !strings.Contains(err.Error(), foreign+": owned by uid 65534, not 0") {
		t.Errorf("LoadCheckpoint of a foreign file = %v, want a refusal", err)
	}

	own := filepath.Join(d.Path, "wsctl-rollout-own.json")
	if err := st.save(own); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := LoadCheckpoint(own); err != nil || !ok || got.Backend != "ws" || len(got.Order) != 2 {
		t.Errorf("LoadCheckpoint of its own file: %+v, %t, %v", got, ok, err)
	}
}

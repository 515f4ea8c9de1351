package serverstate_test

import (
	"context"
	"strings"
	"testing"

	"github.com/wsctl/wsctl/internal/statefile/statefiletest"
	"github.com/wsctl/wsctl/serverstate"
)

// text is a Source that answers `show servers state` with itself.
type text string

func (s text) ServersStateText(context.Context) (string, error) { return string(s), nil }

// TestSaveRefusesPlantedLink: the haproxy user, who may write Debian's
// /run/haproxy, planted server-state as a link to a root-only file; root's
// `wsctl state save` (the haproxy.service drop-in) replaced the target,
// keeping its owner and mode. Save and Ensure refuse it now, Restore
// refuses a file another user owns, and the target is unchanged.
func TestSaveRefusesPlantedLink(t *testing.T) {
	d := statefiletest.New(t)
	link := d.Link(t, "server-state")
	ctx := context.Background()
	want := link + ": refusing to follow symbolic link"
	if err := serverstate.Save(ctx, text("1\n"), link); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Save = %v, want %q", err, want)
	}
	if created, err := serverstate.Ensure(link); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Ensure = %t, %v; want %q", created, err, want)
	}
	d.Check(t, link)

	foreign := d.Foreign(t, "foreign-state", "1\n")
	// No HAProxy: the file is refused before the socket is used.
	if _, err := serverstate.Restore(ctx, nil, foreign, nil); err == nil || !strings.Contains(err.Error(), foreign+": owned by uid 65534, not 0") {
		t.Errorf("Restore of a foreign file = %v, want a refusal", err)
	}

	saved := d.Path + "/server-state.new"
	if err := serverstate.Save(ctx, text("1\n"), saved); err != nil {
		t.Errorf("Save to a new file in the same directory: %v", err)
	}
}

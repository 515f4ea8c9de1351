package haproxy

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// statRowReply is `show stat ws 4 2` as HAProxy answers it for s2 in
// status, with scur sessions.
func statRowReply(status, scur string) string {
	return "# pxname,svname,scur,smax,stot,weight,check_status,addr,status\nws,s2," + scur + ",0,0,1,,127.0.0.1:18082," + status + "\n"
}

// TestApplyWrites: Apply sends a change's steps in as few writes as their
// order allows, the batch's read-back in its last write, and never a step
// that waits after one that failed.
func TestApplyWrites(t *testing.T) {
	host := netip.MustParseAddr("127.0.0.1")
	add := Change{Kind: ChangeAdd, Backend: "ws", Server: "s9", Addr: host, Port: 18089,
		Options: ServerOptions{Check: true}, DynamicCookies: true}
	readmit := Change{Kind: ChangeReadmit, Backend: "ws", Server: "s2", ID: 2, Checked: true, State: Drain}
	fromMaint := readmit
	fromMaint.State = Maint
	const (
		addCmd   = "add server ws/s9 127.0.0.1:18090 check"
		addrCmd  = "set server ws/s9 addr 127.0.0.1 port 18089"
		health   = "enable health ws/s9"
		ready9   = "set server ws/s9 state ready"
		rowCmd   = "show stat ws 4 2"
		ready2   = "set server ws/s2 state ready"
		drain2   = "set server ws/s2 state drain"
		down2    = "set server ws/s2 health down"
		readBack = "show servers state ws"
	)
	tests := []struct {
		name   string
		change Change
		reply  map[string]string
		// writes are the lines sent, one slice per write (round trip);
		// fails, that the change fails before its read-back.
		writes [][]string
		fails  bool
		// version is HAProxy's, when not the fake's.
		version string
	}{
		{name: "add to 3.0", version: "3.0.11", change: add, reply: map[string]string{"add server ws/s9 127.0.0.1:18089 check": "New server registered."},
			writes: [][]string{{"add server ws/s9 127.0.0.1:18089 check"}, {health, ready9, readBack}}},
		{name: "add to 2.9", version: "2.9.15", change: add, reply: map[string]string{addCmd: "New server registered."},
			writes: [][]string{{addCmd}, {addrCmd, health}, {ready9, readBack}}},
		{name: "state", change: Change{Kind: ChangeState, Backend: "ws", Server: "s1", State: Drain},
			writes: [][]string{{"set server ws/s1 state drain", readBack}}},
		{name: "add", change: add, reply: map[string]string{addCmd: "New server registered."},
			writes: [][]string{{addCmd}, {addrCmd, health, ready9, readBack}}},
		{name: "add without checks", change: withoutChecks(add), reply: map[string]string{"add server ws/s9 127.0.0.1:18090": "New server registered."},
			writes: [][]string{{"add server ws/s9 127.0.0.1:18090"}, {addrCmd, ready9, readBack}}},
		{name: "add, no port to move", change: withoutCookies(add), reply: map[string]string{"add server ws/s9 127.0.0.1:18089 check": "New server registered."},
			writes: [][]string{{"add server ws/s9 127.0.0.1:18089 check"}, {health, ready9, readBack}}},
		{name: "add in DRAIN", change: withState(add, Drain), reply: map[string]string{addCmd: "New server registered."},
			writes: [][]string{{addCmd}, {addrCmd, health, "set server ws/s9 state drain", readBack}}},
		{name: "add in MAINT", change: withState(add, Maint), reply: map[string]string{addCmd: "New server registered."},
			writes: [][]string{{addCmd}, {addrCmd, health, readBack}}},
		{name: "add refused", change: add, reply: map[string]string{addCmd: "Already exists a server with the same name in backend."},
			writes: [][]string{{addCmd}}, fails: true},
		{name: "port not changed", change: add, reply: map[string]string{addCmd: "New server registered.", addrCmd: "[3]: no."},
			writes: [][]string{{addCmd}, {addrCmd, health, ready9, readBack}, {"set server ws/s9 state maint"}}, fails: true},
		{name: "health not enabled", change: add, reply: map[string]string{addCmd: "New server registered.", health: "[3]: Health check was not configured on this server, cannot enable.\n"},
			writes: [][]string{{addCmd}, {addrCmd, health, ready9, readBack}, {"set server ws/s9 state maint"}}, fails: true},
		{name: "port not changed, nor READY", change: add, reply: map[string]string{addCmd: "New server registered.", addrCmd: "[3]: no.", ready9: "[3]: No such server.\n"},
			writes: [][]string{{addCmd}, {addrCmd, health, ready9, readBack}}, fails: true},
		{name: "readmit from drain", change: readmit, reply: map[string]string{rowCmd: statRowReply("DRAIN", "4")},
			writes: [][]string{{rowCmd, ready2}, {readBack}}},
		{name: "readmit seen in drain, found in maint", change: readmit, reply: map[string]string{rowCmd: statRowReply("MAINT", "0")},
			writes: [][]string{{rowCmd, ready2}, {drain2, down2}, {ready2, readBack}}},
		{name: "readmit seen in drain, found in maint with sessions", change: readmit, reply: map[string]string{rowCmd: statRowReply("MAINT", "1")},
			writes: [][]string{{rowCmd, ready2}, {readBack}}},
		{name: "readmit seen in drain, another server's ID", change: readmit, reply: map[string]string{rowCmd: strings.Replace(statRowReply("MAINT", "0"), "ws,s2", "ws,s7", 1)},
			writes: [][]string{{rowCmd, ready2}, {readBack}}},
		{name: "readmit from maint", change: fromMaint, reply: map[string]string{rowCmd: statRowReply("MAINT", "0")},
			writes: [][]string{{rowCmd}, {drain2, down2}, {ready2, readBack}}},
		{name: "readmit from maint with sessions", change: fromMaint, reply: map[string]string{rowCmd: statRowReply("MAINT", "1")},
			writes: [][]string{{rowCmd}, {ready2, readBack}}},
		{name: "readmit from maint, another server's ID", change: fromMaint, reply: map[string]string{rowCmd: strings.Replace(statRowReply("MAINT", "0"), "ws,s2", "ws,s7", 1)},
			writes: [][]string{{rowCmd}}, fails: true},
		{name: "readmit from maint, health not forced down", change: fromMaint, reply: map[string]string{rowCmd: statRowReply("MAINT", "0"), down2: "[3]: no."},
			writes: [][]string{{rowCmd}, {drain2, down2}}, fails: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, c := dialFake(t, func(cmd string) io.Reader {
				if r, ok := tt.reply[cmd]; ok {
					return strings.NewReader(r)
				}
				if cmd == readBack {
					return strings.NewReader(serversStateReply)
				}
				return nil
			})
			if tt.version != "" {
				c.info.Version = tt.version
			}
			err := c.Apply(context.Background(), []Change{tt.change})[0]
			// The fake's read-back is always the same: a change
			// that is not read back as asked is not what fails here.
			if failed := err != nil && !errors.Is(err, ErrNotApplied); failed != tt.fails {
				t.Errorf("Apply: %v, want a failure before the read-back: %v", err, tt.fails)
			}
			got := fake.received()
			if len(got) > 0 && got[0] == "prompt" {
				got = got[2:] // the session's setup
			}
			if want := slices.Concat(tt.writes...); !slices.Equal(got, want) {
				t.Errorf("sent %q,\nwant %q", got, want)
			}
			if got, want := fake.roundTrips(), len(tt.writes); got != want {
				t.Errorf("%d writes, want %d", got, want)
			}
		})
	}
}

// withoutChecks is ch, an add, without health checks.
func withoutChecks(ch Change) Change {
	ch.Options.Check = false
	return ch
}

// withoutCookies is ch, an add, without dynamic cookies.
func withoutCookies(ch Change) Change {
	ch.DynamicCookies = false
	return ch
}

// withState is ch with State set to s.
func withState(ch Change, s AdminState) Change {
	ch.State = s
	return ch
}

// TestApplyNoReadyAfterAFailure: in a batch, a change that would set a
// server READY is not made once an earlier change of that server failed
// (its address change refused: READY would send clients to the old
// address); the other changes still go their own way.
func TestApplyNoReadyAfterAFailure(t *testing.T) {
	const addrCmd = "set server ws/s2 addr 127.0.0.1 port 18089"
	fake, c := dialFake(t, func(cmd string) io.Reader {
		switch cmd {
		case addrCmd:
			return strings.NewReader("[3]: no.")
		case "show servers state ws":
			return strings.NewReader(serversStateReply)
		}
		return nil
	})
	errs := c.Apply(context.Background(), []Change{
		{Kind: ChangeAddr, Backend: "ws", Server: "s2", Addr: netip.MustParseAddr("127.0.0.1"), Port: 18089},
		{Kind: ChangeWeight, Backend: "ws", Server: "s2", Weight: 50},
		{Kind: ChangeState, Backend: "ws", Server: "s2", State: Ready},
		{Kind: ChangeState, Backend: "ws", Server: "s1", State: Ready},
	})
	got := fake.received()[2:] // the session's setup first
	want := []string{addrCmd, "set server ws/s2 weight 50", "set server ws/s1 state ready", "show servers state ws"}
	if !slices.Equal(got, want) {
		t.Errorf("sent %q, want %q", got, want)
	}
	if !errors.Is(errs[0], ErrCommand) || errs[1] != nil || !errors.Is(errs[2], ErrNotMade) || errs[3] != nil {
		t.Errorf("errors %v, want ErrCommand, nil, ErrNotMade, nil", errs)
	}
}

package haproxy

import (
	"context"
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
	readmit := Change{Kind: ChangeReadmit, Backend: "ws", Server: "s2", ID: 2, Checked: true}
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
		// writes are the lines sent, one slice per write (round trip).
		writes [][]string
	}{
		{name: "state", change: Change{Kind: ChangeState, Backend: "ws", Server: "s1", State: Drain},
			writes: [][]string{{"set server ws/s1 state drain", readBack}}},
		{name: "add", change: add, reply: map[string]string{addCmd: "New server registered."},
			writes: [][]string{{addCmd}, {addrCmd, health}, {ready9, readBack}}},
		{name: "add refused", change: add, reply: map[string]string{addCmd: "Already exists a server with the same name in backend."},
			writes: [][]string{{addCmd}}},
		{name: "port not changed", change: add, reply: map[string]string{addCmd: "New server registered.", addrCmd: "[3]: no."},
			writes: [][]string{{addCmd}, {addrCmd, health}}},
		{name: "readmit from drain", change: readmit, reply: map[string]string{rowCmd: statRowReply("DRAIN", "4")},
			writes: [][]string{{rowCmd, ready2, readBack}}},
		{name: "readmit from maint", change: readmit, reply: map[string]string{rowCmd: statRowReply("MAINT", "0")},
			writes: [][]string{{rowCmd, ready2, readBack}, {drain2, down2, ready2, readBack}}},
		{name: "readmit from maint with sessions", change: readmit, reply: map[string]string{rowCmd: statRowReply("MAINT", "1")},
			writes: [][]string{{rowCmd, ready2, readBack}}},
		{name: "readmit, another server's ID", change: readmit, reply: map[string]string{rowCmd: strings.Replace(statRowReply("MAINT", "0"), "ws,s2", "ws,s7", 1)},
			writes: [][]string{{rowCmd, ready2, readBack}}},
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
			c.Apply(context.Background(), []Change{tt.change})
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

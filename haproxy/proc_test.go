package haproxy

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// showProc26 is `show proc` of HAProxy 2.6 after two reloads (3.0 prints
// the same).
const showProc26 = `#<PID>          <type>          <reloads>       <uptime>        <version>      
6712            master          2 [failed: 1]   0d00h00m17s     2.6.12-1+deb12u4
# workers
6766            worker          1               0d00h00m16s     2.6.12-1+deb12u4
# old workers
6729            worker          2               0d00h00m17s     2.6.12-1+deb12u4
# programs
7000            bridge          0               0d00h00m17s     -
`

func TestParseProcs(t *testing.T) {
	got, err := parseProcs(showProc26)
	if err != nil {
		t.Fatal(err)
	}
	v := "2.6.12-1+deb12u4"
	want := Procs{
		Master: Proc{Pid: 6712, Reloads: 2, Version: v}, Failed: 1,
		Current: []Proc{{Pid: 6766, Reloads: 1, Version: v}},
		Old:     []Proc{{Pid: 6729, Reloads: 2, Version: v}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := parseProcs("Unknown command\n"); !errors.Is(err, ErrNotHAProxy) {
		t.Errorf("a reply without a master: err = %v, want ErrNotHAProxy", err)
	}
}

func TestSessionLines(t *testing.T) {
	reply := "0x55cdcc1dca80: proto=sockpair src=unix:2 fe=GLOBAL be=<NONE> srv=<none> ts=00\n" +
		"0x7f0ab6e7c000: proto=tcpv4 src=127.0.0.1:4000 fe=fe be=ws srv=s1 ts=00\n"
	want := []WorkerSession{
		{ID: "0x55cdcc1dca80", Frontend: "GLOBAL", Backend: "<NONE>", Server: "<none>"},
		{ID: "0x7f0ab6e7c000", Frontend: "fe", Backend: "ws", Server: "s1"},
	}
	if diff := cmp.Diff(want, sessionLines(reply)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

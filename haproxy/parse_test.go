package haproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSocketValidName(t *testing.T) {
	tests := []struct {
		name  string
		input string
		ok    bool
	}{
		{name: "plain", input: "backend2", ok: true},
		{name: "all allowed characters", input: "ws_1.a:b-C", ok: true},
		{name: "empty", input: ""},
		{name: "semicolon", input: "s1;set server ws/s2 state maint"},
		{name: "newline", input: "s1\nset server ws/s2 state maint"},
		{name: "carriage return", input: "s1\r"},
		{name: "space", input: "s 1"},
		{name: "slash", input: "ws/s1"},
		{name: "at sign (master CLI prefix)", input: "@1"},
		{name: "longest", input: string(make128('a')), ok: true},
		{name: "too long", input: string(make128('a')) + "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidName(tt.input)
			if got := err == nil; got != tt.ok {
				t.Fatalf("ValidName(%q) = %v, want ok=%v", tt.input, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidName) {
				t.Errorf("error %v does not wrap ErrInvalidName", err)
			}
		})
	}
}

func make128(c byte) []byte {
	b := make([]byte, MaxNameLen)
	for i := range b {
		b[i] = c
	}
	return b
}

func TestSocketParseRef(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		want    Ref
		wantErr bool
	}{
		{name: "server", input: "backend2", want: Ref{Server: "backend2"}},
		{name: "backend and server", input: "ws/backend2", want: Ref{Backend: "ws", Server: "backend2"}},
		{name: "empty backend", input: "/backend2", wantErr: true},
		{name: "empty server", input: "ws/", wantErr: true},
		{name: "two slashes", input: "a/b/c", wantErr: true},
		{name: "injection in server", input: "ws/s1;shutdown sessions server ws/s2", wantErr: true},
		{name: "injection in backend", input: "ws\nshow info/s1", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRef(tt.input)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseRef(%q) error = %v, wantErr %v", tt.input, err, tt.wantErr)
			}
			if err != nil {
				if !errors.Is(err, ErrInvalidName) {
					t.Errorf("error %v does not wrap ErrInvalidName", err)
				}
				return
			}
			if got != tt.want {
				t.Errorf("ParseRef(%q) = %+v, want %+v", tt.input, got, tt.want)
			}
			if got.String() != tt.input {
				t.Errorf("String() = %q, want %q", got.String(), tt.input)
			}
		})
	}
}

func TestSocketAdminFlags(t *testing.T) {
	tests := []struct {
		flags AdminFlags
		want  AdminState
		str   string
	}{
		{0, Ready, "none"},
		{1, Maint, "forced-maint"},
		{2, Maint, "inherited-maint"},
		// `disabled` in the config sets forced and config maint; the
		// config bit alone stays once the server is readmitted.
		{5, Maint, "forced-maint|config-maint"},
		{4, Ready, "config-maint"},
		{12, Drain, "config-maint|forced-drain"},
		{8, Drain, "forced-drain"},
		// client-native reads "16" as hex 0x16 and calls it maint.
		{16, Drain, "inherited-drain"},
		{9, Maint, "forced-maint|forced-drain"},
		{32, Maint, "resolve-maint"},
		{64, Maint, "fqdn-maint"},
		{128, Ready, "0x80"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(uint(tt.flags)), func(t *testing.T) {
			if got := tt.flags.State(); got != tt.want {
				t.Errorf("State() = %s, want %s", got, tt.want)
			}
			if got := tt.flags.String(); got != tt.str {
				t.Errorf("String() = %q, want %q", got, tt.str)
			}
		})
	}
}

const serversStateReply = `1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port
3 ws 1 s1 127.0.0.1 2 0 1 1 8 15 3 2 6 0 0 0 - 18081 - 0 0 - - 0
3 ws 2 s2 127.0.0.1 0 16 50 1 1 8 2 0 14 0 0 0 - 18082 - 0 0 - - 0
4 v6 1 a ::1 1 8 100 100 1 8 2 0 0 0 0 0 - 9000 - 0 0 - - 0`

func TestSocketParseServersState(t *testing.T) {
	got, err := parseServersState(serversStateReply, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []ServerStatus{
		{Backend: "ws", Server: "s1", ID: 1, Addr: "127.0.0.1:18081", State: Up, Admin: Ready, UserWeight: 1, Checked: true},
		{Backend: "ws", Server: "s2", ID: 2, Addr: "127.0.0.1:18082", State: Down, Admin: Drain, Flags: FlagInheritedDrain, UserWeight: 50, Checked: true},
		{Backend: "v6", Server: "a", ID: 1, Addr: "[::1]:9000", State: Starting, Admin: Drain, Flags: FlagForcedDrain, UserWeight: 100},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseServersState (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"2\n# be_id\n", "1\n# be_id be_name\n3 ws"} {
		if _, err := parseServersState(bad, nil); !errors.Is(err, ErrBadReply) {
			t.Errorf("parseServersState(%q) error = %v, want ErrBadReply", bad, err)
		}
	}
}

// TestSocketParseServersStateKeep: a batch's read-back parses only the
// servers it changed: the same figures as the whole listing for those, and
// the other lines of a 1,000-server backend are skipped, not split and
// parsed (a fraction of the allocations of parsing them all).
func TestSocketParseServersStateKeep(t *testing.T) {
	s2 := func(r Ref) bool { return r == Ref{Backend: "ws", Server: "s2"} }
	got, err := parseServersState(serversStateReply, s2)
	if err != nil {
		t.Fatal(err)
	}
	all, _ := parseServersState(serversStateReply, nil)
	if diff := cmp.Diff(all[1:2], got); diff != "" {
		t.Errorf("parseServersState of ws/s2 (-want +got):\n%s", diff)
	}

	reply := manyServers(1000)
	one := func(r Ref) bool { return r == Ref{Backend: "ws", Server: "m0500"} }
	if got, err := parseServersState(reply, one); err != nil || len(got) != 1 || got[0].Server != "m0500" {
		t.Fatalf("parseServersState of one server among 1,000: %+v, %v", got, err)
	}
	whole := testing.AllocsPerRun(5, func() { _, _ = parseServersState(reply, nil) })
	kept := testing.AllocsPerRun(5, func() { _, _ = parseServersState(reply, one) })
	if kept > whole/20 {
		t.Errorf("parsing one server of 1,000 took %.0f allocations, parsing them all %.0f: the others are not skipped", kept, whole)
	}
}

// manyServers is a `show servers state` reply of n servers of backend ws,
// m0000 and on.
func manyServers(n int) string {
	header, rest, _ := strings.Cut(serversStateReply, "\n3 ws 1 s1")
	line := "3 ws 1 s1" + strings.SplitAfter(rest, "\n")[0]
	var b strings.Builder
	b.WriteString(header + "\n")
	for i := range n {
		b.WriteString(strings.Replace(line, " s1 ", fmt.Sprintf(" m%04d ", i), 1))
	}
	return b.String()
}

// BenchmarkParseServersState1000: parsing a 1,000-server backend whole
// (a sync's listing) and for one server (a registration's read-back).
func BenchmarkParseServersState1000(b *testing.B) {
	reply := manyServers(1000)
	for name, keep := range map[string]func(Ref) bool{
		"all": nil,
		"one": func(r Ref) bool { return r == Ref{Backend: "ws", Server: "m0500"} },
	} {
		b.Run(name, func(b *testing.B) {
			for range b.N {
				if _, err := parseServersState(reply, keep); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestSocketParseSessions(t *testing.T) {
	reply := `0x55d0607f6bd0: proto=tcpv4 src=127.0.0.1:38436 fe=fe be=ws srv=s2 ts=00 epoch=0x1 age=1s calls=3
0x55d0607f7000: proto=tcpv4 src=127.0.0.1:38437 fe=fe be=ws srv=s1 ts=00 epoch=0x1 age=1s calls=3
0x55d0607f8000: proto=tcpv4 src=127.0.0.1:38438 fe=fe be=other srv=s2 ts=00 epoch=0x1 age=1s calls=3
0x55d0607f9000: proto=tcpv4 src=127.0.0.1:38439 fe=fe be=ws srv=s22 ts=00
0x7fbee003f5c0: proto=unix_stream src=unix:1 fe=GLOBAL be=<NONE> srv=<none> ts=00 epoch=0x1 age=0s
0x55d0607fa000: proto=tcpv4 src=127.0.0.1:38440 fe=fe be=ws srv=s2 ts=00`
	got := parseSessions(reply, "ws", "s2")
	want := []SessionID{"0x55d0607f6bd0", "0x55d0607fa000"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseSessions (-want +got):\n%s", diff)
	}
}

func TestSocketMatch(t *testing.T) {
	servers := []ServerStatus{
		{Backend: "other", Server: "shared"},
		{Backend: "ws", Server: "s1"},
		{Backend: "ws", Server: "shared"},
	}
	if s, err := Match(servers, Ref{Server: "s1"}); err != nil || s.Backend != "ws" {
		t.Errorf("Match(s1) = %+v, %v; want ws/s1", s, err)
	}
	if s, err := Match(servers, Ref{Backend: "other", Server: "shared"}); err != nil || s.Backend != "other" {
		t.Errorf("Match(other/shared) = %+v, %v; want other/shared", s, err)
	}
	_, err := Match(servers, Ref{Server: "shared"})
	var amb *AmbiguousError
	if !errors.As(err, &amb) || !errors.Is(err, ErrAmbiguous) {
		t.Fatalf("Match(shared) error = %v, want *AmbiguousError", err)
	}
	if diff := cmp.Diff([]string{"other/shared", "ws/shared"}, amb.Candidates); diff != "" {
		t.Errorf("candidates (-want +got):\n%s", diff)
	}
	_, err = Match(servers, Ref{Backend: "ws", Server: "nope"})
	var unk *UnknownServerError
	if !errors.As(err, &unk) || !errors.Is(err, ErrUnknownServer) {
		t.Fatalf("Match(ws/nope) error = %v, want *UnknownServerError", err)
	}
	if diff := cmp.Diff([]string{"other/shared", "ws/s1", "ws/shared"}, unk.Known); diff != "" {
		t.Errorf("known (-want +got):\n%s", diff)
	}
}

func TestSocketVersionAtLeast(t *testing.T) {
	tests := []struct {
		v    string
		want bool
	}{
		{"2.6.12-1+deb12u4", true},
		{"2.6-dev3", true},
		{"2.8.5", true},
		{"3.0.0", true},
		{"2.4.22", false},
		{"1.9.16", false},
		{"", false},
		{"garbage", false},
	}
	for _, tt := range tests {
		if got := versionAtLeast(tt.v, MinVersion); got != tt.want {
			t.Errorf("versionAtLeast(%q) = %v, want %v", tt.v, got, tt.want)
		}
	}
}

func TestSocketClassifyDial(t *testing.T) {
	op := func(errno syscall.Errno) error {
		return &net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", errno)}
	}
	tests := []struct {
		err  error
		want error
	}{
		{op(syscall.ECONNREFUSED), ErrNoSocket},
		{op(syscall.ENOENT), ErrNoSocket},
		{op(syscall.EACCES), ErrPermission},
		{op(syscall.EAGAIN), ErrTimeout},
	}
	for _, tt := range tests {
		if got := classifyDial(tt.err); !errors.Is(got, tt.want) {
			t.Errorf("classifyDial(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestSocketSeverity(t *testing.T) {
	if n, msg, ok := severity("[3]: No such server."); !ok || n != 3 || msg != "No such server." {
		t.Errorf("severity = %d %q %v", n, msg, ok)
	}
	if _, _, ok := severity("1\n# be_id"); ok {
		t.Error("a plain reply parsed as a severity")
	}
	if err := commandError("Permission denied"); !errors.Is(err, ErrPermission) {
		t.Errorf("commandError(Permission denied) = %v, want ErrPermission", err)
	}
}

func TestSocketParseStat(t *testing.T) {
	// Columns as HAProxy 2.6 orders them, cut down, with a quoted field
	// holding a comma.
	reply := `# pxname,svname,qcur,scur,smax,stot,status,weight,check_status,check_desc,addr,
ws,s1,0,3,5,40,UP,100,L7OK,"Layer7 check passed, fine",127.0.0.1:18081,
ws,s2,0,0,1,2,MAINT,1,* L4CON,,127.0.0.1:18082,
ws,BACKEND,0,3,5,42,UP,101,,,,
`
	got, err := parseStat(reply)
	if err != nil {
		t.Fatal(err)
	}
	var s1, s2 ServerStatus
	got[Ref{"ws", "s1"}].mergeInto(&s1)
	got[Ref{"ws", "s2"}].mergeInto(&s2)
	want1 := ServerStatus{Scur: 3, Smax: 5, Stot: 40, Weight: 100, Check: "L7OK", Addr: "127.0.0.1:18081", Status: "UP"}
	want2 := ServerStatus{Smax: 1, Stot: 2, Weight: 1, Check: "L4CON", Addr: "127.0.0.1:18082", Status: "MAINT"}
	if diff := cmp.Diff([]ServerStatus{want1, want2}, []ServerStatus{s1, s2}); diff != "" {
		t.Errorf("parseStat (-want +got):\n%s", diff)
	}
	if len(got) != 2 {
		t.Errorf("parseStat kept %d rows, want the 2 servers", len(got))
	}
	for _, bad := range []string{"", "[3]: No such proxy.", "# pxname,svname,scur\nws,s1,0\n", "# pxname,svname,scur,smax,stot,weight,check_status,addr\nws,s1\n"} {
		if _, err := parseStat(bad); !errors.Is(err, ErrBadReply) {
			t.Errorf("parseStat(%q) error = %v, want ErrBadReply", bad, err)
		}
	}
}

func TestSocketParseInfo(t *testing.T) {
	got, err := parseInfo("Name: HAProxy\nVersion: 2.6.12-1+deb12u4\nRelease_date: 2026/10/17\nPid: 24868\nUptime: 0d 0h00m01s\n")
	if err != nil || got != (Info{Version: "2.6.12-1+deb12u4", Pid: 24868}) {
		t.Errorf("parseInfo = %+v, %v", got, err)
	}
	if _, err := parseInfo("hello, I am something else\n"); !errors.Is(err, ErrNotHAProxy) {
		t.Errorf("parseInfo(not HAProxy) error = %v, want ErrNotHAProxy", err)
	}
	if _, err := parseInfo("Version: 2.6.12\nPid: x\n"); !errors.Is(err, ErrBadReply) {
		t.Errorf("parseInfo(bad pid) error = %v, want ErrBadReply", err)
	}
}

func TestParseAge(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     time.Duration
		ok       bool
	}{
		{name: "zero", in: "0s", ok: true},
		{name: "seconds", in: "42s", want: 42 * time.Second, ok: true},
		{name: "minutes", in: "3m5s", want: 3*time.Minute + 5*time.Second, ok: true},
		{name: "hours", in: "2h7m", want: 2*time.Hour + 7*time.Minute, ok: true},
		{name: "days", in: "1d3h", want: 27 * time.Hour, ok: true},
		{name: "days only", in: "12d", want: 12 * 24 * time.Hour, ok: true},
		{name: "unknown", in: "?"},
		{name: "bad days", in: "xd3h"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseAge(tc.in)
			if got != tc.want || ok != tc.ok {
				t.Errorf("parseAge(%q) = %s, %v; want %s, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}

// TestSessionsByAge lists one server's sessions oldest first, with their
// ages, from a `show sess` in HAProxy's order (newest first).
func TestSessionsByAge(t *testing.T) {
	reply := `0x1000: proto=tcpv4 src=127.0.0.1:1 fe=fe be=ws srv=s1 ts=00 epoch=0x1 age=4s calls=3
0x2000: proto=tcpv4 src=127.0.0.1:2 fe=fe be=ws srv=s2 ts=00 epoch=0x1 age=1h calls=3
0x3000: proto=tcpv4 src=127.0.0.1:3 fe=fe be=ws srv=s1 ts=00 epoch=0x1 age=1m2s calls=3
0x4000: proto=tcpv4 src=127.0.0.1:4 fe=fe be=ws srv=s1 ts=00 epoch=0x1 age=4s calls=3
0x5000: proto=unix_stream src=unix:1 fe=GLOBAL be=<NONE> srv=<none> ts=00 epoch=0x1 age=0s
`
	fake := startFake(t, func(cmd string) io.Reader {
		if cmd == "show sess" {
			return strings.NewReader(reply)
		}
		return nil
	})
	ctx := context.Background()
	c, err := Dial(ctx, fake.path, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.SessionsByAge(ctx, "ws", "s1")
	if err != nil {
		t.Fatal(err)
	}
	want := []WorkerSession{
		{ID: "0x3000", Frontend: "fe", Backend: "ws", Server: "s1", Age: 62 * time.Second},
		{ID: "0x1000", Frontend: "fe", Backend: "ws", Server: "s1", Age: 4 * time.Second},
		{ID: "0x4000", Frontend: "fe", Backend: "ws", Server: "s1", Age: 4 * time.Second},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("SessionsByAge (-want +got):\n%s", diff)
	}
	ids, err := c.Sessions(ctx, "ws", "s1")
	if want := []SessionID{"0x1000", "0x3000", "0x4000"}; err != nil || !cmp.Equal(ids, want) {
		t.Errorf("Sessions = %v, %v; want %v in show sess order", ids, err, want)
	}
}

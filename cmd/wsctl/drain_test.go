package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wsctl/wsctl/drain"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/haproxy/haproxytest"
	"github.com/wsctl/wsctl/internal/lbtest"
)

// TestDrainTwoHAProxies drains s2 behind two HAProxy processes in one call,
// closing what is left all at once (rate 0) after a short wait, with
// reconnecting cookie-keeping clients on both.
func TestDrainTwoHAProxies(t *testing.T) {
	servers := haproxytest.Backends(t, "s1", "s2")
	a, b := startFixture(t, servers), startFixture(t, servers)
	fa := haproxytest.StartClients(t, a.lb.URL(), 6, true)
	fb := haproxytest.StartClients(t, b.lb.URL(), 6, true)

	start := time.Now()
	r := execute(t, drainCmd, false, nil, "ws/s2", "--socket", a.lb.AdminSocket, "--socket", b.lb.AdminSocket,
		"--close-after", "500ms", "--close-rate", "0", "--timeout", "10s", "-o", "json")
	if r.code != 0 {
		t.Fatalf("exit %d, stdout %s, stderr %s", r.code, r.out, r.errOut)
	}
	var got drain.Summary
	if err := json.Unmarshal([]byte(r.out), &got); err != nil {
		t.Fatalf("%v\n%s", err, r.out)
	}
	if got.Server != "ws/s2" || got.Result != "drained" || len(got.Sockets) != 2 {
		t.Fatalf("summary = %+v", got)
	}
	for i, sock := range []string{a.lb.AdminSocket, b.lb.AdminSocket} {
		s := got.Sockets[i]
		s.Elapsed = 0
		want := drain.SocketSummary{Socket: sock, Backend: "ws", Server: "s2", Result: "drained", Before: 3, Closed: 3, Admin: "MAINT"}
		if diff := cmp.Diff(want, s); diff != "" {
			t.Errorf("socket %d (-want +got):\n%s", i, diff)
		}
	}
	for _, f := range []*fixture{a, b} {
		if got := f.admin(t, "s2"); got != haproxy.Maint {
			t.Errorf("%s: s2 is %s, want MAINT", f.lb.AdminSocket, got)
		}
	}
	for _, fl := range []*haproxytest.Clients{fa, fb} {
		for _, e := range fl.Since(start, false) {
			if e.At.Sub(start) < 500*time.Millisecond {
				t.Errorf("client %d cut %s after the start, before --close-after", e.Client, e.At.Sub(start))
			}
		}
		if !fl.WaitEvents(start, true, 3, 5*time.Second) {
			t.Fatalf("cut clients did not reconnect")
		}
		for _, e := range fl.Since(start, true) {
			if e.Server == "s2" {
				t.Errorf("client %d came back to the drained s2 (cookie %q)", e.Client, e.Cookie)
			}
		}
	}
}

// TestDrainTimesOut waits without closing: exit 3, the sessions stay, the
// server stays in DRAIN; progress is shown on a terminal.
func TestDrainTimesOut(t *testing.T) {
	f := startFixture(t, nil)
	fleet := haproxytest.StartClients(t, f.lb.URL(), 4, false)
	start := time.Now()
	r := execute(t, drainCmd, true, nil, "ws/s1", "--socket", f.lb.AdminSocket, "--timeout", "1200ms")
	if r.code != exitTimeout {
		t.Fatalf("exit %d, want 3; stderr %s", r.code, r.errOut)
	}
	if !strings.Contains(r.errOut, "ws/s1: 2 sessions left, waiting for them to leave") {
		t.Errorf("no progress on the terminal: %q", r.errOut)
	}
	if !strings.Contains(r.errOut, "wsctl: ws/s1: timed out with 2 sessions left; the server stays DRAIN") {
		t.Errorf("stderr %q lacks the timeout report", r.errOut)
	}
	if cut := fleet.Since(start, false); len(cut) != 0 || fleet.Connected()["s1"] != 2 {
		t.Errorf("drain without --close-after cut %d clients; connected %v", len(cut), fleet.Connected())
	}
	if got := f.admin(t, "s1"); got != haproxy.Drain {
		t.Errorf("s1 is %s, want DRAIN", got)
	}
}

// TestDrainIdleServer drains a server without sessions: exit 0, MAINT, and
// one line that says how to bring it back, on a terminal or not (a
// pipeline's log shows it).
func TestDrainIdleServer(t *testing.T) {
	f := startFixture(t, nil)
	for _, tty := range []bool{false, true} {
		r := execute(t, drainCmd, tty, nil, "s1", "--socket", f.lb.AdminSocket)
		if r.code != 0 || strings.Count(r.out, "\n") != 1 || !strings.HasPrefix(r.out, "ws/s1 drained in") ||
			!strings.HasSuffix(r.out, "now MAINT, `wsctl ready ws/s1` brings it back\n") || r.errOut != "" {
			t.Errorf("terminal %v: exit %d, stdout %q, stderr %q; want 0 and one line", tty, r.code, r.out, r.errOut)
		}
		if got := f.admin(t, "s1"); got != haproxy.Maint {
			t.Errorf("s1 is %s, want MAINT", got)
		}
	}
}

func TestDrainFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    DrainOptions
		wantErr string
	}{
		{
			name: "defaults",
			args: []string{"backend2"},
			want: DrainOptions{ServerOptions: ServerOptions{Server: "backend2", Output: "text", Socket: SocketOptions{Timeout: haproxy.DefaultTimeout}},
				Timeout: 5 * time.Minute, CloseRate: 10},
		},
		{
			name: "everything",
			args: []string{"ws/backend2", "--socket", "/a.sock", "--socket", "/b.sock", "--timeout", "0", "--close-after", "0s",
				"--close-rate", "2.5", "-o", "json", "--socket-timeout", "1s", "-c", "x.yaml"},
			want: DrainOptions{ServerOptions: ServerOptions{Server: "ws/backend2", Output: "json",
				Socket: SocketOptions{Sockets: []string{"/a.sock", "/b.sock"}, Timeout: time.Second, SpecPath: "x.yaml"}}, CloseSet: true, CloseRate: 2.5},
		},
		{name: "force", args: []string{"s", "--force"},
			want: DrainOptions{ServerOptions: ServerOptions{Server: "s", Output: "text", Socket: SocketOptions{Timeout: haproxy.DefaultTimeout}},
				Timeout: 5 * time.Minute, CloseRate: 10, Force: true}},
		{name: "no server", args: nil, wantErr: "usage: drain SERVER (one server, \"name\" or \"backend/name\"; got none); see `drain --help`"},
		{name: "two servers", args: []string{"s1", "s2"}, wantErr: "got 2: s1 s2"},
		{name: "bad output", args: []string{"s", "-o", "yaml"}, wantErr: "want text or json"},
		{name: "rate without close-after", args: []string{"s", "--close-rate", "-1"}, wantErr: "--close-rate needs --close-after"},
		{name: "rate NaN", args: []string{"s", "--close-after", "1s", "--close-rate", "NaN"}, wantErr: "close-rate NaN is not a number"},
		{name: "rate tiny", args: []string{"s", "--close-after", "1s", "--close-rate", "1e-300"}, wantErr: "close-rate 1e-300 is out of range: want 0 (all at once) or 0.01 to 100000"},
		{name: "rate negative", args: []string{"s", "--close-after", "1s", "--close-rate", "-1"}, wantErr: "close-rate -1 is out of range"},
		{name: "close-after past the timeout", args: []string{"s", "--timeout", "1m", "--close-after", "2m"}, wantErr: "close-after 2m0s must be shorter than the timeout 1m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got *DrainOptions
			cmd := NewCmdDrain(&Factory{}, func(o *DrainOptions) error { got = o; return nil })
			cmd.SetArgs(tt.args)
			cmd.SilenceErrors, cmd.SilenceUsage = true, true
			err := cmd.Execute()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, *got, cmpopts.IgnoreUnexported(SocketOptions{})); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDrainRejectsCloseAfterTimeout(t *testing.T) {
	r := execute(t, drainCmd, false, nil, "s1", "--socket", "/nonexistent.sock", "--timeout", "1m", "--close-after", "2m")
	if r.code != exitError || !strings.Contains(r.errOut, "close-after 2m0s must be shorter than the timeout 1m0s") {
		t.Errorf("exit %d, stderr %q", r.code, r.errOut)
	}
}

// TestDrainRefusesLastServer is the drain of the last server that can take
// clients: refused, exit 2, nothing changed and nobody cut; with --force it
// drains.
func TestDrainRefusesLastServer(t *testing.T) {
	f := startFixture(t, nil)
	fleet := haproxytest.StartClients(t, f.lb.URL(), 4, true)
	if r := execute(t, maintCmd, false, nil, "ws/s1", "--socket", f.lb.AdminSocket, "--force"); r.code != 0 {
		t.Fatalf("maint s1: exit %d, %s", r.code, r.errOut)
	}
	start := time.Now()
	r := execute(t, drainCmd, false, nil, "ws/s2", "--socket", f.lb.AdminSocket, "--close-after", "100ms", "--close-rate", "0", "-o", "json")
	want := "wsctl: drain: " + f.lb.AdminSocket + ": taking out ws/s2 leaves backend ws nothing to send clients to: " +
		"no other server of the backend can take new clients (the others: s1 MAINT DOWN); " +
		"bring another server back first (wsctl ready SERVER); or use --force to take it out anyway\n"
	if r.code != exitError || r.errOut != want || r.out != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q; want 2 and %q", r.code, r.out, r.errOut, want)
	}
	if got := f.admin(t, "s2"); got != haproxy.Ready {
		t.Errorf("refused drain left s2 %s, want READY", got)
	}
	if cut := fleet.Since(start, false); len(cut) != 0 {
		t.Errorf("refused drain cut %d clients", len(cut))
	}

	r = execute(t, drainCmd, false, nil, "ws/s2", "--socket", f.lb.AdminSocket, "--close-after", "100ms", "--close-rate", "0", "--force")
	if r.code != 0 {
		t.Fatalf("--force: exit %d, stderr %q", r.code, r.errOut)
	}
	if got := f.admin(t, "s2"); got != haproxy.Maint {
		t.Errorf("forced drain left s2 %s, want MAINT", got)
	}
}

// TestDrainReloadExits2 reloads HAProxy during drains, in text and in JSON:
// exit 2 and the reason, never "drained" while the old worker keeps the
// sessions.
func TestDrainReloadExits2(t *testing.T) {
	f := startFixture(t, nil)
	for _, output := range []string{"text", "json"} {
		t.Run(output, func(t *testing.T) {
			// New clients land on the worker the socket reaches now.
			fleet := haproxytest.StartClients(t, f.lb.URL(), 4, false)
			waitChecked(t, f.c, "ws")
			done := make(chan result, 1)
			go func() {
				done <- execute(t, drainCmd, false, nil, "ws/s2", "--socket", f.lb.AdminSocket,
					"--close-after", "30s", "--timeout", "1m", "-o", output)
			}()
			lbtest.WaitFor(t, 10*time.Second, "s2 in DRAIN", func() bool { return f.admin(t, "s2") == haproxy.Drain })
			f.lb.Reload(t)
			r := <-done
			if r.code != exitError {
				t.Fatalf("exit %d after a reload, want 2; stdout %s, stderr %s", r.code, r.out, r.errOut)
			}
			const reason = "HAProxy reloaded during the drain (worker "
			if !strings.Contains(r.errOut, "wsctl: drain ws/s2: drain: "+f.lb.AdminSocket+": "+reason) {
				t.Errorf("stderr %q lacks the reason", r.errOut)
			}
			if output == "json" {
				var got drain.Summary
				if err := json.Unmarshal([]byte(r.out), &got); err != nil {
					t.Fatalf("%v\n%s", err, r.out)
				}
				if s := got.Sockets[0]; got.Result != "error" || s.Result != "error" || s.Left != 2 || !strings.Contains(s.Error, reason) {
					t.Errorf("summary %+v", got)
				}
			}
			if on := fleet.Connected(); on["s2"] != 2 {
				t.Errorf("clients per server %v, want 2 still on s2 (the old worker)", on)
			}
		})
	}
}

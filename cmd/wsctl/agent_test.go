package main

import (
	"bytes"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/wsctl/wsctl/internal/cli"
)

func TestAgentFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    AgentOptions
		wantErr string
	}{
		{
			name: "defaults",
			args: []string{"--haproxy-config", "/etc/haproxy/haproxy.cfg"},
			want: AgentOptions{HAProxyConfig: "/etc/haproxy/haproxy.cfg", Listen: "127.0.0.1:9180",
				MinQuiet: 100 * time.Millisecond, MaxQuiet: time.Second, ReloadInterval: 5 * time.Second,
				UnhealthyAfter: time.Minute, LogFormat: "text", LogRepeats: time.Minute},
		},
		{
			name: "everything set",
			args: []string{"-c", "s.yaml", "--haproxy-config", "h.cfg", "--listen", "", "--min-quiet", "50ms", "--max-quiet", "2s", "--reload-interval", "1m", "-v",
				"--unhealthy-after", "30s", "--log-format", "json", "--log-repeats", "0"},
			want: AgentOptions{SpecPath: "s.yaml", HAProxyConfig: "h.cfg", MinQuiet: 50 * time.Millisecond, MaxQuiet: 2 * time.Second, ReloadInterval: time.Minute, Verbose: true,
				UnhealthyAfter: 30 * time.Second, LogFormat: "json"},
		},
		{
			name: "nginx",
			args: []string{"--nginx-config", "/etc/nginx/nginx.conf"},
			want: AgentOptions{NginxConfig: "/etc/nginx/nginx.conf", Listen: "127.0.0.1:9180",
				MinQuiet: 100 * time.Millisecond, MaxQuiet: time.Second, ReloadInterval: 5 * time.Second,
				UnhealthyAfter: time.Minute, LogFormat: "text", LogRepeats: time.Minute},
		},
		{name: "bad log format", args: []string{"--haproxy-config", "h.cfg", "--log-format", "xml"}, wantErr: `--log-format "xml": want text or json`},
		{name: "zero unhealthy-after", args: []string{"--haproxy-config", "h.cfg", "--unhealthy-after", "0s"}, wantErr: `invalid argument "0s" for "--unhealthy-after" flag: want a positive duration`},
		{name: "negative log-repeats", args: []string{"--haproxy-config", "h.cfg", "--log-repeats", "-1s"}, wantErr: `invalid argument "-1s" for "--log-repeats" flag: want 0 or a positive duration`},
		{name: "no proxy config", args: []string{"-c", "s.yaml"}, wantErr: "exactly one of --haproxy-config and --nginx-config is required"},
		{name: "both proxy configs", args: []string{"--haproxy-config", "h.cfg", "--nginx-config", "n.conf"}, wantErr: "exactly one of"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got *AgentOptions
			var out bytes.Buffer
			cmd := NewCmdAgent(&Factory{IO: &cli.IOStreams{Out: &out, ErrOut: &out}}, func(o *AgentOptions) error { got = o; return nil })
			cmd.SetArgs(tt.args)
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			err := cmd.Execute()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, *got, cmpopts.IgnoreFields(AgentOptions{}, "IO")); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAgentListenBusy: a --listen address already taken fails at once with
// the reason, never as a cancelled start.
func TestAgentListenBusy(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	spec := basicSpec(t)
	for range 5 { // the old race lost only sometimes
		io, _, errOut := testIO()
		code := Main([]string{"agent", "-c", spec, "--haproxy-config", filepath.Join(t.TempDir(), "haproxy.cfg"), "--listen", busy.Addr().String()}, io)
		if code != 2 || !strings.Contains(errOut.String(), "address already in use") || strings.Contains(errOut.String(), "context canceled") {
			t.Fatalf("exit %d, stderr %q; want 2 with address already in use", code, errOut)
		}
	}
}

package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wsctl/wsctl/echoserver"
)

// startEcho serves an in-process echo backend and returns its ws:// URL.
func startEcho(t *testing.T) (*echoserver.Server, string) {
	t.Helper()
	srv, err := echoserver.New(echoserver.DefaultConfig("backend1"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv, "ws://" + ln.Addr().String() + "/ws"
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		wantErr   bool
		wantInErr string
	}{
		{name: "minimal", args: []string{"--url", "ws://127.0.0.1:1/"}},
		{name: "everything", args: []string{"--url", "ws://127.0.0.1:1/", "--conns", "10", "--rate", "5", "--duration", "5s",
			"--interval", "100ms", "--grace", "1s", "--handshake-timeout", "2s", "--reconnect", "--cookies",
			"--timeline", "t.csv", "-o", "json", "--source-ips", "127.0.0.2, 127.0.0.3"}},
		{name: "missing url", args: nil, wantErr: true, wantInErr: "--url is required"},
		{name: "bad output", args: []string{"--url", "ws://h/", "-o", "yaml"}, wantErr: true, wantInErr: `-o "yaml"`},
		{name: "bad source ip", args: []string{"--url", "ws://h/", "--source-ips", "127.0.0.2,nope"}, wantErr: true, wantInErr: `"nope" is not an IP`},
		{name: "http url", args: []string{"--url", "http://h/"}, wantErr: true, wantInErr: "scheme must be ws or wss"},
		{name: "ramp too long", args: []string{"--url", "ws://h/", "--conns", "100", "--rate", "1", "--duration", "10s"}, wantErr: true, wantInErr: "takes 1m39s"},
		{name: "unknown flag", args: []string{"--url", "ws://h/", "--bogus"}, wantErr: true, wantInErr: "flag provided but not defined"},
		{name: "stray argument", args: []string{"--url", "ws://h/", "extra"}, wantErr: true, wantInErr: `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr strings.Builder
			opts, err := parseFlags(tt.args, &stderr)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseFlags error = %v, want error: %v; stderr:\n%s", err, tt.wantErr, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.wantInErr) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tt.wantInErr)
			}
			if tt.name == "everything" {
				c := opts.cfg
				if c.Conns != 10 || c.Rate != 5 || c.Duration != 5*time.Second || c.Interval != 100*time.Millisecond ||
					!c.Reconnect || !c.Cookies || len(c.SourceIPs) != 2 || opts.output != "json" || opts.timeline != "t.csv" {
					t.Errorf("options = %+v", opts)
				}
			}
		})
	}
}

func TestRunJSONAndTimeline(t *testing.T) {
	_, url := startEcho(t)
	timeline := filepath.Join(t.TempDir(), "timeline.csv")
	var stdout, stderr strings.Builder
	code := run(context.Background(), []string{
		"--url", url, "--conns", "4", "--rate", "100", "--duration", "500ms", "--interval", "100ms",
		"--timeline", timeline, "-o", "json",
	}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit code %d, want 0; stderr:\n%s", code, stderr.String())
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(stdout.String()), &res); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout.String())
	}
	for _, key := range []string{"connected", "handshake_failed", "dropped", "drops_by_code", "reconnects",
		"lost_echoes", "per_server", "landings", "echo_p50_ms", "echo_p99_ms", "duration_ms"} {
		if _, ok := res[key]; !ok {
			t.Errorf("JSON lacks %q", key)
		}
	}
	if res["connected"] != 4.0 || res["dropped"] != 0.0 {
		t.Errorf("connected %v, dropped %v; want 4, 0", res["connected"], res["dropped"])
	}
	if ps, _ := res["per_server"].(map[string]any); ps["backend1"] != 4.0 {
		t.Errorf("per_server = %v, want backend1: 4", res["per_server"])
	}
	if !strings.Contains(stderr.String(), "component=wsload") {
		t.Errorf("stderr lacks the slog component:\n%s", stderr.String())
	}

	csv, err := os.ReadFile(timeline)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(csv)), "\n")
	if lines[0] != "t_ms,connects,closes,live" || len(lines) < 2 {
		t.Errorf("timeline = %q, want a header and rows", csv)
	}
}

func TestRunTextOutput(t *testing.T) {
	_, url := startEcho(t)
	var stdout, stderr strings.Builder
	code := run(context.Background(), []string{"--url", url, "--conns", "2", "--duration", "200ms", "--interval", "0"}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit code %d, want 0; stderr:\n%s", code, stderr.String())
	}
	for _, want := range []string{"connected         2 (reconnects 0)", "per_server        backend1=2"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
		}
	}
}

func TestRunExitCodes(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "ws://" + ln.Addr().String() + "/"
	ln.Close()

	tests := []struct {
		name       string
		args       []string
		want       int
		wantStderr string
	}{
		{name: "help", args: []string{"--help"}, want: exitOK},
		{name: "bad flags", args: []string{"--conns", "x"}, want: exitError, wantStderr: "invalid value"},
		{name: "no connection at all", args: []string{"--url", closed, "--conns", "2", "--duration", "1s"}, want: exitError,
			wantStderr: "no connection could be made"},
		{name: "unwritable timeline", args: []string{"--url", closed, "--timeline", "/nonexistent/dir/t.csv"}, want: exitError,
			wantStderr: "/nonexistent/dir/t.csv"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			if got := run(context.Background(), tt.args, &stdout, &stderr); got != tt.want {
				t.Errorf("exit code %d, want %d; stderr:\n%s", got, tt.want, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantStderr, stderr.String())
			}
		})
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	srv, url := startEcho(t)
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr strings.Builder
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--url", url, "--conns", "3", "--duration", "1m", "-o", "json"}, &stdout, &stderr)
	}()
	// Cancel once the clients are connected; a cancel before the first
	// dial would be a run without connections, which is exit 2 by design.
	deadline := time.Now().Add(10 * time.Second)
	for srv.Conns() < 3 {
		if time.Now().After(deadline) {
			t.Fatal("the 3 clients never connected")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("exit code %d after cancel, want 0; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop 10s after cancel")
	}
	if !strings.Contains(stdout.String(), `"interrupted": true`) {
		t.Errorf("result does not say interrupted:\n%s", stdout.String())
	}
}

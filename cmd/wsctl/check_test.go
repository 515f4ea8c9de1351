package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wsctl/wsctl/internal/binpath"
	"github.com/wsctl/wsctl/internal/lbtest"
	"github.com/wsctl/wsctl/proxy"
)

// TestCheckWithGivenBinary validates with the binary --haproxy names (in
// `make test`'s second pass, HAProxy 3.0), over $WSCTL_HAPROXY; a binary
// that is not there, or a flag for the other proxy, is exit 2.
func TestCheckWithGivenBinary(t *testing.T) {
	real := lbtest.Binary(t, "haproxy")
	spec := basicSpec(t)
	dir := t.TempDir()
	// Its own name shows in the output: proof that it, not the default, ran.
	prod := filepath.Join(dir, "haproxy-prod")
	if err := os.Symlink(real, prod); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "no-haproxy")
	t.Setenv(binpath.EnvHAProxy, missing)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string // substring of stdout
		wantErr  string // substring of stderr
	}{
		{"the flag's binary", []string{"--haproxy", prod}, 0, "haproxy-prod: config for 1 backend(s) is valid", ""},
		{"WSCTL_HAPROXY without the flag", nil, 2, "", binpath.EnvHAProxy + "=" + missing},
		{"a missing binary", []string{"--haproxy", missing}, 2, "", "haproxy binary " + missing + ": binary not found"},
		{"nginx's flag for haproxy", []string{"--nginx", prod}, 2, "", "--nginx: the config is for haproxy"},
		{"haproxy's flag for nginx", []string{"--target", "nginx", "--haproxy", prod}, 2, "", "--haproxy: the config is for nginx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			io, out, errOut := testIO()
			code := Main(append([]string{"check", "-c", spec}, tt.args...), io)
			if code != tt.wantCode || !strings.Contains(out.String(), tt.wantOut) || !strings.Contains(errOut.String(), tt.wantErr) {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantCode, out, errOut)
			}
		})
	}
}

// TestCheckJudgesTheProxyHost checks a production-sized spec (100,000
// WebSockets: about 220,000 open files) on a runner with a smaller limit:
// CI judges against the limits it is given, the host's own only with --host.
func TestCheckJudgesTheProxyHost(t *testing.T) {
	lbtest.Binary(t, "haproxy")
	if limit, err := proxy.FileLimit(); err != nil || limit >= 300000 {
		t.Skipf("the hard open-file limit here (%d) carries 100,000 WebSockets", limit)
	}
	text := strings.Replace(basicSpecText(t), "connections: 4000", "connections: 100000", 1)
	spec := writeFile(t, filepath.Join(t.TempDir(), "wsctl.yaml"), text)
	for _, tc := range []struct {
		name     string
		flags    []string
		wantCode int
		wantHost string // "": no host line
	}{
		{name: "production's limit given", flags: []string{"--fd-limit", "1048576", "--cpus", "16"}, wantCode: 0},
		{name: "a limit too small given", flags: []string{"--fd-limit", "20000"}, wantCode: 1, wantHost: "host: error: the host allows 20000 open files"},
		{name: "this machine is the host", flags: []string{"--host"}, wantCode: 1, wantHost: "host: error:"},
		{name: "this machine's limit only assumed", wantCode: 0, wantHost: "host: info:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			io, out, errOut := testIO()
			if code := Main(append([]string{"check", "-c", spec}, tc.flags...), io); code != tc.wantCode {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.wantCode, out, errOut)
			}
			host := ""
			for _, l := range strings.Split(out.String(), "\n") {
				if strings.HasPrefix(l, "host: ") {
					host = l
				}
			}
			if tc.wantHost == "" && host != "" || !strings.HasPrefix(host, tc.wantHost) {
				t.Errorf("host line %q, want one starting with %q\n%s", host, tc.wantHost, out)
			}
			if tc.wantHost == "" && strings.Contains(out.String(), "maxconn-fd-limit") {
				t.Errorf("lint judged against this machine's limit:\n%s", out)
			}
		})
	}
}

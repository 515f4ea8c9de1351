package spec

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStatsBadInput: every bad stats section is an error naming file:line
// and the field.
func TestStatsBadInput(t *testing.T) {
	tests := []struct {
		name    string
		stats   string    // appended to validSpec
		replace [2]string // applied to validSpec when set
		want    string
	}{
		{name: "same address as a listener's second bind", stats: "stats:\n  bind: 127.0.0.1:8443\n",
			replace: [2]string{"    bind: 127.0.0.1:8080\n", "    binds:\n      - address: 127.0.0.1:8080\n      - address: 127.0.0.1:8443\n"},
			want:    `stats.bind: "127.0.0.1:8443" overlaps listeners[0].binds[1].address "127.0.0.1:8443"`},
		{name: "no bind", stats: "stats:\n  allow: [127.0.0.1]\n", want: `wsctl.yaml:23: stats.bind: "" is not address:port`},
		{name: "same bind as a listener", stats: "stats:\n  bind: 127.0.0.1:8080\n", want: `wsctl.yaml:24: stats.bind: "127.0.0.1:8080" overlaps listeners[0].bind "127.0.0.1:8080"`},
		{name: "every address on a listener's port", stats: "stats:\n  bind: \"*:8080\"\n", want: `stats.bind: "*:8080" overlaps listeners[0].bind`},
		{name: "a listener named stats", stats: "stats:\n  bind: 127.0.0.1:8404\n", want: `wsctl.yaml:5: listeners[0].name: "stats" is the name of the stats frontend`},
		{name: "bad network", stats: "stats:\n  bind: 127.0.0.1:8404\n  allow: [10.0.0.0/8, 10.0.0.0/33]\n", want: `wsctl.yaml:25: stats.allow[1]: "10.0.0.0/33" is not a network`},
		{name: "zone", stats: "stats:\n  bind: 127.0.0.1:8404\n  allow: [\"fe80::1%eth0\"]\n", want: `stats.allow[0]: "fe80::1%eth0" is not a network`},
		{name: "auth path with a space", stats: "stats:\n  bind: 127.0.0.1:8404\n  auth: /etc/a b\n", want: `wsctl.yaml:25: stats.auth: "/etc/a b" is not a valid path`},
		{name: "unknown key", stats: "stats:\n  bind: 127.0.0.1:8404\n  uri: /x\n", want: `wsctl.yaml:25: stats.uri: unknown key`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := validSpec + tt.stats
			if tt.replace[0] != "" {
				src = strings.Replace(src, tt.replace[0], tt.replace[1], 1)
			}
			if tt.name == "a listener named stats" {
				src = strings.Replace(src, "name: front", "name: stats", 1)
			}
			_, err := Parse("wsctl.yaml", []byte(src), noEnv)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error\n  %v\nwant it to contain\n  %s", err, tt.want)
			}
		})
	}
}

func TestStatsAllowed(t *testing.T) {
	s, err := Parse("wsctl.yaml", []byte(validSpec+"stats:\n  bind: 127.0.0.1:8404\n  allow: [10.1.2.3/8, \"::1\"]\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range s.Stats.Allow {
		p, err := ParseAllow(a)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p.String())
	}
	if strings.Join(got, " ") != "10.0.0.0/8 ::1/128" {
		t.Errorf("allow = %v, want [10.0.0.0/8 ::1/128]", got)
	}
}

// TestStatsAuth reads the auth file relative to the spec, and refuses a
// file whose password could break out of its word in HAProxy's config.
func TestStatsAuth(t *testing.T) {
	tests := []struct {
		name, file, user, password, err string
	}{
		{name: "user and password", file: "admin:s3cr:t!\n", user: "admin", password: "s3cr:t!"},
		{name: "no colon", file: "admin\n", err: "stats.auth: " + "AUTH: want one line user:password"},
		{name: "two lines", file: "admin:x\nroot:y\n", err: "want one line user:password"},
		{name: "space in password", file: "admin:a b\n", err: "the password must be"},
		{name: "comment in password", file: "admin:a#b\n", err: "the password must be"},
		{name: "empty password", file: "admin:\n", err: "the password must be"},
		{name: "bad user", file: "ad min:x\n", err: "the user must be"},
		{name: "missing file", err: "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			auth := filepath.Join(dir, "stats.auth")
			if tt.file != "" {
				if err := os.WriteFile(auth, []byte(tt.file), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			s, err := Parse(filepath.Join(dir, "wsctl.yaml"), []byte(validSpec+"stats:\n  bind: 127.0.0.1:8404\n  auth: stats.auth\n"), noEnv)
			if err != nil {
				t.Fatal(err)
			}
			user, password, err := s.StatsAuth()
			if tt.err != "" {
				want := strings.ReplaceAll(tt.err, "AUTH", auth)
				if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "wsctl.yaml:25: ") {
					t.Errorf("error %v, want one naming wsctl.yaml:25 and containing %q", err, want)
				}
				return
			}
			if err != nil || user != tt.user || password != tt.password {
				t.Errorf("got %q, %q, %v; want %q, %q", user, password, err, tt.user, tt.password)
			}
		})
	}
}

package model

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/wsctl/wsctl/discovery"
	"github.com/wsctl/wsctl/spec"
)

// TestStats derives the stats endpoint: every address written "*", the
// networks masked, the auth file read for HAProxy and refused for nginx.
func TestStats(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "stats.auth"), []byte("ops:pa55\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	load := func(t *testing.T, stats string) *spec.Spec {
		t.Helper()
		s, err := spec.Parse(filepath.Join(dir, "wsctl.yaml"), []byte(routed+stats), func(string) (string, bool) { return "", false })
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tests := []struct {
		name, stats, target string
		want                *Stats
		err                 string
	}{
		{name: "off", target: TargetHAProxy},
		{name: "every address, networks", target: TargetHAProxy,
			stats: "stats:\n  bind: \":8404\"\n  allow: [10.9.8.7/8, 127.0.0.1]\n",
			want:  &Stats{Name: "stats", Bind: "*:8404", Refresh: "10s", Allow: []string{"10.0.0.0/8", "127.0.0.1/32"}}},
		{name: "auth", target: TargetHAProxy,
			stats: "stats:\n  bind: 127.0.0.1:8404\n  auth: stats.auth\n",
			want:  &Stats{Name: "stats", Bind: "127.0.0.1:8404", Refresh: "10s", Userlist: "wsctl_stats", User: "ops", Password: "pa55"}},
		{name: "auth for nginx", target: TargetNginx,
			stats: "stats:\n  bind: 127.0.0.1:8404\n  auth: stats.auth\n",
			err:   "wsctl.yaml:19: stats.auth: nginx's auth_basic wants hashed passwords"},
		{name: "auth file missing", target: TargetHAProxy,
			stats: "stats:\n  bind: 127.0.0.1:8404\n  auth: missing.auth\n",
			err:   "wsctl.yaml:19: stats.auth: stat " + filepath.Join(dir, "missing.auth")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Build(load(t, tt.stats), tt.target, discovery.Snapshot{})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(m.Stats, tt.want) {
				t.Errorf("stats:\n got %+v\nwant %+v", m.Stats, tt.want)
			}
		})
	}
}

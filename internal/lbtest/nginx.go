package lbtest

import (
	"os"
	"path/filepath"
	"testing"
)

// Nginx is an nginx master started by a test.
type Nginx struct {
	Dir    string
	Config string
	Proc   *Process
}

// StartNginx writes config to dir/nginx.conf and runs nginx in the
// foreground with dir as its prefix. It creates dir/nginx for a config whose
// temp_dir points there. Callers wait for their listener themselves.
func StartNginx(t testing.TB, dir, config string) *Nginx {
	t.Helper()
	bin := Binary(t, "nginx")
	if dir == "" {
		dir = t.TempDir()
	}
	n := &Nginx{Dir: dir, Config: filepath.Join(dir, "nginx.conf")}
	if err := os.MkdirAll(filepath.Join(dir, "nginx"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(n.Config, []byte(config), 0o644); err != nil {
		t.Fatalf("write nginx config: %v", err)
	}
	n.Proc = Start(t, bin, "-g", "daemon off;", "-e", "stderr", "-p", dir, "-c", n.Config)
	return n
}

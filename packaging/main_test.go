package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestDebVersion(t *testing.T) {
	for in, want := range map[string]string{
		"v1.2.3":                 "1.2.3",
		"v1.2.3-4-gabc123":       "1.2.3+4.gabc123",
		"v1.2.3-4-gabc123-dirty": "1.2.3+4.gabc123.dirty",
		"f8145e4":                "0.0.0+f8145e4",
		"93285b1-dirty":          "0.0.0+93285b1.dirty",
		"1234567":                "0.0.0+1234567",
		"f8145e4-dirty":          "0.0.0+f8145e4.dirty",
		"dev":                    "0.0.0+dev",
		"v1.0_beta/x":            "1.0.beta.x",
	} {
		got, err := DebVersion(in)
		if err != nil || got != want {
			t.Errorf("DebVersion(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := DebVersion(" "); err == nil || !strings.Contains(err.Error(), "-version") {
		t.Errorf("DebVersion(\" \") = %v, want an error naming -version", err)
	}
}

// TestBuild packages a staged tree and reads the result back with dpkg-deb:
// the control fields, the conffile and every installed path.
func TestBuild(t *testing.T) {
	dpkgDeb, err := exec.LookPath("dpkg-deb")
	if err != nil {
		t.Fatalf("dpkg-deb is part of every Debian system: %v", err)
	}
	root := t.TempDir()
	write := func(rel, text string) {
		t.Helper()
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write("wsctl", "#!/bin/sh\necho wsctl\n")
	write("man/wsctl.1", ".TH WSCTL 1\n")
	write("man/wsctl-agent.1", ".TH WSCTL 1\n")
	write("completions/wsctl.bash", "# bash\n")
	write("completions/_wsctl", "#compdef wsctl\n")
	write("completions/wsctl.fish", "# fish\n")
	out := t.TempDir()
	deb, err := Build(Options{Version: "v1.2.3-4-gabc", Root: root, Out: out, Arch: "amd64"}, ".")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(out, "wsctl_1.2.3+4.gabc_amd64.deb"); deb != want {
		t.Errorf("package %s, want %s", deb, want)
	}
	run := func(args ...string) string {
		t.Helper()
		b, err := exec.Command(dpkgDeb, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("dpkg-deb %v: %v\n%s", args, err, b)
		}
		return string(b)
	}
	for _, field := range []string{"Package: wsctl", "Version: 1.2.3+4.gabc", "Architecture: amd64", "Recommends: haproxy, bash-completion", "Section: net"} {
		if info := run("--info", deb); !strings.Contains(info, field) {
			t.Errorf("control lacks %q:\n%s", field, info)
		}
	}
	ctrl := t.TempDir()
	run("--control", deb, ctrl)
	if conffiles, _ := os.ReadFile(filepath.Join(ctrl, "conffiles")); strings.TrimSpace(string(conffiles)) != "/etc/wsctl/wsctl.yaml" {
		t.Errorf("conffiles = %q, want /etc/wsctl/wsctl.yaml", conffiles)
	}
	for _, script := range []string{"postinst", "prerm", "postrm"} {
		if fi, err := os.Stat(filepath.Join(ctrl, script)); err != nil || fi.Mode()&0o111 == 0 {
			t.Errorf("%s missing or not executable: %v", script, err)
		}
	}
	list := run("--contents", deb)
	for _, path := range []string{
		"-rwxr-xr-x root/root", // the binary's mode and owner
		"./usr/bin/wsctl",
		"./usr/lib/systemd/system/wsctl-agent.service",
		"." + StateDropIn,
		"./usr/lib/tmpfiles.d/wsctl.conf",
		"./etc/wsctl/wsctl.yaml",
		"./usr/share/wsctl/prometheus/alerts.yml",
		"./usr/share/man/man1/wsctl.1.gz",
		"./usr/share/man/man1/wsctl-agent.1.gz",
		"./usr/share/bash-completion/completions/wsctl",
		"./usr/share/zsh/vendor-completions/_wsctl",
		"./usr/share/fish/vendor_completions.d/wsctl.fish",
	} {
		if !strings.Contains(list, path) {
			t.Errorf("package lacks %s:\n%s", path, list)
		}
	}
	// The drop-in changes Debian's haproxy.service: the administrator
	// enables it, installing the package must not.
	if strings.Contains(list, "haproxy.service.d") {
		t.Errorf("package installs an active haproxy.service drop-in:\n%s", list)
	}
}

func TestBuildWithoutManPagesFails(t *testing.T) {
	root := t.TempDir()
	_, err := Build(Options{Version: "v1.0.0", Root: root, Out: t.TempDir(), Arch: "amd64"}, ".")
	if err == nil || !strings.Contains(err.Error(), filepath.Join(root, "man")) {
		t.Errorf("Build without man pages = %v, want an error naming %s", err, filepath.Join(root, "man"))
	}
}

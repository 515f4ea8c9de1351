// Command wsctl-package builds wsctl's Debian package with nfpm (as a
// library: no packaging tool to install). It lives in its own module so
// wsctl itself never links nfpm. `make package` runs it on a staged tree:
//
//	ROOT/wsctl                the binary
//	ROOT/man/*.1              man pages (wsctl gen-docs)
//	ROOT/completions/…        wsctl.bash, _wsctl, wsctl.fish (wsctl gen-docs)
//
// The unit, the example spec and the maintainer scripts are the files beside
// this one; the Prometheus alerting rules are examples/prometheus/alerts.yml.
package main

import (
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
)

func main() {
	var opts Options
	flag.StringVar(&opts.Version, "version", "", "wsctl version (git describe); mapped to a Debian version")
	flag.StringVar(&opts.Root, "root", "", "staged tree: wsctl, man/, completions/")
	flag.StringVar(&opts.Out, "out", ".", "directory the .deb is written to")
	flag.StringVar(&opts.Arch, "arch", runtime.GOARCH, "Debian architecture of the binary")
	printVersion := flag.Bool("print-version", false, "print the Debian version -version maps to and exit: make package stamps the binary with it, so both say the same")
	flag.Parse()
	if *printVersion {
		v, err := DebVersion(opts.Version)
		if err != nil {
			fmt.Fprintf(os.Stderr, "wsctl-package: %v\n", err)
			os.Exit(2)
		}
		fmt.Println(v)
		return
	}
	path, err := Build(opts, ".")
	if err != nil {
		fmt.Fprintf(os.Stderr, "wsctl-package: %v\n", err)
		os.Exit(2)
	}
	fmt.Println(path)
}

// Options say what to package.
type Options struct {
	Version, Root, Out, Arch string
}

// StateDropIn is where the package puts the haproxy.service drop-in that
// saves and restores HAProxy's server state. It is inactive there: the
// administrator enables it with a symlink into
// /etc/systemd/system/haproxy.service.d/ (README, docs/operations.md).
const StateDropIn = "/usr/share/wsctl/systemd/haproxy-wsctl-state.conf"

// Build writes the package into opts.Out and returns its path. dir holds the
// unit, the example spec and the maintainer scripts; its parent is the
// repository (examples/prometheus/alerts.yml).
func Build(opts Options, dir string) (string, error) {
	if opts.Root == "" {
		return "", errors.New("-root is required")
	}
	version, err := DebVersion(opts.Version)
	if err != nil {
		return "", err
	}
	manDir := filepath.Join(opts.Root, "man")
	pages, err := filepath.Glob(filepath.Join(manDir, "*.1"))
	if err != nil || len(pages) == 0 {
		return "", fmt.Errorf("no man pages in %s (run wsctl gen-docs)", manDir)
	}
	contents := files.Contents{
		{Source: filepath.Join(opts.Root, "wsctl"), Destination: "/usr/bin/wsctl", FileInfo: &files.ContentFileInfo{Mode: 0o755}},
		{Source: filepath.Join(dir, "wsctl-agent.service"), Destination: "/usr/lib/systemd/system/wsctl-agent.service", FileInfo: &files.ContentFileInfo{Mode: 0o644}},
		// Opt-in: a drop-in that changes Debian's haproxy.service is the
		// administrator's choice (a symlink, see postinst), not a side
		// effect of installing wsctl.
		{Source: filepath.Join(dir, "haproxy-wsctl-state.conf"), Destination: StateDropIn, FileInfo: &files.ContentFileInfo{Mode: 0o644}},
		{Source: filepath.Join(dir, "wsctl-tmpfiles.conf"), Destination: "/usr/lib/tmpfiles.d/wsctl.conf", FileInfo: &files.ContentFileInfo{Mode: 0o644}},
		{Source: filepath.Join(dir, "wsctl.yaml"), Destination: "/etc/wsctl/wsctl.yaml", Type: files.TypeConfig, FileInfo: &files.ContentFileInfo{Mode: 0o644}},
		// The alerting rules, for Prometheus to load from where they are
		// (or to copy): not a conffile, so upgrades bring new rules.
		{Source: filepath.Join(dir, "..", "examples", "prometheus", "alerts.yml"), Destination: "/usr/share/wsctl/prometheus/alerts.yml", FileInfo: &files.ContentFileInfo{Mode: 0o644}},
		{Source: filepath.Join(opts.Root, "completions", "wsctl.bash"), Destination: "/usr/share/bash-completion/completions/wsctl"},
		{Source: filepath.Join(opts.Root, "completions", "_wsctl"), Destination: "/usr/share/zsh/vendor-completions/_wsctl"},
		{Source: filepath.Join(opts.Root, "completions", "wsctl.fish"), Destination: "/usr/share/fish/vendor_completions.d/wsctl.fish"},
	}
	// Debian ships man pages gzipped.
	gzDir := filepath.Join(opts.Root, "man.gz")
	if err := os.MkdirAll(gzDir, 0o755); err != nil {
		return "", err
	}
	for _, p := range pages {
		gz := filepath.Join(gzDir, filepath.Base(p)+".gz")
		if err := gzipFile(p, gz); err != nil {
			return "", err
		}
		contents = append(contents, &files.Content{Source: gz, Destination: "/usr/share/man/man1/" + filepath.Base(gz)})
	}
	info := nfpm.WithDefaults(&nfpm.Info{
		Name:          "wsctl",
		Arch:          opts.Arch,
		Platform:      "linux",
		Version:       version,
		VersionSchema: "none",
		Section:       "net",
		Priority:      "optional",
		Maintainer:    "wsctl maintainers <wsctl@users.noreply.github.com>",
		Homepage:      "https://github.com/wsctl/wsctl",
		Description: "control plane for WebSocket load balancing with HAProxy and nginx\n" +
			"wsctl renders WebSocket-correct HAProxy and nginx configs from a declarative\n" +
			"spec, checks and lints them, drives HAProxy's runtime API so deploys drain\n" +
			"WebSockets, and runs an agent (wsctl-agent.service) that follows Consul.",
		Overridables: nfpm.Overridables{
			// bash-completion loads the shipped completion; without it bash
			// completes nothing.
			Recommends: []string{"haproxy", "bash-completion"},
			Suggests:   []string{"nginx", "consul"},
			Contents:   contents,
			Scripts: nfpm.Scripts{
				PostInstall: filepath.Join(dir, "postinst"),
				PreRemove:   filepath.Join(dir, "prerm"),
				PostRemove:  filepath.Join(dir, "postrm"),
			},
		},
	})
	if err := nfpm.PrepareForPackager(info, "deb"); err != nil {
		return "", err
	}
	pkg, err := nfpm.Get("deb")
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(opts.Out, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(opts.Out, pkg.ConventionalFileName(info))
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	if err := pkg.Package(info, f); err != nil {
		f.Close()
		return "", fmt.Errorf("build %s: %w", path, err)
	}
	return path, f.Close()
}

// DebVersion maps a git describe version to a Debian upstream version,
// which must start with a digit and may hold only alphanumerics and ".+~".
// Release tags are Go module versions (vX.Y.Z): v1.2.3 → 1.2.3,
// v1.2.3-4-gabc-dirty → 1.2.3+4.gabc.dirty. Anything else (an untagged
// commit such as 93285b1-dirty, "dev") sorts below every release:
// 0.0.0+93285b1.dirty.
func DebVersion(v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", errors.New("-version is required")
	}
	if len(v) > 1 && v[0] == 'v' && '0' <= v[1] && v[1] <= '9' {
		v = strings.Replace(v[1:], "-", "+", 1)
	} else {
		v = "0.0.0+" + v
	}
	return strings.Map(func(r rune) rune {
		if '0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || strings.ContainsRune(".+~", r) {
			return r
		}
		return '.'
	}, v), nil
}

// gzipFile writes src gzipped to dst, with no name or time in the header so
// the same page gives the same bytes.
func gzipFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	zw, err := gzip.NewWriterLevel(out, gzip.BestCompression)
	if err != nil {
		out.Close()
		return err
	}
	if _, err := io.Copy(zw, in); err != nil {
		out.Close()
		return err
	}
	if err := zw.Close(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

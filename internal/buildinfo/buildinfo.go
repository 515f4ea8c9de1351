// Package buildinfo reports which wsctl this is: the version, the commit it
// was built from and the Go toolchain, read from the build information Go
// embeds in every binary, so `go install` builds answer as well as release
// builds.
package buildinfo

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// Info identifies a build. Its JSON is `wsctl version -o json`, a
// documented contract: fields are only ever added.
type Info struct {
	// Version is the release version: the one set with -ldflags -X when
	// given, else the module version `go install …@version` records, else
	// "dev".
	Version string `json:"version"`
	// Commit is the VCS revision the binary was built from ("" when the
	// build recorded none, e.g. with -buildvcs=false).
	Commit string `json:"commit"`
	// Modified is set when the work tree had uncommitted changes.
	Modified bool `json:"modified"`
	// GoVersion is the toolchain that built the binary.
	GoVersion string `json:"go_version"`
}

// Read returns this binary's Info. override is the -ldflags -X version
// ("" or "dev": none) and wins over the module version.
func Read(override string) Info {
	bi, _ := debug.ReadBuildInfo()
	return FromBuildInfo(override, bi)
}

// FromBuildInfo derives Info from bi, which may be nil (a binary built
// without module support).
func FromBuildInfo(override string, bi *debug.BuildInfo) Info {
	info := Info{Version: override}
	if bi == nil {
		if info.Version == "" {
			info.Version = "dev"
		}
		return info
	}
	info.GoVersion = bi.GoVersion
	// "(devel)" is what a build inside the work tree records: not a version.
	if (info.Version == "" || info.Version == "dev") && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		info.Version = bi.Main.Version
	}
	if info.Version == "" {
		info.Version = "dev"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Commit = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}

// WithCommit returns i with Commit set to commit when the build recorded
// none: a binary built with -buildvcs=false (GOFLAGS) can have it stamped
// with -ldflags -X instead. A "-dirty" suffix marks a modified tree.
func (i Info) WithCommit(commit string) Info {
	if i.Commit != "" || commit == "" {
		return i
	}
	i.Commit, i.Modified = strings.CutSuffix(commit, "-dirty")
	return i
}

// String is the text of `wsctl version`: the version on the first line,
// then the commit and the Go version.
func (i Info) String() string {
	commit := i.Commit
	switch {
	case commit == "":
		commit = "unknown"
	case i.Modified:
		commit += " (modified)"
	}
	goVersion := i.GoVersion
	if goVersion == "" {
		goVersion = "unknown"
	}
	return fmt.Sprintf("wsctl %s\ncommit: %s\ngo: %s\n", i.Version, commit, goVersion)
}

package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	vcs := []debug.BuildSetting{
		{Key: "-ldflags", Value: "-X main.version=v1.2.0"},
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "0123abcd"},
		{Key: "vcs.modified", Value: "true"},
	}
	tests := []struct {
		name     string
		override string
		bi       *debug.BuildInfo
		want     Info
	}{
		{"no build info", "", nil, Info{Version: "dev"}},
		{"ldflags version without build info", "v1.0.0", nil, Info{Version: "v1.0.0"}},
		{"work tree build", "", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: vcs},
			Info{Version: "dev", Commit: "0123abcd", Modified: true, GoVersion: "go1.26.8"}},
		{"go install of a tag", "dev", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.3.0"}},
			Info{Version: "v1.3.0", GoVersion: "go1.26.8"}},
		{"ldflags wins", "v1.2.0", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.3.0"}, Settings: vcs[:3]},
			Info{Version: "v1.2.0", Commit: "0123abcd", GoVersion: "go1.26.8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FromBuildInfo(tt.override, tt.bi); got != tt.want {
				t.Errorf("FromBuildInfo = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		info Info
		want string
	}{
		{Info{Version: "v1.2.0", Commit: "0123abcd", Modified: true, GoVersion: "go1.26.8"},
			"wsctl v1.2.0\ncommit: 0123abcd (modified)\ngo: go1.26.8\n"},
		{Info{Version: "v1.2.0", Commit: "0123abcd", GoVersion: "go1.26.8"},
			"wsctl v1.2.0\ncommit: 0123abcd\ngo: go1.26.8\n"},
		{Info{Version: "dev"}, "wsctl dev\ncommit: unknown\ngo: unknown\n"},
	}
	for _, tt := range tests {
		if got := tt.info.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.info, got, tt.want)
		}
	}
}

// TestReadThisBinary reads the test binary's own build info: Go always
// records its toolchain version.
func TestReadThisBinary(t *testing.T) {
	info := Read("")
	if !strings.HasPrefix(info.GoVersion, "go") {
		t.Errorf("GoVersion = %q, want the toolchain's", info.GoVersion)
	}
	if info.Version == "" {
		t.Error("Version is empty")
	}
}

// TestWithCommit: the stamped commit fills in only for a build that
// recorded none, and its -dirty suffix is the modified mark.
func TestWithCommit(t *testing.T) {
	for _, tt := range []struct {
		name   string
		info   Info
		commit string
		want   Info
	}{
		{"recorded wins", Info{Commit: "0123abcd"}, "ffff", Info{Commit: "0123abcd"}},
		{"stamped", Info{}, "0123abcd", Info{Commit: "0123abcd"}},
		{"stamped dirty", Info{}, "0123abcd-dirty", Info{Commit: "0123abcd", Modified: true}},
		{"none", Info{}, "", Info{}},
	} {
		if got := tt.info.WithCommit(tt.commit); got != tt.want {
			t.Errorf("%s: %+v.WithCommit(%q) = %+v, want %+v", tt.name, tt.info, tt.commit, got, tt.want)
		}
	}
}

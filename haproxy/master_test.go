package haproxy

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
)

// startup30 is what HAProxy 3.0's master CLI answers `reload` with when
// the new config fails to load (captured from 3.0.11).
const startup30 = `Success=0
--
[NOTICE]   (23643) : haproxy version is 3.0.11-1+deb13u4
[NOTICE]   (23643) : path to executable is /usr/sbin/haproxy
[ALERT]    (23643) : config : parsing [h.cfg:13] : unknown keyword 'bad' in 'backend' section
[ALERT]    (23643) : config : Fatal errors found in configuration.
[WARNING]  (23643) : Loading failure!

`

func TestReloadStatus(t *testing.T) {
	tests := []struct {
		name, version, reply string
		want                 error
		msg                  string
	}{
		{"3.0 success", "3.0.11", "Success=1\n--\n[NOTICE]   (1) : Loading success.\n", nil, ""},
		{"3.0 failure", "3.0.11", startup30, ErrReloadFailed,
			"reload failed: config : parsing [h.cfg:13] : unknown keyword 'bad' in 'backend' section; config : Fatal errors found in configuration."},
		{"failure without alerts", "3.0.11", "Success=0\n--\n[WARNING]  (1) : Loading failure!\n", ErrReloadFailed, "reload failed: [WARNING]  (1) : Loading failure!"},
		{"2.6 answers nothing", "2.6.12-1+deb12u4", "", nil, ""},
		{"3.0 answering nothing", "3.0.11", "", ErrBadReply, "closed without reporting"},
		{"garbage", "3.0.11", "what?\n", ErrBadReply, `answered "what?"`},
		{"not the master CLI", "2.6.12", "Unknown command, but maybe one of the following...\n", ErrNotHAProxy, "master CLI"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := reloadStatus(tt.version, tt.reply)
			if !errors.Is(err, tt.want) || tt.want == nil && err != nil {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err != nil && !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %q, want it to contain %q", err, tt.msg)
			}
		})
	}
}

// TestMasterCommandChokePoint: a command to the master CLI passes the same
// check as every other, before anything is dialled.
func TestMasterCommandChokePoint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "none.sock")
	for _, cmd := range []string{"reload\nshow proc", "reload; show proc", "reload\x00"} {
		if _, err := masterCommand(context.Background(), path, 0, cmd); !errors.Is(err, ErrInvalidName) {
			t.Errorf("masterCommand(%q) = %v, want ErrInvalidName (and no dial)", cmd, err)
		}
	}
}

func TestInfoAtLeast(t *testing.T) {
	v26, v30 := Info{Version: "2.6.12-1+deb12u4"}, Info{Version: "3.0.11-1+deb13u4"}
	if !v26.AtLeast(2, 6) || v26.AtLeast(3, 0) || !v30.AtLeast(3, 0) || v30.AtLeast(3, 1) || (Info{}).AtLeast(2, 6) {
		t.Errorf("AtLeast is wrong for %q or %q", v26.Version, v30.Version)
	}
}

// TestCookieNeedsVersion: a cookie on `add server` is refused up front on
// 2.6, which would refuse it anyway; 3.0 takes it.
func TestCookieNeedsVersion(t *testing.T) {
	o := ServerOptions{Cookie: "s2"}
	if err := o.supportedBy(Info{Version: "2.6.12-1+deb12u4"}); !errors.Is(err, ErrNeedsVersion) || !strings.Contains(err.Error(), "2.6.12") {
		t.Errorf("cookie on 2.6: err = %v, want ErrNeedsVersion naming the version", err)
	}
	if err := o.supportedBy(Info{Version: "3.0.11"}); err != nil {
		t.Errorf("cookie on 3.0: %v", err)
	}
	if err := (ServerOptions{}).supportedBy(Info{Version: "2.6.12"}); err != nil {
		t.Errorf("no cookie on 2.6: %v", err)
	}
	ch := Change{Kind: ChangeAdd, Backend: "ws", Server: "s2", Addr: netip.MustParseAddr("10.0.0.1"), Port: 80, Options: o}
	if _, err := ch.steps(Info{Version: "2.6.12"}); !errors.Is(err, ErrNeedsVersion) {
		t.Errorf("ChangeAdd with a cookie on 2.6: err = %v, want ErrNeedsVersion", err)
	}
}

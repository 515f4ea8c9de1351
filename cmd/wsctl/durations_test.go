package main

import (
	"strings"
	"testing"
)

// TestDurationFlagsRefuseMeaningless: every duration flag refuses a
// negative value, and zero where 0 means nothing, naming the flag, before
// the command runs; 0 stays valid where the help says what it means.
func TestDurationFlagsRefuseMeaningless(t *testing.T) {
	t.Setenv("WSCTL_RUN_DIR", t.TempDir())
	positive, zeroOK := "want a positive duration", "want 0 or a positive duration"
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"status", "--socket-timeout", "0s"}, `"0s" for "--socket-timeout" flag: ` + positive},
		{[]string{"status", "--socket-timeout", "-1s"}, `"-1s" for "--socket-timeout" flag: ` + positive},
		{[]string{"drain", "s", "--timeout", "-1s"}, `"-1s" for "--timeout" flag: ` + zeroOK},
		{[]string{"drain", "s", "--close-after", "-5s"}, `"-5s" for "--close-after" flag: ` + zeroOK},
		{[]string{"ready", "s", "--wait-healthy", "-1s"}, `"-1s" for "--wait-healthy" flag: ` + zeroOK},
		{[]string{"maint", "s", "--socket-timeout", "0"}, `"0" for "--socket-timeout" flag: ` + positive},
		{[]string{"rollout", "ws", "--pause", "--close-after", "-1s"}, `"-1s" for "--close-after" flag: ` + zeroOK},
		{[]string{"rollout", "ws", "--pause", "--wait-healthy", "-1m"}, `"-1m" for "--wait-healthy" flag: ` + zeroOK},
		{[]string{"rebalance", "ws", "--timeout", "-1s"}, `"-1s" for "--timeout" flag: ` + zeroOK},
		{[]string{"reload", "--haproxy-config", "h.cfg", "--timeout", "0s"}, `"0s" for "--timeout" flag: ` + positive},
		{[]string{"reload", "--haproxy-config", "h.cfg", "--reload-timeout", "-1s"}, `"-1s" for "--reload-timeout" flag: ` + positive},
		{[]string{"reload", "--haproxy-config", "h.cfg", "--handover-after", "-1s"}, `"-1s" for "--handover-after" flag: ` + zeroOK},
		{[]string{"state", "save", "--timeout", "0s"}, `"0s" for "--timeout" flag: ` + positive},
		{[]string{"lint", "--heartbeat", "0s", "x.cfg"}, `"0s" for "--heartbeat" flag: ` + positive},
		{[]string{"agent", "--haproxy-config", "h.cfg", "--min-quiet", "0s"}, `"0s" for "--min-quiet" flag: ` + positive},
		{[]string{"agent", "--haproxy-config", "h.cfg", "--reload-interval", "-1s"}, `"-1s" for "--reload-interval" flag: ` + positive},
		{[]string{"agent", "--haproxy-config", "h.cfg", "--log-repeats", "-1s"}, `"-1s" for "--log-repeats" flag: ` + zeroOK},
	} {
		io, _, errOut := testIO()
		if code := Main(tt.args, io); code != exitError || !strings.Contains(errOut.String(), "invalid argument "+tt.want) {
			t.Errorf("%q: exit %d, stderr %s; want 2 and %q", tt.args, code, errOut, tt.want)
		}
	}
}

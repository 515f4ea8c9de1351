package lint

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// haproxyMaxTime is the largest time HAProxy accepts (INT_MAX ms, ~24.8 days);
// "timeout tunnel 30d" is fatal.
const haproxyMaxTime = 2147483647 * time.Millisecond

// parseHAProxyTime parses an HAProxy time: a number with an optional unit
// (us, ms, s, m, h, d), milliseconds when there is none.
func parseHAProxyTime(s string) (time.Duration, error) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("%q is not a time", s)
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil || n > int64(haproxyMaxTime/time.Microsecond) {
		return 0, fmt.Errorf("%q is too large (the maximum is 24d20h31m)", s)
	}
	unit, ok := map[string]time.Duration{
		"": time.Millisecond, "us": time.Microsecond, "ms": time.Millisecond,
		"s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour,
	}[s[i:]]
	if !ok {
		return 0, fmt.Errorf("%q: unknown unit %q", s, s[i:])
	}
	d := time.Duration(n) * unit
	if d/unit != time.Duration(n) || d > haproxyMaxTime {
		return 0, fmt.Errorf("%q is too large (the maximum is 24d20h31m)", s)
	}
	return d, nil
}

// nginxUnits are nginx's time units; a number without one is seconds.
var nginxUnits = map[string]time.Duration{
	"ms": time.Millisecond, "s": time.Second, "m": time.Minute, "h": time.Hour,
	"d": 24 * time.Hour, "w": 7 * 24 * time.Hour, "M": 30 * 24 * time.Hour, "y": 365 * 24 * time.Hour,
}

// parseNginxTime parses an nginx time such as "60", "75s", "1h 30m" or "1h30m".
func parseNginxTime(s string) (time.Duration, error) {
	var total time.Duration
	rest := strings.TrimSpace(s)
	if rest == "" {
		return 0, fmt.Errorf("%q is not a time", s)
	}
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i > 12 {
			return 0, fmt.Errorf("%q is not a time", s)
		}
		n, _ := strconv.ParseInt(rest[:i], 10, 64)
		rest = rest[i:]
		j := 0
		for j < len(rest) && (rest[j] >= 'a' && rest[j] <= 'z' || rest[j] >= 'A' && rest[j] <= 'Z') {
			j++
		}
		unit := time.Second
		if j > 0 {
			u, ok := nginxUnits[rest[:j]]
			if !ok {
				return 0, fmt.Errorf("%q: unknown unit %q", s, rest[:j])
			}
			unit = u
		}
		total += time.Duration(n) * unit
		rest = strings.TrimLeft(rest[j:], " \t")
	}
	return total, nil
}

// fmtDur writes d in the largest unit that represents it exactly: 1h, 90s, 1500ms.
func fmtDur(d time.Duration) string {
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}, {time.Millisecond, "ms"}} {
		if d >= u.d && d%u.d == 0 {
			return fmt.Sprintf("%d%s", d/u.d, u.name)
		}
	}
	return d.String()
}

// fmtInt writes n with thousands separators: 9,990.
func fmtInt(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return "-" + fmtInt(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

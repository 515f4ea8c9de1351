package lint

import (
	"testing"
	"time"
)

func TestParseHAProxyTime(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{in: "5000", want: 5 * time.Second},
		{in: "500us", want: 500 * time.Microsecond},
		{in: "30s", want: 30 * time.Second},
		{in: "1h", want: time.Hour},
		{in: "24d", want: 24 * 24 * time.Hour},
		{in: "0", want: 0},
		{in: "25d", wantErr: true},
		{in: "30d", wantErr: true},
		{in: "1h30m", wantErr: true},
		{in: "5x", wantErr: true},
		{in: "", wantErr: true},
	} {
		got, err := parseHAProxyTime(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("parseHAProxyTime(%q) = %v, %v; want %v (error %v)", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestParseNginxTime(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{in: "60", want: time.Minute},
		{in: "75s", want: 75 * time.Second},
		{in: "500ms", want: 500 * time.Millisecond},
		{in: "1h 30m", want: 90 * time.Minute},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "1d", want: 24 * time.Hour},
		{in: "3600s", want: time.Hour},
		{in: "1x", wantErr: true},
		{in: "s", wantErr: true},
	} {
		got, err := parseNginxTime(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("parseNginxTime(%q) = %v, %v; want %v (error %v)", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestFormat(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Hour: "1h", 90 * time.Second: "90s", 1500 * time.Millisecond: "1500ms", 48 * time.Hour: "2d", 0: "0s",
	} {
		if got := fmtDur(d); got != want {
			t.Errorf("fmtDur(%v) = %q, want %q", d, got, want)
		}
	}
	for n, want := range map[int]string{0: "0", 999: "999", 9990: "9,990", 1234567: "1,234,567", -2000: "-2,000"} {
		if got := fmtInt(n); got != want {
			t.Errorf("fmtInt(%d) = %q, want %q", n, got, want)
		}
	}
}

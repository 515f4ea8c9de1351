package loadgen

import (
	"errors"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{name: "defaults with url", mutate: func(*Config) {}},
		{name: "wss", mutate: func(c *Config) { c.URL = "wss://lb.example:443/ws" }},
		{name: "all at once", mutate: func(c *Config) { c.Rate = 0; c.Conns = 10_000 }},
		{name: "no url", mutate: func(c *Config) { c.URL = "" }, wantErr: "url is empty"},
		{name: "http url", mutate: func(c *Config) { c.URL = "http://127.0.0.1/" }, wantErr: "scheme must be ws or wss"},
		{name: "no host", mutate: func(c *Config) { c.URL = "ws:///ws" }, wantErr: "no host"},
		{name: "no conns", mutate: func(c *Config) { c.Conns = 0 }, wantErr: "need at least 1"},
		{name: "negative rate", mutate: func(c *Config) { c.Rate = -1 }, wantErr: "rate -1 is negative"},
		{name: "no duration", mutate: func(c *Config) { c.Duration = 0 }, wantErr: "duration 0s must be positive"},
		{name: "negative interval", mutate: func(c *Config) { c.Interval = -time.Second }, wantErr: "interval -1s is negative"},
		{name: "negative grace", mutate: func(c *Config) { c.Grace = -time.Second }, wantErr: "grace -1s is negative"},
		{name: "ramp longer than duration", mutate: func(c *Config) { c.Conns = 2001; c.Rate = 100 },
			wantErr: "opening 2001 connections at 100/s takes 20s, not less than the duration 10s"},
		{name: "nil source ip", mutate: func(c *Config) { c.SourceIPs = []net.IP{nil} }, wantErr: "empty address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.URL = "ws://127.0.0.1:8080/ws"
			tt.mutate(&cfg)
			err := cfg.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Validate() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestStartAt(t *testing.T) {
	cfg := Config{Rate: 4}
	got := []time.Duration{cfg.startAt(0), cfg.startAt(1), cfg.startAt(4)}
	want := []time.Duration{0, 250 * time.Millisecond, time.Second}
	if !slices.Equal(got, want) {
		t.Errorf("start instants at 4/s = %v, want %v", got, want)
	}
	if d := (Config{Rate: 0}).startAt(1000); d != 0 {
		t.Errorf("rate 0 starts client 1000 at %v, want 0", d)
	}
}

func TestBackoffStaysUnderItsCeiling(t *testing.T) {
	tests := []struct {
		attempt int
		ceiling time.Duration
	}{
		{attempt: 0, ceiling: 100 * time.Millisecond},
		{attempt: 1, ceiling: 200 * time.Millisecond},
		{attempt: 3, ceiling: 800 * time.Millisecond},
		{attempt: 6, ceiling: 5 * time.Second},
		{attempt: 60, ceiling: 5 * time.Second},
	}
	for _, tt := range tests {
		var longest time.Duration
		for range 2000 {
			d := backoff(tt.attempt)
			if d < 0 || d >= tt.ceiling {
				t.Fatalf("backoff(%d) = %v, want in [0, %v)", tt.attempt, d, tt.ceiling)
			}
			longest = max(longest, d)
		}
		// Full jitter uses the whole range: 2000 draws all in the lower
		// half would happen with probability 2^-2000.
		if longest < tt.ceiling/2 {
			t.Errorf("backoff(%d): longest of 2000 draws %v, want some above %v", tt.attempt, longest, tt.ceiling/2)
		}
	}
}

func TestLatencyQuantiles(t *testing.T) {
	var h latencies
	if got := h.quantile(0.5); got != 0 {
		t.Errorf("empty histogram p50 = %v, want 0", got)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var samples []time.Duration
	for range 10_000 {
		d := time.Duration(rng.ExpFloat64() * float64(2*time.Millisecond))
		samples = append(samples, d)
		h.add(d)
	}
	slices.Sort(samples)
	for _, q := range []float64{0.5, 0.9, 0.99, 1} {
		exact := samples[int(q*float64(len(samples)))-1]
		got := h.quantile(q)
		// The bucket's upper bound: never below the exact value, at most
		// 1% above (plus a microsecond for the bucket of sub-µs values).
		if got < exact || float64(got) > float64(exact)*latencyGrowth+float64(time.Microsecond) {
			t.Errorf("quantile(%v) = %v, exact %v: want within 1%% above", q, got, exact)
		}
	}
}

func TestMillis(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want float64
	}{
		{d: 0, want: 0},
		{d: 1500 * time.Microsecond, want: 1.5},
		{d: 1234567 * time.Nanosecond, want: 1.235},
	}
	for _, tt := range tests {
		if got := millis(tt.d); got != tt.want {
			t.Errorf("millis(%v) = %v, want %v", tt.d, got, tt.want)
		}
	}
}

func TestCheckFileLimit(t *testing.T) {
	tests := []struct {
		name    string
		conns   int
		limit   uint64
		wantErr bool
	}{
		{name: "fits", conns: 1000, limit: 20000},
		{name: "fits with slack", conns: 20000 - fileSlack, limit: 20000},
		{name: "no room for the slack", conns: 19990, limit: 20000, wantErr: true},
		{name: "far over", conns: 50000, limit: 20000, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckFileLimit(tt.conns, tt.limit)
			if (err != nil) != tt.wantErr {
				t.Fatalf("CheckFileLimit(%d, %d) = %v, want error: %v", tt.conns, tt.limit, err, tt.wantErr)
			}
			if err == nil {
				return
			}
			if !errors.Is(err, ErrFileLimit) {
				t.Errorf("error %v does not wrap ErrFileLimit", err)
			}
			for _, advice := range []string{"hard limit here is 20000 per process", "several wsload processes", "source addresses"} {
				if !strings.Contains(err.Error(), advice) {
					t.Errorf("error %q lacks %q", err, advice)
				}
			}
		})
	}
}

func TestRaiseFileLimit(t *testing.T) {
	got, err := RaiseFileLimit()
	if err != nil {
		t.Fatalf("RaiseFileLimit: %v", err)
	}
	if got < 64 {
		t.Errorf("soft limit %d after raising, want a usable number", got)
	}
}

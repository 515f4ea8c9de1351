package loadgen

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"time"
)

// Config describes one load run. Start from DefaultConfig and set URL.
type Config struct {
	// URL is the ws:// or wss:// address every client dials.
	URL string
	// Conns is the number of clients, each holding one connection at a time.
	Conns int
	// Rate is how many clients start per second; 0 starts them all at once.
	Rate float64
	// Duration is how long the run lasts from its start, ramp-up included.
	Duration time.Duration
	// Interval is the time between two echo messages on a connection; 0
	// sends none and only holds the connections.
	Interval time.Duration
	// Grace is how long in-flight echoes may take once Duration has passed
	// before the connections are closed. The run waits less when every
	// echo is back.
	Grace time.Duration
	// HandshakeTimeout bounds each dial and handshake.
	HandshakeTimeout time.Duration
	// Reconnect dials again, after a jittered backoff, when the peer closes
	// a connection or a handshake fails.
	Reconnect bool
	// Cookies gives every client its own cookie jar, so a reconnecting
	// client presents the sticky cookie its last handshake received.
	Cookies bool
	// SourceIPs spreads the clients' local addresses round-robin over these
	// IPs, each with its own range of ephemeral ports. Empty lets the
	// kernel choose.
	SourceIPs []net.IP
	// Logger receives progress and, at debug level, every drop and failed
	// handshake; nil discards them.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults of cmd/wsload: one client, 100 new
// connections per second, 10s, an echo every second, 2s of grace.
func DefaultConfig() Config {
	return Config{
		Conns:            1,
		Rate:             100,
		Duration:         10 * time.Second,
		Interval:         time.Second,
		Grace:            2 * time.Second,
		HandshakeTimeout: 5 * time.Second,
	}
}

// Validate reports the first field that makes the run impossible.
func (c Config) Validate() error {
	if c.URL == "" {
		return errors.New("loadgen: url is empty")
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return fmt.Errorf("loadgen: url: %w", err)
	}
	if u.Scheme != "ws" && u.Scheme != "wss" {
		return fmt.Errorf("loadgen: url %q: scheme must be ws or wss", c.URL)
	}
	if u.Host == "" {
		return fmt.Errorf("loadgen: url %q: no host", c.URL)
	}
	switch {
	case c.Conns < 1:
		return fmt.Errorf("loadgen: conns %d: need at least 1", c.Conns)
	case c.Rate < 0:
		return fmt.Errorf("loadgen: rate %g is negative", c.Rate)
	case c.Duration <= 0:
		return fmt.Errorf("loadgen: duration %v must be positive", c.Duration)
	case c.Interval < 0:
		return fmt.Errorf("loadgen: interval %v is negative", c.Interval)
	case c.Grace < 0:
		return fmt.Errorf("loadgen: grace %v is negative", c.Grace)
	case c.HandshakeTimeout <= 0:
		return fmt.Errorf("loadgen: handshake timeout %v must be positive", c.HandshakeTimeout)
	}
	if ramp := c.ramp(); ramp >= c.Duration {
		return fmt.Errorf("loadgen: opening %d connections at %g/s takes %v, not less than the duration %v",
			c.Conns, c.Rate, ramp, c.Duration)
	}
	for _, ip := range c.SourceIPs {
		if ip == nil {
			return errors.New("loadgen: source ips: empty address")
		}
	}
	return nil
}

// ramp is when the last client starts.
func (c Config) ramp() time.Duration {
	return c.startAt(c.Conns - 1)
}

// startAt is when client i starts, counted from the start of the run.
func (c Config) startAt(i int) time.Duration {
	if c.Rate == 0 {
		return 0
	}
	return time.Duration(float64(i) / c.Rate * float64(time.Second))
}

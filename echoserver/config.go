package echoserver

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Config describes one echo backend. Start from DefaultConfig: the zero
// Config sends no greeting and closes every WebSocket at once on shutdown.
type Config struct {
	// ID names the backend in the greeting, in /health and in the X-Server
	// header. Required.
	ID string
	// Greeting sends {"type":"hello","server":ID,"conn":N} on every new
	// WebSocket, so a client can tell which backend it landed on.
	Greeting bool
	// CloseSpread is the time over which Shutdown spreads the 1001 closes of
	// the open WebSockets, so the clients don't all reconnect in the same
	// instant. Zero closes them all at once.
	CloseSpread time.Duration
	// CloseGrace is how long a client gets to answer a close frame before
	// its connection is cut; zero cuts it right after the frame.
	CloseGrace time.Duration
	// HealthFile, when set, makes the backend healthy only while that file
	// exists. It is checked on every request.
	HealthFile string
	// ReadLimit is the largest message accepted, in bytes; a larger one
	// closes the connection with 1009. Zero accepts any size.
	ReadLimit int64
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
}

// DefaultConfig returns the configuration wsecho starts from for backend id.
func DefaultConfig(id string) Config {
	return Config{
		ID:          id,
		Greeting:    true,
		CloseSpread: 2 * time.Second,
		CloseGrace:  time.Second,
		ReadLimit:   1 << 20,
	}
}

// Validate reports the first field that can't be served.
func (c Config) Validate() error {
	switch {
	case c.ID == "":
		return errors.New("echoserver: id is empty")
	case c.CloseSpread < 0:
		return fmt.Errorf("echoserver: close spread %v is negative", c.CloseSpread)
	case c.CloseGrace < 0:
		return fmt.Errorf("echoserver: close grace %v is negative", c.CloseGrace)
	case c.ReadLimit < 0:
		return fmt.Errorf("echoserver: read limit %d is negative", c.ReadLimit)
	}
	return nil
}

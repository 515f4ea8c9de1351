package agent

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wsctl/wsctl/internal/sdnotify"
)

// TestRunServing: the loop and /healthz run together until the context
// ends; STOPPING=1 comes once, when the loop has ended.
func TestRunServing(t *testing.T) {
	systemd := listenNotify(t)
	u := newUnit(t, "1h", Config{NotifySocket: systemd.socket})
	u.prime(t, u.render(t))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- u.a.RunServing(ctx, l) }()
	eventuallyFast(t, "/healthz served", func() bool {
		resp, err := http.Get("http://" + l.Addr().String() + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	if systemd.count(sdnotify.Stopping) != 0 {
		t.Error("Stopping called while the agent runs")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("RunServing = %v, want nil once the context ended", err)
	}
	if got := systemd.count(sdnotify.Stopping); got != 1 {
		t.Errorf("Stopping called %d times, want 1", got)
	}
	if _, err := net.DialTimeout("tcp", l.Addr().String(), time.Second); err == nil {
		t.Error("still serving after RunServing returned")
	}
}

// TestRunServingListenerFails: a listener that fails stops the agent, and
// RunServing says it was the listener.
func TestRunServingListenerFails(t *testing.T) {
	u := newUnit(t, "1h", Config{})
	u.prime(t, u.render(t))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l.Close() // Serve fails at once
	err = u.a.RunServing(context.Background(), l)
	if !errors.Is(err, net.ErrClosed) || !strings.HasPrefix(err.Error(), "metrics listener: ") {
		t.Errorf("RunServing = %v, want the listener's error", err)
	}
}

package haproxy_test

import (
	"context"
	"testing"
	"time"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/haproxy/haproxytest"
	"github.com/wsctl/wsctl/internal/lbtest"
)

// TestPidChangesOnReload: Pid names the worker behind the socket, and a
// reload of the master hands the socket to a new one.
func TestPidChangesOnReload(t *testing.T) {
	lb := haproxytest.StartLB(t, haproxytest.Config{}, haproxytest.Backends(t, "s1"))
	ctx := context.Background()
	c, err := haproxy.Dial(ctx, lb.AdminSocket, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	before, err := c.Pid(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if before != c.Info().Pid {
		t.Fatalf("Pid() = %d, Dial saw %d", before, c.Info().Pid)
	}
	lb.Reload(t)
	var after int64
	lbtest.WaitFor(t, 10*time.Second, "a new worker behind the socket", func() bool {
		after, err = c.Pid(ctx)
		return err == nil && after != before
	})
	if after <= 0 {
		t.Errorf("Pid() after the reload = %d", after)
	}
}

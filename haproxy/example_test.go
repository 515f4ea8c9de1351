package haproxy_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/wsctl/wsctl/haproxy"
)

// Put a server in DRAIN, list what is still on it, and read the state back.
// Every call is bounded by the timeout given to Dial.
func ExampleDial() {
	ctx := context.Background()
	c, err := haproxy.Dial(ctx, "/run/haproxy/admin.sock", 2*time.Second)
	if err != nil {
		log.Fatal(err) // runtime: /run/haproxy/admin.sock: no HAProxy socket: …
	}
	ref, err := haproxy.ParseRef("backend2") // or "ws/backend2"
	if err != nil {
		log.Fatal(err) // wraps haproxy.ErrInvalidName
	}
	s, err := c.Find(ctx, ref)
	var amb *haproxy.AmbiguousError
	if errors.As(err, &amb) {
		log.Fatalf("pick one of %v", amb.Candidates)
	}
	if err != nil {
		log.Fatal(err)
	}
	if err := c.SetState(ctx, s.Backend, s.Server, haproxy.Drain); err != nil {
		log.Fatal(err) // the state is read back: wraps haproxy.ErrNotApplied if it did not take
	}
	ids, err := c.Sessions(ctx, s.Backend, s.Server)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s/%s: %d sessions left\n", s.Backend, s.Server, len(ids))
}

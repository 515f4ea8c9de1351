package target

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/wsctl/wsctl/haproxy/haproxytest"
)

// TestDialAtOnce: every socket is dialled at once (each dial here waits
// until all have started, so one after the other never returns), in the
// order given; a failure is kept on its socket and joined into the error.
func TestDialAtOnce(t *testing.T) {
	paths := []string{"/a.sock", "/dead.sock", "/c.sock"}
	var started sync.WaitGroup
	started.Add(len(paths))
	dead := errors.New("connection refused")
	dial := func(ctx context.Context, path string, timeout time.Duration) (Runtime, error) {
		started.Done()
		started.Wait()
		if path == "/dead.sock" {
			return nil, dead
		}
		return &haproxytest.Runtime{}, nil
	}
	got := make(chan []Socket)
	var err error
	go func() {
		s, e := Dial(t.Context(), paths, time.Second, dial)
		err = e
		got <- s
	}()
	var sockets []Socket
	select {
	case sockets = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("the dials did not all start: dialled one after the other")
	}
	if !errors.Is(err, dead) {
		t.Errorf("got error %v, want %v", err, dead)
	}
	for i, s := range sockets {
		if s.Name != paths[i] {
			t.Errorf("socket %d is %s, want %s", i, s.Name, paths[i])
		}
		if failed := s.Err != nil; failed != (s.Name == "/dead.sock") || failed != (s.Runtime == nil) {
			t.Errorf("%s: Err %v, Runtime %v", s.Name, s.Err, s.Runtime)
		}
	}
}

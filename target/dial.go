package target

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/wsctl/wsctl/haproxy"
)

// DialFunc opens one HAProxy admin socket.
type DialFunc func(ctx context.Context, path string, timeout time.Duration) (Runtime, error)

// Dial dials every path at once with dial (nil: haproxy.Dial), each within
// timeout: one slow or dead HAProxy costs one timeout, not one each. The
// sockets are in the order of paths; one that fails has its Err set, so a
// reader can still show the others, and the error joins every failure, so
// a change can be refused unless every HAProxy answers.
func Dial(ctx context.Context, paths []string, timeout time.Duration, dial DialFunc) ([]Socket, error) {
	if dial == nil {
		dial = func(ctx context.Context, path string, timeout time.Duration) (Runtime, error) {
			c, err := haproxy.Dial(ctx, path, timeout)
			if err != nil {
				return nil, err // not a nil *Client in a non-nil interface
			}
			return c, nil
		}
	}
	out := make([]Socket, len(paths))
	errs := make([]error, len(paths))
	var wg sync.WaitGroup
	for i, p := range paths {
		wg.Go(func() {
			rt, err := dial(ctx, p, timeout)
			out[i], errs[i] = Socket{Name: p, Runtime: rt, Err: err}, err
		})
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

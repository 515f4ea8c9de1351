package loadgen

import (
	"errors"
	"fmt"
	"syscall"
)

// fileSlack is the descriptors a process needs besides its connections:
// standard streams, the network poller, the timeline file, DNS lookups.
const fileSlack = 64

// ErrFileLimit means the open-file limit can't hold the requested
// connections.
var ErrFileLimit = errors.New("open-file limit too low")

// RaiseFileLimit raises the soft limit on open files (RLIMIT_NOFILE) to the
// hard limit, since every connection costs a descriptor, and returns the
// soft limit now in force. Go's runtime may already have raised it; asking
// again tells the caller the number it can count on.
func RaiseFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("loadgen: open-file limit: %w", err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return 0, fmt.Errorf("loadgen: raise open-file limit to %d: %w", lim.Max, err)
		}
	}
	return lim.Cur, nil
}

// CheckFileLimit returns an error wrapping ErrFileLimit, with advice, when
// conns connections and the slack a process needs don't fit in limit.
func CheckFileLimit(conns int, limit uint64) error {
	need := uint64(conns) + fileSlack
	if need <= limit {
		return nil
	}
	return fmt.Errorf("loadgen: %w: %d connections need about %d descriptors, and the hard limit here is %d per process: "+
		"run several wsload processes or use several loopback source addresses (--source-ips)",
		ErrFileLimit, conns, need, limit)
}

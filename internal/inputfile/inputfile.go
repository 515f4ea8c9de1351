// Package inputfile reads the files wsctl takes as input (specs, templates,
// configs to lint or compare) without trusting what the path names: only a
// regular file is read, and only up to a size limit, so a device, a FIFO or a
// runaway file gives a clear error instead of a hang or an out-of-memory.
package inputfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// Size limits of the inputs. They are far above any real file and far below
// what hurts a host that also runs the proxy.
const (
	// MaxSpec bounds a wsctl spec (wsctl.yaml).
	MaxSpec = 1 << 20 // 1 MiB
	// MaxConfig bounds a proxy config (lint, diff --against, each nginx
	// include) and a template.
	MaxConfig = 16 << 20 // 16 MiB
)

// ErrNotRegular is wrapped by the error for a path that names a directory,
// device, FIFO, socket or anything else that is not a regular file.
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge is wrapped by the error for a file over its size limit.
var ErrTooLarge = errors.New("too large")

// Read returns the contents of the regular file at path (symlinks followed),
// refusing anything else and anything over limit bytes. It never blocks on a
// FIFO and never opens a device: the path is checked with stat before it is
// opened, and opened non-blocking and checked again with fstat (it may have
// been swapped meanwhile) before the first read. Errors start with path.
func Read(path string, limit int64) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err // *fs.PathError already names path
	}
	if err := Regular(path, fi.Mode()); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err = f.Stat()
	if err != nil {
		return nil, err
	}
	if err := Regular(path, fi.Mode()); err != nil {
		return nil, err
	}
	if fi.Size() > limit {
		return nil, tooLarge(path, limit)
	}
	// The file may grow between fstat and read: ReadFrom reads one byte past
	// the limit to notice.
	return ReadFrom(path, f, limit)
}

// ReadFrom reads r (standard input, say), named name in errors, up to limit
// bytes.
func ReadFrom(name string, r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if int64(len(data)) > limit {
		return nil, tooLarge(name, limit)
	}
	return data, nil
}

func tooLarge(name string, limit int64) error {
	return fmt.Errorf("%s: %w (over the %s limit)", name, ErrTooLarge, size(limit))
}

// size prints a limit the way the constants are written.
func size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// Regular returns nil when mode is a regular file's, else an error such as
// "/dev/zero: not a regular file (character device)" wrapping ErrNotRegular.
func Regular(path string, mode fs.FileMode) error {
	if mode.IsRegular() {
		return nil
	}
	return fmt.Errorf("%s: %w (%s)", path, ErrNotRegular, Kind(mode))
}

// Kind names the type of file mode describes, for error messages.
func Kind(mode fs.FileMode) string {
	switch {
	case mode.IsRegular():
		return "regular file"
	case mode.IsDir():
		return "directory"
	case mode&fs.ModeSymlink != 0:
		return "symbolic link"
	case mode&fs.ModeNamedPipe != 0:
		return "FIFO"
	case mode&fs.ModeSocket != 0:
		return "socket"
	case mode&fs.ModeCharDevice != 0:
		return "character device"
	case mode&fs.ModeDevice != 0:
		return "block device"
	}
	return "irregular file"
}

// Package proxy deals with the proxy processes: validating a config with the
// real binary, writing it atomically, and (for the agent) reloading.
package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/wsctl/wsctl/internal/inputfile"
)

// WriteAtomic replaces path with data so that a reader sees either the old or
// the new file, never a torn one: temp file in the same directory, fsync,
// rename, fsync of the directory. It skips the write and returns false when
// the file already holds data.
//
// Only a regular file or a new path is written. A directory, device, FIFO or
// socket is refused with an error naming it, without being opened: renaming
// over /dev/null would replace the device, and reading a FIFO blocks. A
// symlink is written through: its final target is replaced atomically and the
// link stays, so a config kept in a repository and linked into /etc remains
// linked. A new file gets mode 0640 (a config can hold the stats page's
// password: never world-readable unless someone made it so); a replaced one
// keeps its mode, and its owner and group (changing them needs root; as
// another user the file takes that user's ownership, as with any editor's
// atomic save).
//
// It is for the operator's own paths (render -o, the proxy's config). The
// files wsctl keeps as state go through package internal/statefile, which
// never follows a link.
func WriteAtomic(path string, data []byte) (changed bool, err error) {
	target, old, err := writeTarget(path)
	if err != nil {
		return false, fmt.Errorf("write %w", err)
	}
	if old != nil && same(target, old, data) {
		return false, nil
	}
	dir := filepath.Dir(target)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(target)+".tmp-*")
	if err != nil {
		return false, fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if err := fill(tmp, data, old); err != nil {
		tmp.Close()
		return false, fmt.Errorf("write %s: %w", path, withoutTemp(err))
	}
	if err := tmp.Close(); err != nil {
		return false, fmt.Errorf("write %s: %w", path, withoutTemp(err))
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		return false, fmt.Errorf("write %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // best effort: the rename is durable once the directory is
		d.Close()
	}
	return true, nil
}

// withoutTemp drops the temp file's random name from an error on it: the
// same failure (a full disk) then reads the same every time, so a caller's
// log can count repeats instead of printing each one.
func withoutTemp(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s temp file: %w", pe.Op, pe.Err)
	}
	return err
}

// writeTarget resolves path to the file to replace (path itself, or the final
// target of a symlink) and returns that file's current info, nil when it does
// not exist yet. Errors read "<path>: <why>" for WriteAtomic to prefix.
func writeTarget(path string) (target string, old fs.FileInfo, err error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return path, nil, nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", path, err)
	}
	target = path
	if fi.Mode()&fs.ModeSymlink != 0 {
		if target, err = filepath.EvalSymlinks(path); err != nil {
			return "", nil, fmt.Errorf("%s: symbolic link to a missing or unreachable file: %w", path, err)
		}
		if fi, err = os.Lstat(target); err != nil {
			return "", nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	if err := inputfile.Regular(target, fi.Mode()); err != nil {
		if target != path {
			return "", nil, fmt.Errorf("%s: link to %w", path, err)
		}
		return "", nil, err
	}
	return target, fi, nil
}

// same reports whether the regular file at target, described by old, holds
// exactly data. The size is compared first, so a different file is not read.
func same(target string, old fs.FileInfo, data []byte) bool {
	if old.Size() != int64(len(data)) {
		return false
	}
	// Non-blocking, and checked again after opening: the file may have been
	// swapped for a FIFO since the stat.
	f, err := os.OpenFile(target, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return false
	}
	cur, err := io.ReadAll(io.LimitReader(f, int64(len(data))+1))
	return err == nil && bytes.Equal(cur, data)
}

// fill writes data into tmp, gives it the mode and owner of the file it
// replaces (old, nil for a new file) and syncs it.
func fill(tmp *os.File, data []byte, old fs.FileInfo) error {
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	mode := os.FileMode(0o640)
	if old != nil {
		mode = old.Mode().Perm()
		if st, ok := old.Sys().(*syscall.Stat_t); ok {
			if err := tmp.Chown(int(st.Uid), int(st.Gid)); err != nil && os.Geteuid() == 0 {
				return err
			}
		}
	}
	if err := tmp.Chmod(mode); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	return nil
}

// Package statefile reads and writes the files wsctl keeps as state
// (HAProxy's server-state file, the intents file and its lock, the agent's
// state, a rollout's state) without trusting the directory they live in.
//
// That directory may be writable by another user: Debian creates
// /run/haproxy, where the admin socket and by default the state live, as
// 2775 haproxy:haproxy. Whoever can write it can plant a symbolic link, a
// hard link or a file of their own under a state file's name, and root's
// next save would replace the link's target. So, unlike proxy.WriteAtomic
// (the operator's own config paths, written through links on purpose),
// every access here is relative to a descriptor of the directory and:
//
//   - never follows a symbolic link at the final component (O_NOFOLLOW,
//     and fstatat without following before anything is opened);
//   - reads or replaces only a regular file with one link, owned by the
//     effective user (or root), not writable by group or others;
//   - writes a new temp file created with O_EXCL|O_NOFOLLOW in the same
//     directory and renames it over the name within that directory, then
//     checks the name holds the file it wrote (a rename never writes
//     through a link, and a swap in between is reported, not trusted).
//     Overwrite, for a file rewritten in the path of every change,
//     instead rewrites in place a file that passed a read's checks.
//
// Directories above the final component are the operator's choice and are
// followed. A writable directory still lets its writers delete or replace
// state (wsctl then refuses the foreign file): keep state where only root
// writes, as the package's spec does (/run/wsctl).
package statefile

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/wsctl/wsctl/internal/inputfile"
)

// Read returns the contents of the state file at path, at most limit bytes.
// A missing file is an error wrapping fs.ErrNotExist. Errors start with
// path and say why: "refusing to follow symbolic link", "owned by uid 33,
// not 0", …
func Read(path string, limit int64) ([]byte, error) {
	d, err := openDir(path)
	if err != nil {
		return nil, err
	}
	defer unix.Close(d.fd)
	f, _, err := d.open(unix.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return inputfile.ReadFrom(path, f, limit)
}

// Check returns nil when the state file at path exists and Read would
// accept it, an error wrapping fs.ErrNotExist when it is missing, and the
// reason Read would refuse it otherwise. Nothing is opened.
func Check(path string) error {
	d, err := openDir(path)
	if err != nil {
		return err
	}
	defer unix.Close(d.fd)
	_, err = d.stat()
	return err
}

// Write replaces the state file at path with data, durably: the temp file
// and the directory are synced. It skips the write and returns false when
// the file already holds data. A new file gets mode 0644; a replaced one
// keeps its mode and group.
func Write(path string, data []byte) (changed bool, err error) {
	return write(path, data, true)
}

// Replace is Write without the syncs: a reader sees the old or the new
// file, never a torn one, but a host crash may lose the new one. It is for
// state worthless after a host crash (the agent's notes about a running
// HAProxy), written where an fsync's milliseconds count.
func Replace(path string, data []byte) (changed bool, err error) {
	return write(path, data, false)
}

// Lock opens the lock file at path, creating it (mode 0600), and takes an
// exclusive flock on it; closing the file releases the lock. The lock file
// is held to the same rules as a state file.
func Lock(path string) (*os.File, error) {
	d, err := openDir(path)
	if err != nil {
		return nil, err
	}
	defer unix.Close(d.fd)
	fd, err := unix.Openat(d.fd, d.name, unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, d.openError(err)
	}
	f := os.NewFile(uintptr(fd), path)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		f.Close()
		return nil, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	if err := trusted(path, &st); err != nil {
		f.Close()
		return nil, err
	}
	if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}

func write(path string, data []byte, durable bool) (changed bool, err error) {
	d, err := openDir(path)
	if err != nil {
		return false, err
	}
	defer unix.Close(d.fd)
	old, oldStat, err := d.open(unix.O_RDONLY)
	switch {
	case err == nil:
		cur, err := inputfile.ReadFrom(path, old, int64(len(data)))
		old.Close()
		if err == nil && bytes.Equal(cur, data) {
			return false, nil
		}
	case !errors.Is(err, fs.ErrNotExist):
		return false, err
	}
	tmp, tmpName, err := d.createTemp()
	if err != nil {
		return false, err
	}
	defer unix.Unlinkat(d.fd, tmpName, 0) // fails harmlessly after the rename
	var written unix.Stat_t
	err = fill(tmp, data, oldStat, durable)
	if err == nil {
		err = unix.Fstat(int(tmp.Fd()), &written)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, fmt.Errorf("write %s: %w", path, err)
	}
	if err := unix.Renameat(d.fd, tmpName, d.fd, d.name); err != nil {
		return false, fmt.Errorf("write %s: %w", path, err)
	}
	if err := d.holds(&written); err != nil {
		return false, err
	}
	if durable {
		_ = unix.Fsync(d.fd) // best effort: the rename is durable once the directory is
	}
	return true, nil
}

// fill writes data into tmp and gives it the mode and group of the file it
// replaces (old, nil for a new file).
func fill(tmp *os.File, data []byte, old *unix.Stat_t, durable bool) error {
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	mode := os.FileMode(0o644)
	if old != nil {
		mode = os.FileMode(old.Mode).Perm()
		// The owner is already ours (trusted); a group other than our
		// primary one is kept where we may set it.
		if err := tmp.Chown(-1, int(old.Gid)); err != nil && os.Geteuid() == 0 {
			return err
		}
	}
	if err := tmp.Chmod(mode); err != nil {
		return err
	}
	if durable {
		if err := tmp.Sync(); err != nil {
			return fmt.Errorf("sync: %w", err)
		}
	}
	return nil
}

// dir is the directory of a state file, open, and the file's name in it.
type dir struct {
	fd   int
	path string // the state file's whole path, for errors
	name string
}

func openDir(path string) (dir, error) {
	name := filepath.Base(path)
	if name == "." || name == ".." || name == string(filepath.Separator) {
		return dir{}, fmt.Errorf("%s: not a file name", path)
	}
	parent := filepath.Dir(path)
	fd, err := unix.Open(parent, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return dir{}, &fs.PathError{Op: "open", Path: parent, Err: err}
	}
	return dir{fd: fd, path: path, name: name}, nil
}

// open opens the state file for reading after checking it, without
// following a link and without opening anything but a regular file: the
// name is checked with fstatat first, and the open file with fstat (the
// name may have been swapped in between).
func (d dir) open(flags int) (*os.File, *unix.Stat_t, error) {
	st, err := d.stat()
	if err != nil {
		return nil, nil, err
	}
	fd, err := unix.Openat(d.fd, d.name, flags|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, d.openError(err)
	}
	f := os.NewFile(uintptr(fd), d.path)
	var now unix.Stat_t
	if err := unix.Fstat(fd, &now); err != nil {
		f.Close()
		return nil, nil, &fs.PathError{Op: "stat", Path: d.path, Err: err}
	}
	if now.Dev != st.Dev || now.Ino != st.Ino {
		f.Close()
		return nil, nil, fmt.Errorf("%s: replaced while being opened", d.path)
	}
	if err := d.trusted(&now); err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, &now, nil
}

// stat describes the state file, without following a link, if it may be
// used.
func (d dir) stat() (*unix.Stat_t, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(d.fd, d.name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: d.path, Err: err}
	}
	if err := d.trusted(&st); err != nil {
		return nil, err
	}
	return &st, nil
}

// openError explains an openat error; ELOOP under O_NOFOLLOW is a link.
func (d dir) openError(err error) error {
	if errors.Is(err, unix.ELOOP) {
		return d.trusted(&unix.Stat_t{Mode: unix.S_IFLNK})
	}
	return &fs.PathError{Op: "open", Path: d.path, Err: err}
}

// createTemp creates a new temp file beside the state file, exclusively:
// it never opens a file or follows a link another user planted.
func (d dir) createTemp() (*os.File, string, error) {
	for range 100 {
		name := "." + d.name + ".tmp-" + strconv.FormatUint(rand.Uint64(), 36)
		fd, err := unix.Openat(d.fd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if errors.Is(err, unix.EEXIST) {
			continue
		}
		if err != nil {
			return nil, "", fmt.Errorf("write %s: create a temp file: %w", d.path, err)
		}
		return os.NewFile(uintptr(fd), d.path), name, nil
	}
	return nil, "", fmt.Errorf("write %s: create a temp file: %w", d.path, unix.EEXIST)
}

// holds checks that the state file's name now holds tmp: someone who can
// write the directory could have put another file under the temp name
// before the rename.
func (d dir) holds(want *unix.Stat_t) error {
	var st unix.Stat_t
	if err := unix.Fstatat(d.fd, d.name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("write %s: %w", d.path, err)
	}
	if want.Dev != st.Dev || want.Ino != st.Ino {
		return fmt.Errorf("write %s: the temp file was replaced before the rename: another user can write %s", d.path, filepath.Dir(d.path))
	}
	return nil
}

func (d dir) trusted(st *unix.Stat_t) error {
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		target := make([]byte, 256)
		n, err := unix.Readlinkat(d.fd, d.name, target)
		to := ""
		if err == nil {
			to = " (to " + string(target[:n]) + ")"
		}
		return fmt.Errorf("%s: refusing to follow symbolic link%s: a state file must be a regular file", d.path, to)
	}
	return trusted(d.path, st)
}

// trusted returns nil when st describes a file wsctl may read or replace as
// state, else an error naming path and why.
func trusted(path string, st *unix.Stat_t) error {
	if err := inputfile.Regular(path, fileMode(st.Mode)); err != nil {
		return err
	}
	if uid := int(st.Uid); uid != os.Geteuid() && uid != 0 {
		return fmt.Errorf("%s: owned by uid %d, not %s: refusing a state file another user controls", path, uid, trustedOwners())
	}
	if perm := st.Mode & 0o7777; perm&0o022 != 0 {
		return fmt.Errorf("%s: writable by group or others (mode %04o): refusing a state file another user controls", path, perm)
	}
	if st.Nlink > 1 {
		return fmt.Errorf("%s: has %d hard links: refusing a state file that may be another file", path, st.Nlink)
	}
	return nil
}

// trustedOwners names who may own a state file: the effective user, and
// root (who could change anything the effective user trusts anyway).
func trustedOwners() string {
	if uid := os.Geteuid(); uid != 0 {
		return strconv.Itoa(uid) + " or 0"
	}
	return "0"
}

// fileMode turns a stat mode into the file type bits of fs.FileMode, for
// inputfile.Regular's messages.
func fileMode(m uint32) fs.FileMode {
	switch m & unix.S_IFMT {
	case unix.S_IFREG:
		return 0
	case unix.S_IFDIR:
		return fs.ModeDir
	case unix.S_IFLNK:
		return fs.ModeSymlink
	case unix.S_IFIFO:
		return fs.ModeNamedPipe
	case unix.S_IFSOCK:
		return fs.ModeSocket
	case unix.S_IFCHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		return fs.ModeDevice
	}
	return fs.ModeIrregular
}

package statefile

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"

	"golang.org/x/sys/unix"

	"github.com/wsctl/wsctl/internal/inputfile"
)

// Overwrite is Replace for a small file rewritten in the path of every
// change (the agent's notes before each runtime batch): the file is
// rewritten in place, after the checks Read makes, by one write of data
// padded with spaces to the file's old size, then a truncate to data. A
// process killed between the two leaves data followed by spaces, never a
// mix of old and new bytes, so Overwrite is only for formats that ignore
// trailing white space (JSON). No temp file, no rename, no sync: on ext4 the
// temp file and the rename over the old one cost about half a millisecond,
// a write in place microseconds. A host crash may tear the file, which is
// for state worthless after a host crash anyway, as Replace's is. A missing
// file is created as Replace creates it. It reports false, writing
// nothing, when the file already holds data.
func Overwrite(path string, data []byte) (changed bool, err error) {
	d, err := openDir(path)
	if err != nil {
		return false, err
	}
	f, st, err := d.open(unix.O_RDWR)
	unix.Close(d.fd)
	if errors.Is(err, fs.ErrNotExist) {
		return Replace(path, data)
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	if cur, err := inputfile.ReadFrom(path, f, int64(len(data))); err == nil && bytes.Equal(cur, data) {
		return false, nil
	}
	padded := data
	if pad := int(st.Size) - len(data); pad > 0 {
		padded = append(bytes.Clone(data), bytes.Repeat([]byte{' '}, pad)...)
	}
	if _, err := f.WriteAt(padded, 0); err != nil {
		return false, fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Truncate(int64(len(data))); err != nil {
		return false, fmt.Errorf("write %s: %w", path, err)
	}
	return true, nil
}

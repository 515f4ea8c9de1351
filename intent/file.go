package intent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/internal/inputfile"
	"github.com/wsctl/wsctl/internal/statefile"
)

// File keeps intents in a JSON file. Changes hold an exclusive lock on a
// sibling lock file and replace the file atomically, so a CLI and an agent
// writing at once lose nothing. Both are state files (package statefile):
// a link or a file another user owns in their place is refused.
type File struct{ path string }

// NewFile returns the store at path (created on the first Put).
func NewFile(path string) *File { return &File{path: path} }

// Where returns the file's path.
func (f *File) Where() string { return f.path }

// Load reads the file; a missing file holds no intents.
func (f *File) Load(context.Context) (map[haproxy.Ref]Intent, error) {
	out := map[haproxy.Ref]Intent{}
	b, err := statefile.Read(f.path, inputfile.MaxConfig)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("intent: %w", err)
	}
	var list []Intent
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("intent: %s: %w", f.path, err)
	}
	for _, i := range list {
		if i.Validate() == nil {
			out[i.Ref()] = i
		}
	}
	return out, nil
}

// Put records i.
func (f *File) Put(ctx context.Context, i Intent) error {
	if err := i.Validate(); err != nil {
		return err
	}
	return f.update(ctx, func(m map[haproxy.Ref]Intent) { m[i.Ref()] = i })
}

// Delete forgets ref's intent.
func (f *File) Delete(ctx context.Context, ref haproxy.Ref) error {
	return f.update(ctx, func(m map[haproxy.Ref]Intent) { delete(m, ref) })
}

func (f *File) update(ctx context.Context, change func(map[haproxy.Ref]Intent)) error {
	lock, err := statefile.Lock(f.path + ".lock")
	if err != nil {
		return fmt.Errorf("intent: %w", err)
	}
	defer lock.Close()
	m, err := f.Load(ctx)
	if err != nil {
		return err
	}
	change(m)
	list := make([]Intent, 0, len(m))
	for _, i := range m {
		list = append(list, i)
	}
	sort.Slice(list, func(a, b int) bool { return list[a].Ref().String() < list[b].Ref().String() })
	b, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return fmt.Errorf("intent: %w", err)
	}
	if _, err := statefile.Write(f.path, append(b, '\n')); err != nil {
		return fmt.Errorf("intent: %w", err)
	}
	return nil
}

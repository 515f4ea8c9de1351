package bench

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// resultsHeader opens a RESULTS.md written from scratch.
const resultsHeader = "# wsctl benchmarks\n\n" +
	"Written by `make bench` (`go test ./bench -bench-full`); every section is replaced\n" +
	"by the run of its scenario. Figures are medians over the repeats of that run unless\n" +
	"said otherwise; the machine is shared and noisy, so compare figures of one run.\n"

// UpdateSection replaces the section called name in the markdown file at
// path with body, or appends it; the rest of the file is kept. A missing
// file is created with a header.
func UpdateSection(path, name, body string) error {
	begin := fmt.Sprintf("<!-- section %s -->\n", name)
	end := fmt.Sprintf("<!-- end %s -->\n", name)
	old, err := os.ReadFile(path)
	switch {
	case os.IsNotExist(err):
		old = []byte(resultsHeader)
	case err != nil:
		return fmt.Errorf("bench: results: %w", err)
	}
	section := begin + strings.TrimRight(body, "\n") + "\n" + end
	var out []byte
	i := bytes.Index(old, []byte(begin))
	j := bytes.Index(old, []byte(end))
	if i >= 0 && j > i {
		out = slices.Concat(old[:i], []byte(section), old[j+len(end):])
	} else {
		out = slices.Concat(bytes.TrimRight(old, "\n"), []byte("\n\n"), []byte(section))
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".results-*")
	if err != nil {
		return fmt.Errorf("bench: results: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(out); err != nil {
		tmp.Close()
		return fmt.Errorf("bench: results: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("bench: results: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("bench: results: %w", err)
	}
	return nil
}

// Median returns the median of xs (the mean of the middle two for an even
// count), or 0 for none.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

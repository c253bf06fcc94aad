package source

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
)

// The loose-object estimate samples objects/17 as git's gc --auto does at
// git's threshold (27 objects there: 6912 > 6700; 26: 6656, not more), and
// counts every fan-out directory at a small threshold.
func TestLooseEstimate(t *testing.T) {
	t.Parallel()
	fill := func(t *testing.T, counts map[string]int) string {
		t.Helper()
		objDir := t.TempDir()
		for fan, n := range counts {
			d := filepath.Join(objDir, fan)
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
			for i := range n {
				if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("%038x", i)), nil, 0o444); err != nil {
					t.Fatal(err)
				}
			}
		}
		// Not objects: a temporary file, a pack directory.
		if err := os.WriteFile(filepath.Join(objDir, "17", "tmp_obj_x"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		return objDir
	}
	for _, tc := range []struct {
		name      string
		counts    map[string]int
		threshold int
		want      int
	}{
		{"git's sample, above", map[string]int{"17": 27, "00": 500}, DefaultGCAuto, 6912},
		{"git's sample, below", map[string]int{"17": 26, "ff": 500}, DefaultGCAuto, 6656},
		{"small threshold, exact", map[string]int{"17": 1, "00": 5, "ff": 15}, 20, 21},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := looseEstimate(fill(t, tc.counts), tc.threshold)
			if err != nil || got != tc.want {
				t.Errorf("looseEstimate(threshold %d) = %d, %v; want %d", tc.threshold, got, err, tc.want)
			}
		})
	}
}

// BenchmarkPackLoose packs 5,000 loose objects, what the loose objects of
// about 1,700 small fetches would be: versions of 50 text files of 4 KiB,
// each a line apart from the previous, so the encoder finds deltas.
// go test ./source -run X -bench PackLoose -benchtime 5x
func BenchmarkPackLoose(b *testing.B) {
	const files, versions = 50, 100
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		st, packDir := newStorage(b)
		for f := range files {
			lines := make([]string, 64)
			for i := range lines {
				lines[i] = fmt.Sprintf("file %d line %d: some text of a source file, long enough", f, i)
			}
			for v := range versions {
				lines[v%len(lines)] = fmt.Sprintf("file %d version %d", f, v)
				obj := st.NewEncodedObject()
				obj.SetType(plumbing.BlobObject)
				content := []byte(strings.Join(lines, "\n"))
				obj.SetSize(int64(len(content)))
				if err := writeObject(obj, content); err != nil {
					b.Fatal(err)
				}
				if _, err := st.SetEncodedObject(obj); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.StartTimer()
		stats, err := packLoose(st, packDir)
		if err != nil || stats.removed != files*versions {
			b.Fatalf("packLoose: %+v, %v; want %d removed", stats, err, files*versions)
		}
	}
}

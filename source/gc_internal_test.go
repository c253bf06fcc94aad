package source

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage/filesystem"
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

// storeBlob writes content into st as a loose blob.
func storeBlob(t testing.TB, st *filesystem.Storage, content []byte) plumbing.Hash {
	t.Helper()
	obj := st.NewEncodedObject()
	obj.SetType(plumbing.BlobObject)
	obj.SetSize(int64(len(content)))
	if err := writeObject(obj, content); err != nil {
		t.Fatal(err)
	}
	h, err := st.SetEncodedObject(obj)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Loose objects over largeObject go into a pack of their own, written
// without a delta search (which would read them whole); every object reads
// back as it was, and none is left loose.
func TestPackLooseLargeObjects(t *testing.T) {
	t.Parallel()
	st, packDir := newStorage(t)
	want := map[plumbing.Hash]string{}
	for i := range 5 {
		c := strings.Repeat(fmt.Sprintf("small blob %d\n", i), 100)
		want[storeBlob(t, st, []byte(c))] = c
	}
	big := []byte(strings.Repeat("a line of the large blob, written loose from a thin pack\n", largeObject/40))
	want[storeBlob(t, st, big)] = string(big)

	stats, err := packLoose(st, packDir)
	if err != nil || stats.loose != 6 || stats.removed != 6 || len(stats.packs) != 2 {
		t.Fatalf("packLoose = %+v, %v; want 6 loose objects removed into 2 packs", stats, err)
	}
	fresh := filesystem.NewStorage(osfs.New(filepath.Dir(filepath.Dir(packDir))), cache.NewObjectLRUDefault())
	defer fresh.Close()
	if err := fresh.ForEachObjectHash(func(h plumbing.Hash) error { return fmt.Errorf("object %s is still loose", h) }); err != nil {
		t.Error(err)
	}
	for h, content := range want {
		obj, err := fresh.EncodedObject(plumbing.AnyObject, h)
		if err != nil {
			t.Fatalf("object %s after packing: %v", h, err)
		}
		got, err := readAll(obj)
		if err != nil || string(got) != content {
			t.Errorf("object %s after packing: %d bytes (%v), want %d", h, len(got), err, len(content))
		}
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
				storeBlob(b, st, []byte(strings.Join(lines, "\n")))
			}
		}
		b.StartTimer()
		stats, err := packLoose(st, packDir)
		if err != nil || stats.removed != files*versions {
			b.Fatalf("packLoose: %+v, %v; want %d removed", stats, err, files*versions)
		}
	}
}

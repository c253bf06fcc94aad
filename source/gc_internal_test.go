package source

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/google/go-cmp/cmp"
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

// expireRefs deletes the refs older than its limit but the newest ref, and
// leaves lock files and directories.
func TestExpireRefs(t *testing.T) {
	t.Parallel()
	now := time.Now()
	for _, tc := range []struct {
		name string
		ages map[string]time.Duration // ref path -> age
		want []string                 // refs left
	}{
		{"old ones go", map[string]time.Duration{"heads/a": time.Hour, "remotes/origin/b": 100 * 24 * time.Hour, "pull/1/head": 91 * 24 * time.Hour, "tags/v1": 89 * 24 * time.Hour},
			[]string{"heads/a", "tags/v1"}},
		{"the newest stays", map[string]time.Duration{"heads/a": 200 * 24 * time.Hour, "heads/b": 100 * 24 * time.Hour, "heads/b.lock": 300 * 24 * time.Hour},
			[]string{"heads/b", "heads/b.lock"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, age := range tc.ages {
				p := filepath.Join(dir, "refs", filepath.FromSlash(name))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(strings.Repeat("a", 40)+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Chtimes(p, now.Add(-age), now.Add(-age)); err != nil {
					t.Fatal(err)
				}
			}
			n, err := expireRefs(dir, now.Add(-90*24*time.Hour))
			if err != nil || n != len(tc.ages)-len(tc.want) {
				t.Errorf("expireRefs = %d, %v; want %d deleted", n, err, len(tc.ages)-len(tc.want))
			}
			var left []string
			filepath.WalkDir(filepath.Join(dir, "refs"), func(p string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					rel, _ := filepath.Rel(filepath.Join(dir, "refs"), p)
					left = append(left, filepath.ToSlash(rel))
				}
				return err
			})
			slices.Sort(left)
			if diff := cmp.Diff(tc.want, left); diff != "" {
				t.Errorf("refs left (-want +got):\n%s", diff)
			}
		})
	}
}

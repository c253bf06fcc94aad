package source

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/google/go-cmp/cmp"

	"github.com/slipwayci/slipway/source/gitfixture"
)

// gitOut runs git in dir with stdin and returns its raw stdout.
func gitOut(t *testing.T, dir string, stdin string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
	cmd.Stdin = strings.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// deltaRepo returns a fixture whose history git stores as deltas: versions
// of one text file, each a few lines apart, and the commits of two of them.
func deltaRepo(t *testing.T) (fx *gitfixture.Repo, old, head string) {
	t.Helper()
	fx = gitfixture.New(t)
	var lines []string
	for i := range 3000 {
		lines = append(lines, fmt.Sprintf("line %d of a file long enough to be worth a delta", i))
	}
	var commits []string
	for v := range 6 {
		lines[v*400] = fmt.Sprintf("version %d", v)
		commits = append(commits, fx.Commit(t, "main", map[string]string{
			"app.txt":        strings.Join(lines, "\n"),
			"dir/static.txt": "unchanged",
		}, fmt.Sprintf("v%d", v)))
	}
	fx.Git(t, "repack", "-adfq")
	return fx, commits[2], commits[len(commits)-1]
}

// newStorage opens an empty bare repository's storage in a temp dir.
func newStorage(t testing.TB) (*filesystem.Storage, string) {
	t.Helper()
	dir := t.TempDir()
	st := filesystem.NewStorageWithOptions(osfs.New(dir), cache.NewObjectLRUDefault(),
		filesystem.Options{LargeObjectThreshold: largeObject})
	t.Cleanup(func() { st.Close() })
	return st, filepath.Join(dir, "objects", "pack")
}

// receive writes pack through a packWriter, as go-git's fetch does.
func receive(t *testing.T, st *filesystem.Storage, packDir string, pack []byte) error {
	t.Helper()
	return receiveInto(t, fetchStorage{Storage: st, packDir: packDir}, pack)
}

// receiveInto is receive into fs.
func receiveInto(t *testing.T, fs fetchStorage, pack []byte) error {
	t.Helper()
	w, err := fs.PackfileWriter()
	if err != nil {
		t.Fatal(err)
	}
	// Odd-sized writes, so objects straddle them.
	var werr error
	for rest := pack; len(rest) > 0 && werr == nil; {
		n := min(len(rest), 1000+rand.IntN(5000))
		_, werr = w.Write(rest[:n])
		rest = rest[n:]
	}
	cerr := w.Close()
	return errors.Join(werr, cerr)
}

// checkObjects reads every object of the revisions from st and checks that
// its content hashes to its name.
func checkObjects(t *testing.T, st *filesystem.Storage, fx *gitfixture.Repo, revs string) {
	t.Helper()
	list := gitOut(t, fx.Dir, "", "rev-list", "--objects", revs)
	n := 0
	for line := range strings.Lines(string(list)) {
		h := plumbing.NewHash(strings.Fields(line)[0])
		obj, err := st.EncodedObject(plumbing.AnyObject, h)
		if err != nil {
			t.Errorf("object %s: %v", h, err)
			continue
		}
		content, err := readAll(obj)
		if err != nil {
			t.Errorf("read object %s: %v", h, err)
			continue
		}
		if got := plumbing.ComputeHash(obj.Type(), content); got != h {
			t.Errorf("object %s reads back as %s", h, got)
		}
		n++
	}
	if n == 0 {
		t.Fatalf("rev-list %s listed no object", revs)
	}
}

// packFiles lists the files of the pack directory.
func packFiles(t *testing.T, packDir string) []string {
	t.Helper()
	entries, err := os.ReadDir(packDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestPackWriterIndexesLikeGit(t *testing.T) {
	t.Parallel()
	fx, _, head := deltaRepo(t)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"ofs deltas", []string{"--delta-base-offset"}},
		{"ref deltas", nil},
		{"no deltas", []string{"--depth=0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"pack-objects", "--stdout", "--revs", "-q"}, tc.args...)
			pack := gitOut(t, fx.Dir, head+"\n", args...)
			st, packDir := newStorage(t)
			if err := receive(t, st, packDir, pack); err != nil {
				t.Fatal(err)
			}
			names := packFiles(t, packDir)
			if len(names) != 2 || !strings.HasSuffix(names[0], ".idx") || !strings.HasSuffix(names[1], ".pack") {
				t.Fatalf("pack dir holds %v, want one .idx and one .pack", names)
			}
			base := strings.TrimSuffix(names[1], ".pack")
			got, err := os.ReadFile(filepath.Join(packDir, base+".pack"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, pack) {
				t.Fatalf("stored pack differs from the received one")
			}
			// git's own index of the same pack, byte for byte.
			ref := filepath.Join(t.TempDir(), "ref.pack")
			if err := os.WriteFile(ref, pack, 0o644); err != nil {
				t.Fatal(err)
			}
			gitOut(t, fx.Dir, "", "index-pack", ref)
			want, err := os.ReadFile(strings.TrimSuffix(ref, ".pack") + ".idx")
			if err != nil {
				t.Fatal(err)
			}
			idx, err := os.ReadFile(filepath.Join(packDir, base+".idx"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(idx, want) {
				t.Errorf("index differs from git index-pack's (%d bytes, want %d)", len(idx), len(want))
			}
			checkObjects(t, st, fx, head)
		})
	}
}

func TestPackWriterStoresSmallPacksLoose(t *testing.T) {
	t.Parallel()
	fx, _, head := deltaRepo(t)
	many := map[string]string{}
	for i := range unpackLimit {
		many[fmt.Sprintf("many/%03d.txt", i)] = fmt.Sprintf("file %d\n", i)
	}
	big := fx.Commit(t, "main", many, "many files")
	// A small pack of an object that inflates past unpackMaxBytes.
	zeros := fx.Commit(t, "main", map[string]string{"zeros": strings.Repeat("0", unpackMaxBytes+1)}, "zeros")
	for _, tc := range []struct {
		name     string
		revs     string // pack-objects' stdin
		rng      string // the same, as one rev-list argument
		wantPack bool
	}{
		{"fewer objects than the limit, with deltas: loose", head, head, false},
		{"as many objects as the limit: kept as a pack", big + "\n^" + head, head + ".." + big, true},
		{"an object larger than unpackMaxBytes: kept as a pack", zeros + "\n^" + big, big + ".." + zeros, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pack := gitOut(t, fx.Dir, tc.revs+"\n", "pack-objects", "--stdout", "--revs", "-q", "--delta-base-offset")
			st, packDir := newStorage(t)
			if err := receiveInto(t, fetchStorage{Storage: st, packDir: packDir, unpack: true}, pack); err != nil {
				t.Fatal(err)
			}
			names := packFiles(t, packDir)
			if got := len(names) == 2; got != tc.wantPack {
				t.Fatalf("pack dir holds %v, want a pack: %v", names, tc.wantPack)
			}
			if !tc.wantPack && len(names) != 0 {
				t.Errorf("pack dir holds %v, want nothing", names)
			}
			loose, err := filepath.Glob(filepath.Join(filepath.Dir(packDir), "??", "*"))
			if err != nil {
				t.Fatal(err)
			}
			objects := len(strings.Split(strings.TrimSpace(string(gitOut(t, fx.Dir, tc.revs+"\n", "rev-list", "--objects", "--stdin"))), "\n"))
			if want := map[bool]int{false: objects, true: 0}[tc.wantPack]; len(loose) != want {
				t.Errorf("%d loose objects, want %d", len(loose), want)
			}
			checkObjects(t, st, fx, tc.rng)
		})
	}
}

func TestPackWriterThinPack(t *testing.T) {
	t.Parallel()
	fx, old, head := deltaRepo(t)
	st, packDir := newStorage(t)
	full := gitOut(t, fx.Dir, old+"\n", "pack-objects", "--stdout", "--revs", "-q", "--delta-base-offset")
	if err := receive(t, st, packDir, full); err != nil {
		t.Fatal(err)
	}
	checkObjects(t, st, fx, old) // also loads the storage's pack index
	thin := gitOut(t, fx.Dir, head+"\n^"+old+"\n", "pack-objects", "--stdout", "--revs", "-q", "--thin", "--delta-base-offset")
	if err := receive(t, st, packDir, thin); err != nil {
		t.Fatal(err)
	}
	checkObjects(t, st, fx, head)
	// The thin pack's deltas on outside bases are stored as loose objects.
	loose, err := filepath.Glob(filepath.Join(filepath.Dir(packDir), "??", "*"))
	if err != nil || len(loose) == 0 {
		t.Errorf("no loose object after a thin pack (%v): was the pack really thin?", err)
	}
}

func TestPackWriterRefusesBadPacks(t *testing.T) {
	t.Parallel()
	fx, _, head := deltaRepo(t)
	pack := gitOut(t, fx.Dir, head+"\n", "pack-objects", "--stdout", "--revs", "-q", "--delta-base-offset")
	flip := func(i int) []byte {
		b := bytes.Clone(pack)
		b[i] ^= 0xff
		return b
	}
	for _, tc := range []struct {
		name string
		pack []byte
	}{
		{"truncated", pack[:len(pack)/2]},
		{"no checksum", pack[:len(pack)-20]},
		{"bad checksum", flip(len(pack) - 1)},
		{"corrupt object", flip(len(pack) / 2)},
		{"junk after the pack", append(bytes.Clone(pack), "junk"...)},
		{"bad signature", flip(0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st, packDir := newStorage(t)
			if err := receive(t, st, packDir, tc.pack); err == nil {
				t.Error("receive succeeded, want an error")
			}
			if names := packFiles(t, packDir); len(names) != 0 {
				t.Errorf("a refused pack left %v behind", names)
			}
		})
	}
	t.Run("empty", func(t *testing.T) {
		t.Parallel()
		st, packDir := newStorage(t)
		if err := receive(t, st, packDir, nil); err != nil {
			t.Errorf("receive of nothing: %v, want nil", err)
		}
		if names := packFiles(t, packDir); len(names) != 0 {
			t.Errorf("nothing received left %v behind", names)
		}
	})
	t.Run("malformed is ErrMalformedPackFile", func(t *testing.T) {
		t.Parallel()
		st, packDir := newStorage(t)
		if err := receive(t, st, packDir, pack[:len(pack)-20]); !errors.Is(err, packfile.ErrMalformedPackFile) {
			t.Errorf("error = %v, want ErrMalformedPackFile", err)
		}
	})
}

// TestCheckoutLargeBlobMemory fetches and checks out a repository with one
// large blob and checks that the heap never grows anywhere near its size
// (go-git's own pack indexer held the whole blob). Not parallel: the heap is
// the process's.
func TestCheckoutLargeBlobMemory(t *testing.T) {
	const size = 32 << 20
	fx := gitfixture.New(t)
	fx.Git(t, "config", "core.compression", "0") // quick to write, and to serve
	f, err := os.Create(filepath.Join(fx.Dir, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, io.LimitReader(rand.NewChaCha8([32]byte{}), size)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	head := fx.Commit(t, "main", map[string]string{"Dockerfile": "FROM scratch\n"}, "big")

	c, err := NewCache(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	peak := base
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var ms runtime.MemStats
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	co, err := c.Checkout(t.Context(), Request{Project: "p", URL: fx.URL(), Ref: "main"})
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	defer co.Close()
	if co.Commit != head {
		t.Errorf("checked out %s, want %s", co.Commit, head)
	}
	fi, err := os.Stat(filepath.Join(co.Dir, "big.bin"))
	if err != nil || fi.Size() != size {
		t.Fatalf("big.bin in the work tree: %v, %v; want %d bytes", fi, err, size)
	}
	grew := int64(peak) - int64(base)
	t.Logf("heap grew by %d KiB during the checkout of a %d MiB blob", grew>>10, size>>20)
	if grew > size/3 {
		t.Errorf("heap grew by %d MiB during the checkout of a %d MiB blob; want it to stream", grew>>20, size>>20)
	}
	if diff := cmp.Diff([]string{"Dockerfile", "big.bin"}, dirNames(t, co.Dir)); diff != "" {
		t.Errorf("work tree (-want +got):\n%s", diff)
	}
}

// dirNames lists dir.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

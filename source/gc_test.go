package source_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"github.com/slipwayci/slipway/source"
	"github.com/slipwayci/slipway/source/gitfixture"
)

// cacheObjects counts the loose objects and lists the packs of a project's
// cache.
func cacheObjects(t *testing.T, repoDir string) (loose int, packs []string) {
	t.Helper()
	objDir := filepath.Join(repoDir, "objects")
	err := filepath.WalkDir(objDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != objDir && filepath.Base(filepath.Dir(p)) == "objects" && len(d.Name()) != 2 {
			return filepath.SkipDir // pack, info
		}
		if !d.IsDir() {
			loose++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	packs, err = filepath.Glob(filepath.Join(objDir, "pack", "*.pack"))
	if err != nil {
		t.Fatal(err)
	}
	return loose, packs
}

// fixtureTree returns the files of commit in the fixture repository as git
// itself writes them (git archive, unpacked by tar), read as readTree does.
func fixtureTree(t *testing.T, fx *gitfixture.Repo, commit string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("sh", "-c", `git -C "$1" archive --format=tar "$2" | tar -x -C "$3"`, "sh", fx.Dir, commit, dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git archive %s: %v\n%s", commit, err, out)
	}
	return readTree(t, dir)
}

// fsck runs git fsck over the cache: every object reachable from its refs
// is there and every pack is sound.
func fsck(t *testing.T, repoDir string) {
	t.Helper()
	if out, err := exec.Command("git", "--git-dir", repoDir, "fsck", "--full", "--strict", "--no-dangling").CombinedOutput(); err != nil {
		t.Fatalf("git fsck of the cache: %v\n%s", err, out)
	}
}

// Loose objects left by small fetches are packed once there are more than
// Options.GCAuto of them, as git's gc --auto does: fetches below the
// threshold leave them alone, the one that passes it leaves none loose and
// one more pack, and every commit fetched before checks out as it was.
func TestCheckoutPacksLooseObjects(t *testing.T) {
	t.Parallel()
	const threshold = 20
	fx := gitfixture.New(t)
	fx.Commit(t, "main", map[string]string{"a": "0"}, "zero")
	dir := t.TempDir()
	repoDir := filepath.Join(dir, "p")
	c := newCache(t, source.Options{Dir: dir, GCAuto: threshold})
	req := source.Request{Project: "p", URL: fx.URL(), Ref: "main"}
	commits := []string{checkout(t, c, req).Commit}
	loose, packs := cacheObjects(t, repoDir)
	if loose != 0 || len(packs) != 1 {
		t.Fatalf("after the clone: %d loose objects, packs %v; want none loose, one pack", loose, packs)
	}

	var logs bytes.Buffer
	ctx := zerolog.New(&logs).WithContext(t.Context())
	var leftAlone, packed int
	for i := 1; i <= 15; i++ {
		// A commit, its tree and a new blob: 3 objects.
		head := fx.Commit(t, "main", map[string]string{fmt.Sprintf("f%02d", i): fmt.Sprint("content ", i)}, fmt.Sprint("commit ", i))
		commits = append(commits, head)
		co, err := c.Checkout(ctx, req)
		if err != nil {
			t.Fatalf("fetch %d: %v", i, err)
		}
		co.Close()
		if co.Commit != head {
			t.Fatalf("fetch %d checked out %s, want %s", i, co.Commit, head)
		}
		prevLoose, prevPacks := loose, len(packs)
		loose, packs = cacheObjects(t, repoDir)
		switch {
		case loose == prevLoose+3 && len(packs) == prevPacks && loose <= threshold:
			leftAlone++
		case loose == 0 && len(packs) == prevPacks+1 && prevLoose+3 > threshold:
			packed++
		default:
			t.Fatalf("fetch %d (threshold %d): %d loose objects and %d packs before, %d and %d after; want 3 more loose objects while at most %d, else none loose and one more pack",
				i, threshold, prevLoose, prevPacks, loose, len(packs), threshold)
		}
	}
	if leftAlone == 0 || packed != 2 {
		t.Errorf("15 fetches of 3 objects over threshold %d: %d left their objects loose, %d packed them; want some and 2", threshold, leftAlone, packed)
	}
	// One line per packing, with its counts and duration.
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if m["message"] == "git cache: packed loose objects" {
			lines = append(lines, m)
		}
	}
	if len(lines) != 2 {
		t.Errorf("log: %d lines about packing, want 2:\n%s", len(lines), logs.String())
	}
	for _, m := range lines {
		n, _ := m["loose_objects"].(float64)
		if n <= threshold || m["removed"] != n || m["project"] != "p" || m["duration"] == nil {
			t.Errorf("log line %v: want project p, more than %d loose_objects, all removed, a duration", m, threshold)
		}
	}
	fsck(t, repoDir)

	for _, commit := range commits {
		co := checkout(t, c, source.Request{Project: "p", URL: fx.URL(), Ref: "main", Commit: commit})
		if diff := cmp.Diff(fixtureTree(t, fx, commit), readTree(t, co.Dir)); diff != "" {
			t.Errorf("checkout of %s after packing differs from the fixture (-want +got):\n%s", commit, diff)
		}
	}
}

// Packing runs under the project's lock: a checkout running beside the
// fetches that pack the cache always reads a whole store (run with -race).
func TestCheckoutPackingBesideCheckouts(t *testing.T) {
	t.Parallel()
	const branches = 12
	repoDir := checkoutsBesideFetches(t, t.Context(), source.Options{GCAuto: 10}, branches)
	loose, packs := cacheObjects(t, repoDir)
	if len(packs) < 2 {
		t.Errorf("after %d fetches of 3 objects over threshold 10: %d packs (%d loose objects), want the cache packed at least once", branches, len(packs), loose)
	}
	fsck(t, repoDir)
}

// checkoutsBesideFetches runs, at once, fetches of n new branches into a
// cache with opts (each a small fetch, so that the cache is maintained on
// the way) and n checkouts of main's first commit, which must each read
// the whole tree. It returns the project's cache.
func checkoutsBesideFetches(t *testing.T, ctx context.Context, opts source.Options, n int) string {
	t.Helper()
	fx := gitfixture.New(t)
	base := fx.Commit(t, "main", map[string]string{"a": "0", "dir/b": "b"}, "zero")
	opts.Dir = t.TempDir()
	c := newCache(t, opts)
	checkout(t, c, source.Request{Project: "p", URL: fx.URL(), Ref: "main"})
	heads := make([]string, n)
	for i := range heads {
		fx.Git(t, "checkout", "-q", "main")
		heads[i] = fx.Commit(t, fmt.Sprint("b", i), map[string]string{"b": fmt.Sprint(i)}, fmt.Sprint("branch ", i))
	}
	want := fixtureTree(t, fx, base)

	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i, head := range heads {
			co, err := c.Checkout(ctx, source.Request{Project: "p", URL: fx.URL(), Ref: fmt.Sprint("b", i)})
			if err != nil {
				errs <- err
				continue
			}
			if co.Commit != head {
				errs <- fmt.Errorf("branch b%d checked out %s, want %s", i, co.Commit, head)
			}
			co.Close()
		}
	}()
	go func() {
		defer wg.Done()
		for range n {
			co, err := c.Checkout(ctx, source.Request{Project: "p", URL: fx.URL(), Ref: "main", Commit: base})
			if err != nil {
				errs <- err
				continue
			}
			got := map[string]string{}
			for name := range want {
				b, err := os.ReadFile(filepath.Join(co.Dir, name))
				if err != nil {
					errs <- err
				}
				got[name] = string(b)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				errs <- fmt.Errorf("main at %s beside the fetches differs (-want +got):\n%s", base, diff)
			}
			co.Close()
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	return filepath.Join(opts.Dir, "p")
}

// The fetch of a push's changed files (path filters) stores a small push
// loose, as the build's fetch does: a filtered project's cache does not
// gain a pack per push either.
func TestChangedFilesAddsNoPacks(t *testing.T) {
	t.Parallel()
	fx := gitfixture.New(t)
	before := fx.Commit(t, "main", map[string]string{"a": "0"}, "zero")
	dir := t.TempDir()
	repoDir := filepath.Join(dir, "p")
	c := newCache(t, source.Options{Dir: dir})
	checkout(t, c, source.Request{Project: "p", URL: fx.URL(), Ref: "main"})
	_, cloned := cacheObjects(t, repoDir)
	for i := 1; i <= 3; i++ {
		after := fx.Commit(t, "main", map[string]string{"docs/a.md": fmt.Sprint(i)}, "docs")
		got, err := c.ChangedFiles(t.Context(), source.ChangesRequest{Project: "p", URL: fx.URL(), Ref: "refs/heads/main",
			Before: before, After: after, DefaultBranch: "refs/heads/main"})
		if err != nil || !cmp.Equal(got.Files, []string{"docs/a.md"}) {
			t.Fatalf("push %d: ChangedFiles = %v, %v; want docs/a.md", i, got, err)
		}
		before = after
	}
	loose, packs := cacheObjects(t, repoDir)
	if loose == 0 || !cmp.Equal(packs, cloned) {
		t.Errorf("after 3 pushes whose changed files were read: %d loose objects, packs %v; want some loose, only the clone's %v", loose, packs, cloned)
	}
}

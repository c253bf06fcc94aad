package source_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/slipwayci/slipway/source"
	"github.com/slipwayci/slipway/source/gitfixture"
)

// addSubmodule pins path in r's branch main to commit of the repository at
// url (as written in .gitmodules) and returns the new commit.
func addSubmodule(t *testing.T, r *gitfixture.Repo, path, url, commit string) string {
	t.Helper()
	gitmodules := fmt.Sprintf("[submodule %q]\n\tpath = %s\n\turl = %s\n", path, path, url)
	r.Commit(t, "main", map[string]string{".gitmodules": gitmodules}, "gitmodules")
	r.Git(t, "update-index", "--add", "--cacheinfo", "160000,"+commit+","+path)
	r.Git(t, "commit", "-q", "-m", "add submodule "+path)
	return r.Git(t, "rev-parse", "HEAD")
}

// TestCheckoutSubmodules: with Submodules, a submodule (and its own
// submodule, by a relative URL) is checked out at the pinned commit, not its
// branch's newer head; without, it stays an empty directory.
func TestCheckoutSubmodules(t *testing.T) {
	t.Parallel()
	inner := gitfixture.New(t)
	innerPinned := inner.Commit(t, "main", map[string]string{"inner.txt": "inner"}, "inner")
	lib := gitfixture.New(t)
	lib.Commit(t, "main", map[string]string{"lib.txt": "pinned", "dir/a.txt": "a"}, "lib one")
	rel, err := filepath.Rel(lib.Dir, inner.Dir)
	if err != nil {
		t.Fatal(err)
	}
	libPinned := addSubmodule(t, lib, "third_party/inner", filepath.ToSlash(rel), innerPinned)
	lib.Commit(t, "main", map[string]string{"lib.txt": "newer, not pinned"}, "lib two")
	fx := gitfixture.New(t)
	fx.Commit(t, "main", map[string]string{"main.txt": "main"}, "init")
	addSubmodule(t, fx, "vendor/lib", lib.URL(), libPinned)

	c := newCache(t, source.Options{})
	co := checkout(t, c, source.Request{Project: "p", URL: fx.URL(), Ref: "main", Submodules: true})
	got := readTree(t, co.Dir)
	for file, want := range map[string]string{
		"main.txt":                               "main",
		"vendor/lib/lib.txt":                     "pinned",
		"vendor/lib/dir/a.txt":                   "a",
		"vendor/lib/third_party/inner/inner.txt": "inner",
	} {
		if got[file] != want {
			t.Errorf("%s = %q, want %q (tree %v)", file, got[file], want, got)
		}
	}

	plain := checkout(t, c, source.Request{Project: "p", URL: fx.URL(), Ref: "main"})
	if entries, err := os.ReadDir(filepath.Join(plain.Dir, "vendor", "lib")); err != nil || len(entries) != 0 {
		t.Errorf("without submodules vendor/lib holds %v (error %v), want an empty directory", entries, err)
	}

	t.Run("the submodule's files count against the limits", func(t *testing.T) {
		// main.txt, .gitmodules, vendor, vendor/lib fit; the submodule's
		// entries do not.
		c := newCache(t, source.Options{MaxFiles: 6})
		_, err := c.Checkout(t.Context(), source.Request{Project: "p", URL: fx.URL(), Ref: "main", Submodules: true})
		if !errors.Is(err, source.ErrTooLarge) {
			t.Fatalf("Checkout = %v, want ErrTooLarge", err)
		}
		if _, err := c.Checkout(t.Context(), source.Request{Project: "p", URL: fx.URL(), Ref: "main"}); err != nil {
			t.Fatalf("the same limits without submodules: %v", err)
		}
	})

	t.Run("no file:// submodule under an http repository", func(t *testing.T) {
		c := newCache(t, source.Options{})
		_, err := c.Checkout(t.Context(), source.Request{Project: "p", URL: fx.ServeHTTP(t, "", ""), Ref: "main", Submodules: true})
		if !errors.Is(err, source.ErrUnsafePath) {
			t.Fatalf("Checkout = %v, want ErrUnsafePath", err)
		}
	})

	t.Run("a gitlink without .gitmodules entry", func(t *testing.T) {
		bad := gitfixture.New(t)
		bad.Commit(t, "main", map[string]string{"a": "a"}, "init")
		bad.Git(t, "update-index", "--add", "--cacheinfo", "160000,"+innerPinned+",orphan")
		bad.Git(t, "commit", "-q", "-m", "orphan gitlink")
		_, err := newCache(t, source.Options{}).Checkout(t.Context(), source.Request{Project: "p", URL: bad.URL(), Ref: "main", Submodules: true})
		if err == nil {
			t.Fatal("Checkout of a gitlink with no url succeeded")
		}
	})
}

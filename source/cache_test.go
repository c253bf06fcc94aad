package source_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha1"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/ssh"

	"github.com/slipwayci/slipway/source"
	"github.com/slipwayci/slipway/source/gitfixture"
)

// newCache returns a Cache in a fresh directory with opts' limits.
func newCache(t *testing.T, opts source.Options) *source.Cache {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	c, err := source.NewCache(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkout runs Checkout and registers Close.
func checkout(t *testing.T, c *source.Cache, req source.Request) *source.Checkout {
	t.Helper()
	co, err := c.Checkout(t.Context(), req)
	if err != nil {
		t.Fatalf("Checkout(%s %s %s): %v", req.URL, req.Ref, req.Commit, err)
	}
	t.Cleanup(func() { co.Close() })
	return co
}

// readTree returns every file and symlink under dir: slash path -> content
// (or "-> target" for a symlink).
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.Type()&fs.ModeSymlink != 0 {
			target, err := os.Readlink(p)
			got[filepath.ToSlash(rel)] = "-> " + target
			return err
		}
		b, err := os.ReadFile(p)
		got[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestCheckoutCloneThenFetch(t *testing.T) {
	t.Parallel()
	fx := gitfixture.New(t)
	fx.Commit(t, "main", map[string]string{"a.txt": "one\n", "dir/b.txt": "two\n"}, "first")
	fx.CommitSymlink(t, "main", "dir/link", "../a.txt", "link")
	script := filepath.Join(t.TempDir(), "run.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c1 := fx.CommitFile(t, "main", "bin/run.sh", script, 0o755, "add script")

	dir := t.TempDir()
	c := newCache(t, source.Options{Dir: dir})
	req := source.Request{Project: "web", URL: fx.URL(), Ref: "main"}
	co := checkout(t, c, req)

	if diff := cmp.Diff(checkoutMeta{Commit: c1, Ref: "refs/heads/main", Message: "add script", Author: "Slipway Test <test@slipway.invalid>", Cloned: true}, meta(co)); diff != "" {
		t.Errorf("first Checkout (-want +got):\n%s", diff)
	}
	want := map[string]string{"a.txt": "one\n", "dir/b.txt": "two\n", "dir/link": "-> ../a.txt", "bin/run.sh": "#!/bin/sh\necho hi\n"}
	if diff := cmp.Diff(want, readTree(t, co.Dir)); diff != "" {
		t.Errorf("work tree (-want +got):\n%s", diff)
	}
	for name, perm := range map[string]fs.FileMode{"a.txt": 0o644, "bin/run.sh": 0o755} {
		fi, err := os.Stat(filepath.Join(co.Dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != perm {
			t.Errorf("mode of %s = %v, want %v", name, got, perm)
		}
	}
	if time.Since(co.Time) > time.Hour || co.Time.IsZero() {
		t.Errorf("Time = %v, want the commit's time (about now)", co.Time)
	}
	if !strings.HasPrefix(co.Dir, filepath.Join(dir, "web", "work")+string(filepath.Separator)) {
		t.Errorf("Dir = %s, want a fresh directory under %s", co.Dir, filepath.Join(dir, "web", "work"))
	}

	// A marker in the cache proves the second Checkout fetched into the
	// same repository rather than cloning again.
	marker := filepath.Join(dir, "web", "marker")
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	c2 := fx.Commit(t, "main", map[string]string{"a.txt": "one, v2\n"}, "second")
	co2 := checkout(t, c, req)
	if diff := cmp.Diff(checkoutMeta{Commit: c2, Ref: "refs/heads/main", Message: "second", Author: "Slipway Test <test@slipway.invalid>"}, meta(co2)); diff != "" {
		t.Errorf("second Checkout (-want +got):\n%s", diff)
	}
	if got := readTree(t, co2.Dir)["a.txt"]; got != "one, v2\n" {
		t.Errorf("a.txt after fetch = %q, want the new commit's content", got)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("cache was re-created by the second Checkout: %v", err)
	}
	if co2.Dir == co.Dir {
		t.Errorf("both checkouts share %s, want a fresh work tree each", co.Dir)
	}

	// Close removes only its own work tree, and may be called twice.
	if err := co.Close(); err != nil {
		t.Fatal(err)
	}
	if err := co.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(co.Dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("work tree still there after Close: %v", err)
	}
	if _, err := os.Stat(co2.Dir); err != nil {
		t.Errorf("Close removed another build's work tree: %v", err)
	}
}

// checkoutMeta is the part of a Checkout compared by the tests.
type checkoutMeta struct {
	Commit, Ref, Message, Author string
	Cloned                       bool
}

func meta(co *source.Checkout) checkoutMeta {
	return checkoutMeta{co.Commit, co.Ref, strings.TrimSpace(co.Message), co.Author, co.Cloned}
}

func TestCheckoutExactCommit(t *testing.T) {
	t.Parallel()
	fx := gitfixture.New(t)
	c1 := fx.Commit(t, "main", map[string]string{"v.txt": "1"}, "one")
	c2 := fx.Commit(t, "main", map[string]string{"v.txt": "2"}, "two")
	fx.Commit(t, "main", map[string]string{"v.txt": "3"}, "three")
	c := newCache(t, source.Options{})

	for _, tc := range []struct {
		name, commit, want string
	}{
		{"oldest", c1, "1"},
		{"middle upper-case", strings.ToUpper(c2), "2"},
		{"again oldest after fetch", c1, "1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			co := checkout(t, c, source.Request{Project: "p", URL: fx.URL(), Ref: "refs/heads/main", Commit: tc.commit})
			if got := readTree(t, co.Dir)["v.txt"]; got != tc.want {
				t.Errorf("v.txt = %q, want %q", got, tc.want)
			}
			if got := co.Commit; got != strings.ToLower(tc.commit) {
				t.Errorf("Commit = %s, want %s", got, tc.commit)
			}
		})
	}
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestCheckoutErrors(t *testing.T) {
	t.Parallel()
	fx := gitfixture.New(t)
	fx.Commit(t, "main", map[string]string{"a": "a"}, "main")
	other := fx.Commit(t, "feature", map[string]string{"b": "b"}, "on another branch")
	c := newCache(t, source.Options{})
	url := fx.URL()

	for _, tc := range []struct {
		name    string
		req     source.Request
		wantErr error  // nil: any error
		wantMsg string // a substring of the message
	}{
		{"missing branch", source.Request{URL: url, Ref: "refs/heads/nope"}, source.ErrRefNotFound, `branch "nope" not found on the remote`},
		{"missing short ref", source.Request{URL: url, Ref: "nope"}, source.ErrRefNotFound, `branch "nope" or tag "nope" not found`},
		{"missing tag", source.Request{URL: url, Ref: "refs/tags/v9"}, source.ErrRefNotFound, `tag "v9" not found`},
		{"missing commit", source.Request{URL: url, Ref: "main", Commit: strings.Repeat("ab", 20)}, source.ErrCommitNotFound, "is not in the history of refs/heads/main"},
		{"commit of another branch", source.Request{URL: url, Ref: "main", Commit: other}, source.ErrCommitNotFound, "is not in the history of refs/heads/main"},
		{"closed port", source.Request{URL: "http://" + closedPort(t) + "/x.git", Ref: "main"}, source.ErrRepoUnreachable, "cannot reach the repository"},
		{"remote fails on its side", source.Request{URL: failingServer(t) + "/x.git", Ref: "main"}, source.ErrRemoteFailed,
			`the remote answered 500 Internal Server Error: upload-pack: cannot allocate the pack\x00\x1b[31m (the remote failed on its side`},
		{"no such path", source.Request{URL: "file://" + filepath.Join(t.TempDir(), "none"), Ref: "main"}, source.ErrRepoUnreachable, "repository not found"},
		{"empty ref", source.Request{URL: url}, nil, "no ref given"},
		{"bad commit", source.Request{URL: url, Ref: "main", Commit: "HEAD~1"}, nil, "not 40 hex digits"},
		{"bad ref", source.Request{URL: url, Ref: "main:refs/heads/x"}, nil, "not a valid git ref name"},
		{"bad project", source.Request{Project: "../x", URL: url, Ref: "main"}, nil, "cannot be a cache directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.req.Project == "" {
				tc.req.Project = "p" + strings.ReplaceAll(tc.name, " ", "-")
			}
			co, err := c.Checkout(t.Context(), tc.req)
			if err == nil {
				co.Close()
				t.Fatalf("Checkout succeeded at %s, want an error", co.Commit)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error = %v, want %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error = %q, want it to contain %q", err, tc.wantMsg)
			}
			if strings.ContainsFunc(err.Error(), func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				t.Errorf("error holds a control character: %q", err)
			}
		})
	}
}

// failingServer is a git HTTP server failing on its own side: 500 with a
// body holding a NUL byte and a terminal escape.
func failingServer(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upload-pack: cannot allocate the pack\x00\x1b[31m", http.StatusInternalServerError)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// stallingServer accepts TCP connections and never answers.
func stallingServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Go(func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

func TestCheckoutFetchTimeout(t *testing.T) {
	t.Parallel()
	c := newCache(t, source.Options{FetchTimeout: time.Second})
	url := "http://" + stallingServer(t) + "/x.git"
	start := time.Now()
	co, err := c.Checkout(t.Context(), source.Request{Project: "stalled", URL: url, Ref: "main"})
	if err == nil {
		co.Close()
		t.Fatal("Checkout of a stalled remote succeeded")
	}
	if !errors.Is(err, source.ErrFetchTimeout) {
		t.Fatalf("error = %v, want ErrFetchTimeout", err)
	}
	if !strings.Contains(err.Error(), "git.fetch_timeout") {
		t.Errorf("error = %q, want it to say which setting to raise", err)
	}
	// Generous: the point is "bounded", not a precise deadline.
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("Checkout took %v with FetchTimeout 1s", d)
	}
}

func TestCheckoutCanceled(t *testing.T) {
	t.Parallel()
	fx := gitfixture.New(t)
	fx.Commit(t, "main", map[string]string{"a": "a"}, "one")
	c := newCache(t, source.Options{FetchTimeout: time.Minute})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := c.Checkout(ctx, source.Request{Project: "p", URL: "http://" + stallingServer(t) + "/x.git", Ref: "main"})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want context.Canceled", err)
	}
	if errors.Is(err, source.ErrFetchTimeout) {
		t.Errorf("a canceled build is reported as a timeout: %v", err)
	}
}

// refs lists the references of the bare repository of project in dir.
func refs(t *testing.T, dir, project string) []string {
	t.Helper()
	repo, err := git.PlainOpen(filepath.Join(dir, project))
	if err != nil {
		t.Fatal(err)
	}
	iter, err := repo.References()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	err = iter.ForEach(func(r *plumbing.Reference) error {
		if r.Name() != plumbing.HEAD {
			names = append(names, r.Name().String())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func TestCheckoutFetchesOnlyTheRef(t *testing.T) {
	t.Parallel()
	fx := gitfixture.New(t)
	c1 := fx.Commit(t, "main", map[string]string{"a": "a"}, "one")
	fx.Tag(t, "v1.0.0", c1)
	fx.Git(t, "tag", "-a", "-m", "annotated", "v1.1.0", c1)
	fx.Commit(t, "feature", map[string]string{"b": "b"}, "feature")
	fx.Commit(t, "main", map[string]string{"a": "a2"}, "two")

	dir := t.TempDir()
	c := newCache(t, source.Options{Dir: dir})
	checkout(t, c, source.Request{Project: "p", URL: fx.URL(), Ref: "main"})
	if diff := cmp.Diff([]string{"refs/remotes/origin/main"}, refs(t, dir, "p")); diff != "" {
		t.Errorf("refs after a branch build (-want +got):\n%s", diff)
	}
}

func TestCheckoutTag(t *testing.T) {
	t.Parallel()
	fx := gitfixture.New(t)
	c1 := fx.Commit(t, "main", map[string]string{"v": "1"}, "one")
	fx.Tag(t, "v1.2.3", c1)
	c2 := fx.Commit(t, "main", map[string]string{"v": "2"}, "two")
	fx.Git(t, "tag", "-a", "-m", "release 2", "v2.0.0", c2)
	c3 := fx.Commit(t, "main", map[string]string{"v": "3"}, "three")
	fx.Commit(t, "v2.0.0-branch", map[string]string{"v": "b"}, "branch named like a tag")
	fx.Git(t, "branch", "dup", c3)
	fx.Tag(t, "dup", c1)

	dir := t.TempDir()
	c := newCache(t, source.Options{Dir: dir})
	for _, tc := range []struct {
		name, ref, commit string
		wantRef, wantSHA  string
	}{
		{"short lightweight tag", "v1.2.3", "", "refs/tags/v1.2.3", c1},
		{"full annotated tag", "refs/tags/v2.0.0", "", "refs/tags/v2.0.0", c2},
		{"short annotated tag", "v2.0.0", "", "refs/tags/v2.0.0", c2},
		{"ancestor of a tag", "v2.0.0", c1, "refs/tags/v2.0.0", c1},
		{"branch wins over tag", "dup", "", "refs/heads/dup", c3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			co := checkout(t, c, source.Request{Project: "p", URL: fx.URL(), Ref: tc.ref, Commit: tc.commit})
			if co.Ref != tc.wantRef || co.Commit != tc.wantSHA {
				t.Errorf("Checkout(%s) = %s at %s, want %s at %s", tc.ref, co.Ref, co.Commit, tc.wantRef, tc.wantSHA)
			}
		})
	}
	if diff := cmp.Diff([]string{"refs/remotes/origin/dup", "refs/tags/v1.2.3", "refs/tags/v2.0.0"}, refs(t, dir, "p")); diff != "" {
		t.Errorf("refs (-want +got):\n%s", diff)
	}
}

func TestCheckoutHTTPAuth(t *testing.T) {
	t.Parallel()
	fx := gitfixture.New(t)
	head := fx.Commit(t, "main", map[string]string{"a": "a"}, "one")
	withUser := fx.ServeHTTP(t, "ci", "s3cret-pass")
	withToken := fx.ServeHTTP(t, source.DefaultTokenUser, "t0ken-value")
	anonymous := fx.ServeHTTP(t, "", "")
	c := newCache(t, source.Options{})

	for _, tc := range []struct {
		name    string
		url     string
		auth    source.Auth
		wantErr error
		secret  string // must not appear in the error
	}{
		{"anonymous", anonymous, source.Auth{}, nil, ""},
		{"user and password", withUser, source.Auth{Username: "ci", Token: "s3cret-pass"}, nil, ""},
		{"token with default user", withToken, source.Auth{Token: "t0ken-value"}, nil, ""},
		{"wrong password", withUser, source.Auth{Username: "ci", Token: "wrong-pass-123"}, source.ErrAuthFailed, "wrong-pass-123"},
		{"no credentials", withUser, source.Auth{}, source.ErrAuthFailed, ""},
		{"wrong credentials in the URL", strings.Replace(withUser, "http://", "http://ci:url-pass-456@", 1), source.Auth{}, source.ErrAuthFailed, "url-pass-456"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			co, err := c.Checkout(t.Context(), source.Request{Project: "p-" + strings.ReplaceAll(tc.name, " ", "-"), URL: tc.url, Ref: "main", Auth: tc.auth})
			if tc.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				defer co.Close()
				if co.Commit != head {
					t.Errorf("Commit = %s, want %s", co.Commit, head)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
			if tc.secret != "" && strings.Contains(err.Error(), tc.secret) {
				t.Errorf("error leaks the secret: %q", err)
			}
		})
	}
}

func TestCheckoutLimits(t *testing.T) {
	t.Parallel()
	many := map[string]string{}
	for i := range 20 {
		many[fmt.Sprintf("f%02d", i)] = "x"
	}
	limits := source.Options{MaxFiles: 10, MaxBytes: 1000, MaxDepth: 4}
	for _, tc := range []struct {
		name    string
		files   map[string]string
		wantMsg string // "" means success
	}{
		{"many files", many, "git.max_files"},
		{"big file", map[string]string{"big.bin": strings.Repeat("x", 2000)}, "git.max_bytes"},
		{"many small files add up", map[string]string{"a": strings.Repeat("x", 600), "b": strings.Repeat("x", 600)}, "git.max_bytes"},
		{"deep path", map[string]string{"a/b/c/d/e/f.txt": "deep"}, "git.max_depth"},
		// a, a/b, a/b/c, a/b/c/d.txt + 6 files = 10 entries, 4 levels.
		{"at every limit", map[string]string{"a/b/c/d.txt": strings.Repeat("x", 994), "1": "x", "2": "x", "3": "x", "4": "x", "5": "x", "6": "x"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fx := gitfixture.New(t)
			fx.Commit(t, "main", tc.files, tc.name)
			opts := limits
			opts.Dir = t.TempDir()
			c := newCache(t, opts)
			co, err := c.Checkout(t.Context(), source.Request{Project: "p", URL: fx.URL(), Ref: "main"})
			if tc.wantMsg == "" {
				if err != nil {
					t.Fatal(err)
				}
				co.Close()
				return
			}
			if err == nil {
				co.Close()
				t.Fatal("Checkout succeeded, want ErrTooLarge")
			}
			if !errors.Is(err, source.ErrTooLarge) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error = %v, want ErrTooLarge naming %s", err, tc.wantMsg)
			}
			left, _ := os.ReadDir(filepath.Join(opts.Dir, "p", "work"))
			if len(left) != 0 {
				t.Errorf("a failed checkout left %d work trees behind", len(left))
			}
		})
	}
}

// rawTree is one entry of a tree object written byte by byte, so tests can
// build trees git itself would refuse to create.
type rawTree struct {
	name string
	mode filemode.FileMode
	hash plumbing.Hash
}

// writeObject stores a loose object in the fixture repository.
func writeObject(t *testing.T, repo *git.Repository, typ plumbing.ObjectType, content []byte) plumbing.Hash {
	t.Helper()
	obj := repo.Storer.NewEncodedObject()
	obj.SetType(typ)
	w, err := obj.Writer()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(content); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	h, err := repo.Storer.SetEncodedObject(obj)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func writeTree(t *testing.T, repo *git.Repository, entries ...rawTree) plumbing.Hash {
	t.Helper()
	var b []byte
	for _, e := range entries {
		b = fmt.Appendf(b, "%o %s\x00", e.mode, e.name)
		b = append(b, e.hash[:]...)
	}
	return writeObject(t, repo, plumbing.TreeObject, b)
}

// commitTree points branch at a new commit of tree.
func commitTree(t *testing.T, repo *git.Repository, branch string, tree plumbing.Hash) {
	t.Helper()
	sig := object.Signature{Name: "Evil", Email: "evil@example.invalid", When: time.Now()}
	c := &object.Commit{Author: sig, Committer: sig, Message: "evil\n", TreeHash: tree}
	obj := repo.Storer.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		t.Fatal(err)
	}
	h, err := repo.Storer.SetEncodedObject(obj)
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.Storer.SetReference(plumbing.NewHashReference(plumbing.NewBranchReferenceName(branch), h)); err != nil {
		t.Fatal(err)
	}
}

func TestCheckoutRefusesUnsafeEntries(t *testing.T) {
	t.Parallel()
	fx := gitfixture.New(t)
	fx.Commit(t, "main", map[string]string{"ok": "ok"}, "init")
	repo, err := git.PlainOpen(fx.Dir)
	if err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir() // what an escape would write into
	blob := writeObject(t, repo, plumbing.BlobObject, []byte("pwned\n"))
	link := writeObject(t, repo, plumbing.BlobObject, []byte(outside))
	inner := writeTree(t, repo, rawTree{"pwned", filemode.Regular, blob})

	cases := map[string]plumbing.Hash{
		"dotdot":        writeTree(t, repo, rawTree{"..", filemode.Dir, inner}),
		"dot":           writeTree(t, repo, rawTree{".", filemode.Dir, inner}),
		"dotgit":        writeTree(t, repo, rawTree{".git", filemode.Dir, inner}),
		"dotgit-upper":  writeTree(t, repo, rawTree{".GIT", filemode.Dir, inner}),
		"absolute":      writeTree(t, repo, rawTree{outside + "/pwned", filemode.Regular, blob}),
		"slash":         writeTree(t, repo, rawTree{"a/../../pwned", filemode.Regular, blob}),
		"nested-dotdot": writeTree(t, repo, rawTree{"sub", filemode.Dir, writeTree(t, repo, rawTree{"..", filemode.Dir, writeTree(t, repo, rawTree{"..", filemode.Dir, inner})})}),
		// A symlink and a directory of one name: writing the directory's
		// files would go through the symlink.
		"symlink-then-dir": writeTree(t, repo, rawTree{"a", filemode.Symlink, link}, rawTree{"a", filemode.Dir, inner}),
	}
	for branch, tree := range cases {
		commitTree(t, repo, branch, tree)
	}
	c := newCache(t, source.Options{})
	for branch := range cases {
		t.Run(branch, func(t *testing.T) {
			co, err := c.Checkout(t.Context(), source.Request{Project: "p", URL: fx.URL(), Ref: branch})
			if err == nil {
				co.Close()
				t.Fatal("Checkout of a crafted tree succeeded")
			}
			if !errors.Is(err, source.ErrUnsafePath) {
				t.Errorf("error = %v, want ErrUnsafePath", err)
			}
			if left, _ := os.ReadDir(outside); len(left) != 0 {
				t.Errorf("the checkout wrote outside its work tree: %v", left)
			}
		})
	}
}

func TestCheckoutSubmoduleIsEmptyDir(t *testing.T) {
	t.Parallel()
	fx := gitfixture.New(t)
	fx.Commit(t, "main", map[string]string{"a": "a"}, "init")
	gitlink := fmt.Sprintf("%x", sha1.Sum([]byte("some other repository")))
	fx.Git(t, "update-index", "--add", "--cacheinfo", "160000,"+gitlink+",vendor/lib")
	fx.Git(t, "commit", "-q", "-m", "add submodule")
	co := checkout(t, newCache(t, source.Options{}), source.Request{Project: "p", URL: fx.URL(), Ref: "main"})
	entries, err := os.ReadDir(filepath.Join(co.Dir, "vendor", "lib"))
	if err != nil || len(entries) != 0 {
		t.Errorf("submodule vendor/lib: entries %v, error %v; want an empty directory", entries, err)
	}
}

func TestCheckoutRecoversCorruptCache(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// newCommit: a commit is pushed after the corruption, so the fetch
		// has something to download.
		newCommit bool
		// mustClone: only a fresh clone can repair it; otherwise the fetch
		// may heal the cache by itself.
		mustClone bool
		corrupt   func(t *testing.T, repoDir string)
	}{
		{"garbage config", true, true, func(t *testing.T, repoDir string) {
			if err := os.WriteFile(filepath.Join(repoDir, "config"), []byte("[[[ not a config"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"pack truncated", false, true, truncatePacks},
		{"pack truncated, new commit", true, false, truncatePacks},
		// The fetch itself brings back what is missing: no clone needed.
		{"objects gone", false, false, func(t *testing.T, repoDir string) {
			if err := os.RemoveAll(filepath.Join(repoDir, "objects")); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(filepath.Join(repoDir, "objects"), 0o755); err != nil {
				t.Fatal(err)
			}
		}},
		// The fetch itself brings back what is missing: no clone needed.
		{"objects gone, new commit", true, false, func(t *testing.T, repoDir string) {
			if err := os.RemoveAll(filepath.Join(repoDir, "objects")); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fx := gitfixture.New(t)
			head := fx.Commit(t, "main", map[string]string{"a": "1"}, "one")
			dir := t.TempDir()
			c := newCache(t, source.Options{Dir: dir})
			req := source.Request{Project: "p", URL: fx.URL(), Ref: "main"}
			running := checkout(t, c, req) // a build still using its tree
			tc.corrupt(t, filepath.Join(dir, "p"))
			want := "1"
			if tc.newCommit {
				want = "2"
				head = fx.Commit(t, "main", map[string]string{"a": want}, "two")
			}

			co := checkout(t, c, req)
			if co.Commit != head || tc.mustClone && !co.Cloned {
				t.Errorf("Checkout after corruption: Cloned %v at %s, want a fresh clone at %s", co.Cloned, co.Commit, head)
			}
			if got := readTree(t, co.Dir)["a"]; got != want {
				t.Errorf("a = %q, want %q", got, want)
			}
			if _, err := os.Stat(running.Dir); err != nil {
				t.Errorf("re-cloning removed a running build's work tree: %v", err)
			}
		})
	}
}

// truncatePacks cuts every pack file of the repository short.
func truncatePacks(t *testing.T, repoDir string) {
	t.Helper()
	packs, err := filepath.Glob(filepath.Join(repoDir, "objects", "pack", "*.pack"))
	if err != nil || len(packs) == 0 {
		t.Fatalf("no pack in the cache (%v)", err)
	}
	for _, p := range packs {
		if err := os.Truncate(p, 40); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCheckoutConcurrent(t *testing.T) {
	t.Parallel()
	fx := gitfixture.New(t)
	head := fx.Commit(t, "main", map[string]string{"a": "a"}, "one")
	c := newCache(t, source.Options{})
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for i := range cap(errs) {
		wg.Go(func() {
			co, err := c.Checkout(t.Context(), source.Request{Project: fmt.Sprintf("p%d", i%2), URL: fx.URL(), Ref: "main"})
			if err != nil {
				errs <- err
				return
			}
			defer co.Close()
			if co.Commit != head {
				errs <- fmt.Errorf("Commit = %s, want %s", co.Commit, head)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestListTags(t *testing.T) {
	t.Parallel()
	fx := gitfixture.New(t)
	c1 := fx.Commit(t, "main", map[string]string{"a": "a"}, "one")
	fx.Tag(t, "v1.0.0", c1)
	fx.Git(t, "tag", "-a", "-m", "annotated", "v1.1.0", c1)
	fx.Tag(t, "release/2", c1)
	empty := gitfixture.New(t)

	for _, tc := range []struct {
		name string
		url  string
		auth source.Auth
		want []string
	}{
		{"file", fx.URL(), source.Auth{}, []string{"release/2", "v1.0.0", "v1.1.0"}},
		{"http with auth", fx.ServeHTTP(t, "u", "p"), source.Auth{Username: "u", Token: "p"}, []string{"release/2", "v1.0.0", "v1.1.0"}},
		{"empty repository", empty.URL(), source.Auth{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := source.ListTags(t.Context(), tc.url, tc.auth)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ListTags (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("unreachable", func(t *testing.T) {
		t.Parallel()
		_, err := source.ListTags(t.Context(), "http://"+closedPort(t)+"/x.git", source.Auth{})
		if !errors.Is(err, source.ErrRepoUnreachable) {
			t.Errorf("error = %v, want ErrRepoUnreachable", err)
		}
	})
}

func TestNewCacheOptions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts source.Options
	}{
		{"no dir", source.Options{}},
		{"negative files", source.Options{Dir: t.TempDir(), MaxFiles: -1}},
		{"negative timeout", source.Options{Dir: t.TempDir(), FetchTimeout: -time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := source.NewCache(tc.opts); err == nil {
				t.Errorf("NewCache(%+v) succeeded, want an error", tc.opts)
			}
		})
	}
}

// sshKey writes a fresh unencrypted ed25519 private key and returns its path.
func sshKey(t *testing.T) string {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(p, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCheckoutSSHSetup covers what can be checked without an SSH server:
// the key is loaded, host keys are never accepted blindly, and a closed port
// is unreachable.
func TestCheckoutSSHSetup(t *testing.T) {
	t.Parallel()
	key := sshKey(t)
	knownHosts := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(knownHosts, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	url := "ssh://git@" + closedPort(t) + "/acme/web.git"
	c := newCache(t, source.Options{})
	for _, tc := range []struct {
		name    string
		auth    source.Auth
		wantErr error
		wantMsg string
	}{
		{"no known_hosts", source.Auth{SSHKeyFile: key, KnownHostsFile: filepath.Join(t.TempDir(), "none")}, source.ErrAuthFailed, "ssh-keyscan"},
		{"missing key", source.Auth{SSHKeyFile: filepath.Join(t.TempDir(), "none"), KnownHostsFile: knownHosts}, nil, "ssh key"},
		{"closed port", source.Auth{SSHKeyFile: key, KnownHostsFile: knownHosts}, source.ErrRepoUnreachable, "cannot reach"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := c.Checkout(t.Context(), source.Request{Project: "ssh-" + strings.ReplaceAll(tc.name, " ", "-"), URL: url, Ref: "main", Auth: tc.auth})
			if err == nil {
				t.Fatal("Checkout succeeded without a server")
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error = %v, want %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error = %q, want it to contain %q", err, tc.wantMsg)
			}
		})
	}
}

// Fetches of a few commits store their objects loose, as git's fetch does
// below fetch.unpackLimit: the cache does not gain a pack per build.
func TestCheckoutFetchesAddNoPacks(t *testing.T) {
	t.Parallel()
	fx := gitfixture.New(t)
	fx.Commit(t, "main", map[string]string{"a": "0"}, "zero")
	dir := t.TempDir()
	c := newCache(t, source.Options{Dir: dir})
	req := source.Request{Project: "p", URL: fx.URL(), Ref: "main"}
	checkout(t, c, req)
	packs := func() []string {
		t.Helper()
		p, err := filepath.Glob(filepath.Join(dir, "p", "objects", "pack", "*.pack"))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	cloned := packs()
	if len(cloned) != 1 {
		t.Fatalf("after the clone the cache holds packs %v, want one", cloned)
	}
	for i := 1; i <= 3; i++ {
		want := fmt.Sprint(i)
		head := fx.Commit(t, "main", map[string]string{"a": want}, "next")
		co := checkout(t, c, req)
		if co.Commit != head || readTree(t, co.Dir)["a"] != want {
			t.Errorf("fetch %d: checkout at %s with a = %q, want %s with %q", i, co.Commit, readTree(t, co.Dir)["a"], head, want)
		}
	}
	if got := packs(); !slices.Equal(got, cloned) {
		t.Errorf("after 3 fetches the cache holds packs %v, want only the clone's %v", got, cloned)
	}
}

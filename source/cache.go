// Package source owns git: a clone cache per project, incremental fetch of
// exactly the ref a build needs, a work tree of one exact commit written under
// git-bomb limits, and the build-context tar stream with docker build's
// .dockerignore semantics.
//
// Everything goes through go-git (no git binary is needed at run time, except
// that go-git's file:// transport runs git-upload-pack). One step is this
// package's own: a received pack is indexed by fetchStorage, which streams
// every object, instead of go-git's indexer, which inflates each one into
// memory (a 1 GiB blob would cost 1 GiB of heap).
//
// Cache layout: Options.Dir/<project>/ is a bare repository (the object
// store, shared by every build of the project) and Options.Dir/<project>/work/
// holds one fresh work tree per running build, removed by Checkout.Close.
// Only the ref asked for is fetched (no other branches, no tags), with its full
// history so a commit pushed and then superseded stays buildable. As with
// git, the first clone keeps its pack and a later fetch of fewer than 100
// objects (up to 1 MiB) is stored as loose objects, so that the packs, whose
// indexes go-git reads on every checkout, do not grow by one per build;
// once more than Options.GCAuto objects are loose, a checkout packs them into
// one pack, and once there are more than Options.GCAutoPackLimit packs, it
// folds them into one, pruning the objects no ref reaches that are older
// than Options.GCPruneExpire (as git's gc --auto does; see Cache.maintain).
//
// A Cache is safe for concurrent use. Checkouts of one project are
// serialised (fetch and work-tree writing); different projects proceed in
// parallel. Two processes must not share one Dir.
package source

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	git "github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/filesystem"

	"github.com/go-git/go-billy/v5/osfs"

	"github.com/slipwayci/slipway/internal/redact"
)

// Defaults of Options' zero values.
const (
	DefaultFetchTimeout = 10 * time.Minute
	DefaultMaxFiles     = 200000
	DefaultMaxBytes     = 10 << 30
	DefaultMaxDepth     = 64
)

// largeObject is the blob size above which go-git streams an object from its
// pack instead of inflating it into memory when reading it back (the fetch
// itself streams every plain object: see fetchStorage).
const largeObject = 1 << 20

// workDirName is the directory of a project's cache holding the work trees.
const workDirName = "work"

// Options configure a Cache. Zero values get the documented defaults.
type Options struct {
	// Dir is the cache root, e.g. data_dir/git. Required; created (0700)
	// when missing.
	Dir string
	// FetchTimeout is the hard wall-clock limit of one clone or fetch
	// (git.fetch_timeout). Default 10m.
	FetchTimeout time.Duration
	// MaxFiles caps the entries (files, directories, symlinks) of a work
	// tree (git.max_files). Default 200000.
	MaxFiles int
	// MaxBytes caps the sum of the blob sizes of a work tree
	// (git.max_bytes). Default 10 GiB.
	MaxBytes int64
	// MaxDepth caps the number of path components of any entry of a work
	// tree (git.max_depth). Default 64.
	MaxDepth int
	// GCAuto is git's gc.auto for the clone cache: after a checkout, once
	// a project's cache holds more loose objects than this (estimated as
	// git does, from a sample of the fan-out directories), they are
	// written into one new pack (objects over 1 MiB into a second, without
	// deltas) and removed. Default 6700 (git's);
	// negative never packs them.
	GCAuto int
	// GCAutoPackLimit is git's gc.autoPackLimit for the clone cache: once
	// a project's cache (or a submodule's) holds more packs than this, a
	// checkout, its work tree written, folds them and the reachable loose
	// objects into one pack (objects over 1 MiB into a second) and
	// removes the old ones, so that a checkout reads one pack index, not
	// many. Default 50 (git's); negative never. Below 2, a cache holding
	// objects over 1 MiB is repacked at every checkout.
	GCAutoPackLimit int
	// GCPruneExpire is git's gc.pruneExpire for the clone cache: when the
	// cache is repacked or its loose objects packed, objects that no ref
	// reaches (a force-pushed branch's old commits) are deleted once they
	// are older than this. A younger one waits: a repack leaves it loose,
	// dated as its pack; packing the loose objects packs it with the rest,
	// its time then being the new pack's. Default two weeks (git's);
	// negative never deletes them.
	GCPruneExpire time.Duration
	// GCRefExpire: when the cache is maintained (see GCAuto and
	// GCAutoPackLimit), a ref that no fetch has brought for this long (a
	// deleted branch, a closed pull request, a tag built once) is
	// deleted, all but the newest, so that what only it reaches is pruned
	// as GCPruneExpire says; the next build of it fetches it again. Default
	// 90 days (git's gc.reflogExpire); negative keeps every ref.
	GCRefExpire time.Duration
}

// withDefaults returns o with every zero value replaced by its default, or an
// error naming the field that is invalid.
func (o Options) withDefaults() (Options, error) {
	if o.Dir == "" {
		return o, errors.New("source: Options.Dir is required (data_dir/git)")
	}
	if o.FetchTimeout < 0 || o.MaxFiles < 0 || o.MaxBytes < 0 || o.MaxDepth < 0 {
		return o, errors.New("source: negative limit in Options (git.fetch_timeout, git.max_files, git.max_bytes, git.max_depth must be positive)")
	}
	if o.FetchTimeout == 0 {
		o.FetchTimeout = DefaultFetchTimeout
	}
	if o.MaxFiles == 0 {
		o.MaxFiles = DefaultMaxFiles
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxDepth == 0 {
		o.MaxDepth = DefaultMaxDepth
	}
	if o.GCAuto == 0 {
		o.GCAuto = DefaultGCAuto
	}
	if o.GCAutoPackLimit == 0 {
		o.GCAutoPackLimit = DefaultGCAutoPackLimit
	}
	if o.GCPruneExpire == 0 {
		o.GCPruneExpire = DefaultGCPruneExpire
	}
	if o.GCRefExpire == 0 {
		o.GCRefExpire = DefaultGCRefExpire
	}
	return o, nil
}

// Auth holds the credentials of one repository. The zero value is anonymous
// access.
type Auth struct {
	// Username for HTTPS basic auth; default "x-access-token" (GitHub's
	// convention for tokens) when Token is set. For ssh:// it overrides the
	// URL's user (default "git").
	Username string
	// Token is the HTTPS basic-auth password or token. Never logged and
	// scrubbed from error messages.
	Token string
	// SSHKeyFile is a private key (unencrypted) for ssh:// and scp-like
	// URLs.
	SSHKeyFile string
	// KnownHostsFile verifies the SSH server's host key. Default: the files
	// in $SSH_KNOWN_HOSTS, else ~/.ssh/known_hosts and
	// /etc/ssh/ssh_known_hosts. Host keys are always checked: an ssh fetch
	// with no known_hosts file fails (fill one with ssh-keyscan).
	KnownHostsFile string
}

// Request is one checkout: which repository, which ref and, optionally, which
// exact commit of it.
type Request struct {
	// Project is the cache key: a directory name under Options.Dir.
	Project string
	// URL is any go-git URL: https, http, ssh (also scp-like), file.
	URL string
	// Ref is "main", "refs/heads/main", "refs/tags/v1.2.3" or "v1.2.3" (a
	// short name is tried as a branch first, then as a tag); other full
	// refs ("refs/pull/1/head") are fetched as they are. Required.
	Ref string
	// Commit is an optional exact 40-hex commit. It must be the ref's head
	// or in its fetched history. Empty means the ref's head at fetch time.
	Commit string
	// Auth are the credentials of URL.
	Auth Auth
	// Submodules checks the commit's submodules out into their
	// directories (recursively), each at the commit the tree pins; see
	// Cache.writeSubmodules for how their URLs are confined. Default false:
	// they are empty directories.
	Submodules bool
	// GitDir writes a .git of the commit into the work tree, as a clone
	// has (projects[].git_dir): HEAD on the branch, or detached at a tag
	// or another ref; only that commit, its tree and an annotated tag's
	// object (shallow); an index of the tree. It is byte-identical for the
	// same commit and ref, so the engine's layer cache still hits.
	GitDir bool
}

// Checkout is one build's work tree of one commit.
type Checkout struct {
	// Dir is a fresh work tree for this build only; Close removes it.
	Dir string
	// Commit is the 40-hex commit checked out.
	Commit string
	// Ref is the full ref: refs/heads/main or refs/tags/v1.2.3.
	Ref string
	// Message is the commit message without its trailing newline.
	Message string
	// Author is "Name <email>" of the commit's author.
	Author string
	// Time is the commit (committer) time.
	Time time.Time
	// Cloned is true when this call made the first clone (or re-cloned a
	// corrupt cache), false after an incremental fetch.
	Cloned bool
}

// Close removes the work tree. It is safe to call more than once.
func (co *Checkout) Close() error {
	if co == nil || co.Dir == "" {
		return nil
	}
	if err := os.RemoveAll(co.Dir); err != nil {
		return fmt.Errorf("remove work tree %s: %w", co.Dir, err)
	}
	return nil
}

// Cache is a per-project clone cache rooted at Options.Dir.
type Cache struct {
	opts Options

	mu    sync.Mutex
	locks map[string]chan struct{} // one-slot semaphore per project
}

// NewCache returns a Cache over opts.Dir, creating the directory.
func NewCache(opts Options) (*Cache, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("git cache dir %s: %w", opts.Dir, err)
	}
	opts.Dir = dir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create git cache dir: %w", err)
	}
	return &Cache{opts: opts, locks: make(map[string]chan struct{})}, nil
}

// lock takes the project's slot, waiting at most as long as ctx.
func (c *Cache) lock(ctx context.Context, project string) (func(), error) {
	c.mu.Lock()
	sem, ok := c.locks[project]
	if !ok {
		sem = make(chan struct{}, 1)
		c.locks[project] = sem
	}
	c.mu.Unlock()
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for the git cache of %s: %w", project, context.Cause(ctx))
	}
}

var (
	projectRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)
	commitRE  = regexp.MustCompile(`^[0-9a-f]{40}$`)
)

func (r Request) validate() error {
	if !projectRE.MatchString(r.Project) {
		return fmt.Errorf("checkout: project name %q cannot be a cache directory (want [A-Za-z0-9_][A-Za-z0-9_.-]*)", r.Project)
	}
	if r.URL == "" {
		return fmt.Errorf("checkout %s: no repository URL (set projects[].repo)", r.Project)
	}
	if r.Ref == "" {
		return fmt.Errorf("checkout %s: no ref given (a branch such as main, or a tag)", r.Project)
	}
	if r.Commit != "" && !commitRE.MatchString(strings.ToLower(r.Commit)) {
		return fmt.Errorf("checkout %s: commit %q is not 40 hex digits", r.Project, r.Commit)
	}
	return nil
}

// Checkout fetches req.Ref into the project's cache (cloning on first use)
// and writes the requested commit into a fresh work tree. The caller must
// Close the result.
//
// A corrupt cache (unreadable repository, missing objects) is removed and
// cloned again, once. The fetch is bounded by Options.FetchTimeout; writing
// the tree by the limits of Options and by ctx. Then, still holding the
// project, it maintains the cache as git's gc --auto does when it has too
// many loose objects or packs (Options.GCAuto, Options.GCAutoPackLimit),
// which the call waits for; a failure of that is logged, not returned.
func (c *Cache) Checkout(ctx context.Context, req Request) (*Checkout, error) {
	if err := req.validate(); err != nil {
		return nil, err
	}
	req.Commit = strings.ToLower(req.Commit)
	unlock, err := c.lock(ctx, req.Project)
	if err != nil {
		return nil, err
	}
	defer unlock()

	projDir := filepath.Join(c.opts.Dir, req.Project)
	co, err := c.checkout(ctx, req, projDir)
	var ce *corruptError
	if errors.As(err, &ce) {
		if err := resetRepo(projDir); err != nil {
			return nil, fmt.Errorf("git cache of %s is corrupt and cannot be removed: %w", req.Project, err)
		}
		co, err = c.checkout(ctx, req, projDir)
		if errors.As(err, &ce) {
			return nil, fmt.Errorf("checkout %s from %s: the git cache is still unreadable after a fresh clone (a broken remote or a failing disk under data_dir/git): %w", req.Project, redact.URL(req.URL), ce.err)
		}
	}
	c.maintain(ctx, req.Project, projDir)
	return co, err
}

// checkout is one attempt of Checkout under the project's lock.
func (c *Cache) checkout(ctx context.Context, req Request, projDir string) (*Checkout, error) {
	repo, st, cloned, err := openOrInit(projDir)
	if err != nil {
		return nil, err
	}
	defer st.Close()

	ref, local, err := c.fetch(ctx, fetchStorage{Storage: st, packDir: filepath.Join(projDir, "objects", "pack"), unpack: !cloned}, req)
	if err != nil {
		if cloned {
			// A failed first clone leaves nothing behind, so the next
			// attempt is a first clone again and says so in Cloned.
			_ = resetRepo(projDir)
		}
		return nil, err
	}
	commit, err := c.resolve(repo, req, ref, local)
	if err != nil {
		return nil, err
	}

	work := filepath.Join(projDir, workDirName)
	if err := os.MkdirAll(work, 0o700); err != nil {
		return nil, fmt.Errorf("create work dir: %w", err)
	}
	dir, err := os.MkdirTemp(work, "co-")
	if err != nil {
		return nil, fmt.Errorf("create work tree: %w", err)
	}
	tree, err := commit.Tree()
	if err != nil {
		err = corrupt(fmt.Errorf("read tree of %s: %w", commit.Hash, err))
	} else {
		w := treeWriter{ctx: ctx, s: repo.Storer, opts: c.opts, commit: commit.Hash.String(), submodules: req.Submodules}
		if req.GitDir {
			w.git = &gitDirPlan{objects: []plumbing.Hash{tree.Hash}}
		}
		err = w.write(dir, tree, 0, "")
		if err == nil && req.Submodules {
			err = c.writeSubmodules(ctx, projDir, req.URL, req.Auth, tree, &w, 0)
		}
		if err == nil && req.GitDir {
			err = c.writeGitDir(ctx, repo, dir, req, commit, ref, local, w.git)
		}
	}
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return &Checkout{
		Dir:     dir,
		Commit:  commit.Hash.String(),
		Ref:     ref.String(),
		Message: strings.TrimRight(commit.Message, "\n"),
		Author:  fmt.Sprintf("%s <%s>", commit.Author.Name, commit.Author.Email),
		Time:    commit.Committer.When,
		Cloned:  cloned,
	}, nil
}

// openOrInit opens the bare repository in dir, initialising it when there is
// none (cloned is then true). An unreadable repository is reported corrupt.
func openOrInit(dir string) (repo *git.Repository, st *filesystem.Storage, cloned bool, err error) {
	st = openStorage(dir)
	repo, err = git.Open(st, nil)
	switch {
	case err == nil:
		return repo, st, false, nil
	case !errors.Is(err, git.ErrRepositoryNotExists):
		st.Close()
		return nil, nil, false, corrupt(fmt.Errorf("open %s: %w", dir, err))
	}
	// Leftovers of an interrupted init hold nothing worth keeping.
	if err := resetRepo(dir); err != nil {
		st.Close()
		return nil, nil, false, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		st.Close()
		return nil, nil, false, fmt.Errorf("create %s: %w", dir, err)
	}
	repo, err = git.Init(st, nil)
	if err != nil {
		st.Close()
		return nil, nil, false, fmt.Errorf("init bare repository %s: %w", dir, err)
	}
	return repo, st, true, nil
}

// openStorage returns the object and ref storage of the repository in dir.
func openStorage(dir string) *filesystem.Storage {
	return filesystem.NewStorageWithOptions(idxBufferedFS{osfs.New(dir)}, cache.NewObjectLRUDefault(),
		filesystem.Options{LargeObjectThreshold: largeObject})
}

// resetRepo removes the repository in dir, sparing the work trees of builds
// that are still running.
func resetRepo(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reset git cache %s: %w", dir, err)
	}
	for _, e := range entries {
		if e.Name() == workDirName {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("reset git cache %s: %w", dir, err)
		}
	}
	return nil
}

// candidate is one way of reading the requested ref: remote name, the local
// name it is stored under, and how to call it in an error.
type candidate struct {
	remote, local plumbing.ReferenceName
	what          string
}

func candidates(ref string) ([]candidate, error) {
	branch := func(b string) candidate {
		return candidate{plumbing.NewBranchReferenceName(b), plumbing.NewRemoteReferenceName("origin", b), fmt.Sprintf("branch %q", b)}
	}
	tag := func(t string) candidate {
		n := plumbing.NewTagReferenceName(t)
		return candidate{n, n, fmt.Sprintf("tag %q", t)}
	}
	var cs []candidate
	full := plumbing.ReferenceName(ref)
	switch {
	case full.IsBranch():
		cs = []candidate{branch(strings.TrimPrefix(ref, plumbing.NewBranchReferenceName("").String()))}
	case full.IsTag():
		cs = []candidate{tag(strings.TrimPrefix(ref, plumbing.NewTagReferenceName("").String()))}
	case strings.HasPrefix(ref, "refs/"):
		cs = []candidate{{full, full, fmt.Sprintf("ref %q", ref)}}
	default:
		cs = []candidate{branch(ref), tag(ref)}
	}
	for _, c := range cs {
		if err := ValidateRef(string(c.remote)); err != nil {
			return nil, err
		}
	}
	return cs, nil
}

// fetch brings the requested ref and its history into st, trying a short
// name as a branch, then as a tag. It returns the remote's full ref name and
// the local ref it was stored under.
func (c *Cache) fetch(ctx context.Context, st fetchStorage, req Request) (plumbing.ReferenceName, plumbing.ReferenceName, error) {
	safeURL := redact.URL(req.URL)
	cs, err := candidates(req.Ref)
	if err != nil {
		return "", "", fmt.Errorf("fetch %s: %w", safeURL, err)
	}
	auth, err := authMethod(req.URL, req.Auth)
	if err != nil {
		return "", "", fmt.Errorf("fetch %s: %w", safeURL, err)
	}
	fctx, cancel := context.WithTimeoutCause(ctx, c.opts.FetchTimeout, errFetchDeadline)
	defer cancel()

	// An anonymous remote: nothing about it (URL, credentials) is written to
	// the cache's config, and a changed projects[].repo just works.
	remote := git.NewRemote(st, &gitconfig.RemoteConfig{Name: "origin", URLs: []string{transportURL(req.URL)}})
	var whats []string
	for _, cand := range cs {
		err := remote.FetchContext(fctx, &git.FetchOptions{
			RemoteName: "origin",
			RefSpecs:   []gitconfig.RefSpec{gitconfig.RefSpec(fmt.Sprintf("+%s:%s", cand.remote, cand.local))},
			Tags:       git.NoTags,
			Auth:       auth,
			Force:      true,
		})
		switch {
		case err == nil, errors.Is(err, git.NoErrAlreadyUpToDate):
			touchRef(st.packDir, cand.local)
			return cand.remote, cand.local, nil
		case errors.Is(err, git.NoMatchingRefSpecError{}), errors.Is(err, transport.ErrEmptyRemoteRepository):
			whats = append(whats, cand.what)
			continue
		}
		return "", "", remoteError(ctx, fctx, "fetch", safeURL, c.opts.FetchTimeout, err, req.Auth.Token)
	}
	return "", "", errorKind(ErrRefNotFound, "fetch %s: %s not found on the remote (check projects[].branches / the ref you asked for)", safeURL, strings.Join(whats, " or "))
}

// resolve returns the commit to check out: the fetched ref's head, or
// req.Commit when it is that head or in its history.
func (c *Cache) resolve(repo *git.Repository, req Request, ref, local plumbing.ReferenceName) (*object.Commit, error) {
	r, err := repo.Storer.Reference(local)
	if err != nil {
		return nil, corrupt(fmt.Errorf("read %s after fetch: %w", local, err))
	}
	head, err := peel(repo, r.Hash())
	if err != nil {
		return nil, err
	}
	if req.Commit == "" || req.Commit == head.Hash.String() {
		return head, nil
	}
	safeURL := redact.URL(req.URL)
	want, err := object.GetCommit(repo.Storer, plumbing.NewHash(req.Commit))
	if errors.Is(err, plumbing.ErrObjectNotFound) || errors.Is(err, plumbing.ErrInvalidType) || errors.Is(err, object.ErrUnsupportedObject) {
		return nil, errorKind(ErrCommitNotFound, "checkout %s: commit %s is not in the history of %s fetched from %s (was it force-pushed away, or pushed to another branch?)", req.Project, req.Commit, ref, safeURL)
	}
	if err != nil {
		return nil, corrupt(err)
	}
	ok, err := want.IsAncestor(head)
	if err != nil {
		return nil, corrupt(fmt.Errorf("walk history of %s: %w", ref, err))
	}
	if !ok {
		return nil, errorKind(ErrCommitNotFound, "checkout %s: commit %s is not in the history of %s (now at %s) fetched from %s (was it force-pushed away, or pushed to another branch?)", req.Project, req.Commit, ref, head.Hash, safeURL)
	}
	return want, nil
}

// peel follows annotated tags down to the commit they name.
func peel(repo *git.Repository, h plumbing.Hash) (*object.Commit, error) {
	for range 10 {
		obj, err := repo.Storer.EncodedObject(plumbing.AnyObject, h)
		if err != nil {
			return nil, corrupt(fmt.Errorf("read object %s: %w", h, err))
		}
		switch obj.Type() {
		case plumbing.CommitObject:
			c, err := object.DecodeCommit(repo.Storer, obj)
			if err != nil {
				return nil, corrupt(fmt.Errorf("decode commit %s: %w", h, err))
			}
			return c, nil
		case plumbing.TagObject:
			t, err := object.DecodeTag(repo.Storer, obj)
			if err != nil {
				return nil, corrupt(fmt.Errorf("decode tag %s: %w", h, err))
			}
			h = t.Target
		default:
			return nil, fmt.Errorf("ref points to a %s (%s), not a commit", obj.Type(), h)
		}
	}
	return nil, fmt.Errorf("tag chain at %s is too long", h)
}

// writeGitDir writes the work tree's .git (Request.GitDir) for commit,
// checked out from the remote ref stored locally as local.
func (c *Cache) writeGitDir(ctx context.Context, repo *git.Repository, dir string, req Request, commit *object.Commit, ref, local plumbing.ReferenceName, plan *gitDirPlan) error {
	spec := gitDirSpec{
		commit:  commit.Hash,
		when:    commit.Committer.When,
		shallow: commit.NumParents() > 0,
		ref:     ref,
		origin:  originURL(req.URL),
	}
	if ref.IsTag() {
		r, err := repo.Storer.Reference(local)
		if err != nil {
			return corrupt(fmt.Errorf("read %s: %w", local, err))
		}
		tags, target, err := tagChain(repo, r.Hash())
		if err != nil {
			return err
		}
		if target == commit.Hash {
			spec.refTarget, spec.tagObjects = r.Hash(), tags
		} else {
			spec.ref = "" // an older commit than the tag's: detached, no tag
		}
	}
	return writeGitDir(ctx, repo.Storer, dir, spec, plan)
}

// tagChain returns the annotated tag objects from h down to the commit they
// name, and that commit.
func tagChain(repo *git.Repository, h plumbing.Hash) ([]plumbing.Hash, plumbing.Hash, error) {
	var tags []plumbing.Hash
	for range 10 {
		obj, err := repo.Storer.EncodedObject(plumbing.AnyObject, h)
		if err != nil {
			return nil, h, corrupt(fmt.Errorf("read object %s: %w", h, err))
		}
		if obj.Type() != plumbing.TagObject {
			return tags, h, nil
		}
		t, err := object.DecodeTag(repo.Storer, obj)
		if err != nil {
			return nil, h, corrupt(fmt.Errorf("decode tag %s: %w", h, err))
		}
		tags = append(tags, h)
		h = t.Target
	}
	return nil, h, fmt.Errorf("tag chain at %s is too long", h)
}

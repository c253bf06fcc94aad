package source

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// PathFilter decides whether a changed file concerns a project
// (projects[].paths): a file counts when it matches an include pattern (every
// file when there are none) and no exclude pattern. Patterns are gitignore's,
// relative to the repository root, matched by go-git's gitignore package: a
// pattern without "/" matches a name at any depth ("*.md"), one with "/" is
// anchored at the root ("services/web/**", "docs/"), "**" spans directories,
// a pattern matching a directory matches everything in it, and "!p" takes
// back the files an earlier pattern of the same list matched (unlike in a
// .gitignore, also below a directory an earlier pattern matched).
//
// The zero PathFilter lets every file count. A PathFilter is immutable and
// safe for concurrent use.
type PathFilter struct {
	include, exclude gitignore.Matcher
}

// NewPathFilter returns the filter of the include and exclude patterns.
// Patterns are not checked here: config validation rejects malformed ones,
// and a malformed glob matches nothing.
func NewPathFilter(include, exclude []string) PathFilter {
	var f PathFilter
	if len(include) > 0 {
		f.include = matcher(include)
	}
	if len(exclude) > 0 {
		f.exclude = matcher(exclude)
	}
	return f
}

func matcher(patterns []string) gitignore.Matcher {
	ps := make([]gitignore.Pattern, len(patterns))
	for i, p := range patterns {
		ps[i] = gitignore.ParsePattern(p, nil)
	}
	return gitignore.NewMatcher(ps)
}

// Match reports whether file (slash-separated, relative to the repository
// root) counts.
func (f PathFilter) Match(file string) bool {
	parts := strings.Split(strings.Trim(file, "/"), "/")
	if f.include != nil && !matches(f.include, parts) {
		return false
	}
	return f.exclude == nil || !matches(f.exclude, parts)
}

// Any reports whether any of files counts.
func (f PathFilter) Any(files []string) bool {
	return slices.ContainsFunc(files, f.Match)
}

// matches reports whether m matches the file. go-git's patterns already
// match what is below a matched directory ("docs/", "services/web"); the
// file's parents are not tried one by one as git does for .gitignore, so that
// a later "!services/api/**" takes back files an earlier "services/**"
// matched, as users of path filters expect.
func matches(m gitignore.Matcher, parts []string) bool { return m.Match(parts, false) }

// ChangesRequest asks which files a branch push changed.
type ChangesRequest struct {
	// Project is the cache key, as in Request.
	Project string
	// URL and Auth reach the repository, as in Request.
	URL  string
	Auth Auth
	// Ref is the branch pushed (refs/heads/B).
	Ref string
	// Before and After are the push's `before` and `after` commits; Before
	// is all zeros for a new branch.
	Before, After string
	// Forced is the push's `forced`: Before may not be an ancestor of
	// After.
	Forced bool
	// DefaultBranch is the branch (refs/heads/main) a new branch or a
	// force-push is compared with: the files changed since the merge base
	// of After and its head.
	DefaultBranch string
}

// ErrNoBase is returned by ChangedFiles when there is nothing to compare the
// pushed commit with: a new or force-pushed default branch, or histories
// that share no commit.
var ErrNoBase = errors.New("no commit to compare the push with")

// Changes is what ChangedFiles found: the files changed and what they were
// compared with.
type Changes struct {
	// Files are the paths added, modified or deleted between Base and
	// After (both sides of a rename), sorted.
	Files []string
	// Base is the commit compared with: Before, or the merge base with the
	// default branch.
	Base string
}

// ChangedFiles fetches req.Ref (and the default branch when it needs it)
// into the project's cache and returns the files changed between the base
// and req.After: Before for an ordinary push, the merge base of After and
// the default branch's head for a new branch (Before all zeros), a
// force-push, or a Before the cache cannot find. It fetches exactly what a
// build's checkout would (the ref with its history), so the build that
// follows fetches little; ctx bounds the whole call, fetches included.
// ErrNoBase says there is no sensible base (the caller builds).
func (c *Cache) ChangedFiles(ctx context.Context, req ChangesRequest) (Changes, error) {
	r := Request{Project: req.Project, URL: req.URL, Ref: req.Ref, Commit: req.After, Auth: req.Auth}
	if err := r.validate(); err != nil {
		return Changes{}, err
	}
	after := strings.ToLower(req.After)
	if after == "" {
		return Changes{}, fmt.Errorf("changed files of %s: no pushed commit", req.Project)
	}
	unlock, err := c.lock(ctx, req.Project)
	if err != nil {
		return Changes{}, err
	}
	defer unlock()

	projDir := filepath.Join(c.opts.Dir, req.Project)
	repo, st, cloned, err := openOrInit(projDir)
	if err != nil {
		return Changes{}, err
	}
	defer st.Close()
	// Small fetches are stored loose, as the build's (which then fetches
	// nothing): the packs would otherwise grow by one per push. They are
	// packed by the build's checkout (maintain), not here, where the
	// delivery's answer waits.
	fs := fetchStorage{Storage: st, packDir: filepath.Join(projDir, "objects", "pack"), unpack: !cloned}
	if _, _, err := c.fetch(ctx, fs, r); err != nil {
		if cloned {
			_ = resetRepo(projDir)
		}
		return Changes{}, err
	}
	head, err := object.GetCommit(repo.Storer, plumbing.NewHash(after))
	if err != nil {
		return Changes{}, fmt.Errorf("changed files of %s: pushed commit %s: %w", req.Project, after, err)
	}

	base, err := c.base(ctx, repo, fs, req, head)
	if err != nil {
		return Changes{}, err
	}
	files, err := diffFiles(ctx, base, head)
	if err != nil {
		return Changes{}, fmt.Errorf("changed files of %s between %s and %s: %w", req.Project, base.Hash, head.Hash, err)
	}
	return Changes{Files: files, Base: base.Hash.String()}, nil
}

// base is the commit a push is compared with; see ChangedFiles.
func (c *Cache) base(ctx context.Context, repo *git.Repository, fs fetchStorage, req ChangesRequest, head *object.Commit) (*object.Commit, error) {
	before := strings.ToLower(req.Before)
	if !req.Forced && before != "" && strings.Trim(before, "0") != "" {
		if b, err := object.GetCommit(repo.Storer, plumbing.NewHash(before)); err == nil {
			return b, nil
		}
	}
	if req.DefaultBranch == "" || req.DefaultBranch == req.Ref {
		return nil, fmt.Errorf("%w: %s is the default branch", ErrNoBase, req.Ref)
	}
	def, local, err := c.fetch(ctx, fs, Request{Project: req.Project, URL: req.URL, Ref: req.DefaultBranch, Auth: req.Auth})
	if err != nil {
		return nil, err
	}
	ref, err := repo.Storer.Reference(local)
	if err != nil {
		return nil, fmt.Errorf("read %s after fetch: %w", def, err)
	}
	defHead, err := peel(repo, ref.Hash())
	if err != nil {
		return nil, err
	}
	bases, err := head.MergeBase(defHead)
	if err != nil {
		return nil, fmt.Errorf("merge base of %s and %s: %w", head.Hash, def, err)
	}
	if len(bases) == 0 {
		return nil, fmt.Errorf("%w: %s shares no history with %s", ErrNoBase, head.Hash, def)
	}
	return bases[0], nil
}

// diffFiles lists the paths that differ between the trees of a and b.
func diffFiles(ctx context.Context, a, b *object.Commit) ([]string, error) {
	at, err := a.Tree()
	if err != nil {
		return nil, err
	}
	bt, err := b.Tree()
	if err != nil {
		return nil, err
	}
	changes, err := object.DiffTreeWithOptions(ctx, at, bt, &object.DiffTreeOptions{})
	if err != nil {
		return nil, err
	}
	var files []string
	for _, ch := range changes {
		for _, name := range []string{ch.From.Name, ch.To.Name} {
			if name != "" {
				files = append(files, name)
			}
		}
	}
	slices.Sort(files)
	return slices.Compact(files), nil
}

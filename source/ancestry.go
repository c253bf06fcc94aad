package source

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// IsAncestor reports whether commit ancestor is reachable from commit
// descendant in project's cache (a commit is its own ancestor). It fetches
// nothing: a commit the cache does not hold makes the answer false. The
// pipeline uses it to skip a push of an older commit than one already built
// for the branch.
func (c *Cache) IsAncestor(ctx context.Context, project, ancestor, descendant string) (bool, error) {
	if !commitRE.MatchString(strings.ToLower(ancestor)) || !commitRE.MatchString(strings.ToLower(descendant)) {
		return false, nil
	}
	unlock, err := c.lock(ctx, project)
	if err != nil {
		return false, err
	}
	defer unlock()
	dir := filepath.Join(c.opts.Dir, project)
	if _, err := os.Stat(filepath.Join(dir, "config")); err != nil {
		return false, nil // never cloned: nothing is known
	}
	repo, st, _, err := openOrInit(dir)
	if err != nil {
		return false, err
	}
	defer st.Close()
	get := func(h string) (*object.Commit, error) {
		co, err := repo.CommitObject(plumbing.NewHash(strings.ToLower(h)))
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			return nil, nil
		}
		return co, err
	}
	a, err := get(ancestor)
	if err != nil || a == nil {
		return false, err
	}
	d, err := get(descendant)
	if err != nil || d == nil {
		return false, err
	}
	ok, err := a.IsAncestor(d)
	if err != nil {
		return false, fmt.Errorf("walk history of %s: %w", descendant, err)
	}
	return ok, nil
}

// NewestDescendant returns the first of candidates (commit hashes, in the
// caller's order of preference) that has commit as a proper ancestor in
// project's cache, and whether there is one. It fetches nothing: commits
// the cache does not hold are skipped, and a history the cache holds only in
// part is walked as far as it goes.
//
// It walks the history once, however many candidates there are (calling
// IsAncestor for each would walk it once per candidate): first commit's own
// ancestry, where any candidate found is older than commit and so cannot
// descend from it; then each remaining candidate's history, stopping at the
// commits of commit's ancestry, which cannot lead back to it.
func (c *Cache) NewestDescendant(ctx context.Context, project, commit string, candidates []string) (string, bool, error) {
	commit = strings.ToLower(commit)
	if !commitRE.MatchString(commit) || len(candidates) == 0 {
		return "", false, nil
	}
	unlock, err := c.lock(ctx, project)
	if err != nil {
		return "", false, err
	}
	defer unlock()
	dir := filepath.Join(c.opts.Dir, project)
	if _, err := os.Stat(filepath.Join(dir, "config")); err != nil {
		return "", false, nil // never cloned: nothing is known
	}
	repo, st, _, err := openOrInit(dir)
	if err != nil {
		return "", false, err
	}
	defer st.Close()
	w := historyWalk{ctx: ctx, parents: func(h plumbing.Hash) ([]plumbing.Hash, bool, error) {
		co, err := repo.CommitObject(h)
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("read commit %s: %w", h, err)
		}
		return co.ParentHashes, true, nil
	}}
	target := plumbing.NewHash(commit)
	if _, ok, err := w.parents(target); err != nil || !ok {
		return "", false, err
	}
	// Candidates that are commit itself or in its ancestry are older.
	left := make(map[plumbing.Hash]bool)
	for _, cand := range candidates {
		if h := plumbing.NewHash(strings.ToLower(cand)); h != target && commitRE.MatchString(strings.ToLower(cand)) {
			left[h] = true
		}
	}
	below := make(map[plumbing.Hash]bool) // commit and its ancestors
	if err := w.walk([]plumbing.Hash{target}, below, func(h plumbing.Hash) bool {
		delete(left, h)
		return len(left) == 0
	}); err != nil {
		return "", false, err
	}
	// From here on seen holds commits known not to lead to commit: its
	// proper ancestors, then what each candidate's walk visited in vain.
	seen := below
	delete(seen, target)
	for _, cand := range candidates {
		h := plumbing.NewHash(strings.ToLower(cand))
		if !left[h] {
			continue
		}
		found := false
		if err := w.walk([]plumbing.Hash{h}, seen, func(x plumbing.Hash) bool {
			found = x == target
			return found
		}); err != nil {
			return "", false, err
		}
		if found {
			return cand, true, nil
		}
	}
	return "", false, nil
}

// historyWalk walks commits towards their ancestors.
type historyWalk struct {
	ctx context.Context
	// parents returns h's parents; false when the cache lacks h.
	parents func(h plumbing.Hash) ([]plumbing.Hash, bool, error)
}

// walk visits the commits reachable from start that seen does not hold,
// each once, adding them to seen, until visit returns true (the walk then
// stops) or none is left.
func (w historyWalk) walk(start []plumbing.Hash, seen map[plumbing.Hash]bool, visit func(plumbing.Hash) bool) error {
	queue := slices.Clone(start)
	for n := 0; len(queue) > 0; n++ {
		if n%1024 == 0 && w.ctx.Err() != nil {
			return context.Cause(w.ctx)
		}
		h := queue[0]
		queue = queue[1:]
		if seen[h] {
			continue
		}
		seen[h] = true
		if visit(h) {
			return nil
		}
		parents, ok, err := w.parents(h)
		if err != nil {
			return err
		}
		if ok {
			queue = append(queue, parents...)
		}
	}
	return nil
}

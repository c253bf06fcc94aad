package source

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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

package source

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"path/filepath"
	"strings"

	git "github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/slipwayci/slipway/internal/redact"
)

// maxModuleNesting bounds submodules of submodules: a repository whose
// submodules nest deeper (or refer to each other in a cycle) is refused.
const maxModuleNesting = 8

// modulesDirName is the directory of a project's cache holding one bare
// repository per submodule URL, as git keeps .git/modules.
const modulesDirName = "modules"

// gitlink is a submodule entry met while writing a tree: the empty
// directory made for it and the commit the tree pins.
type gitlink struct {
	// rel is the slash path inside the work tree, dir the directory.
	rel, dir string
	commit   plumbing.Hash
	// depth is the number of path components of rel.
	depth int
}

// writeSubmodules checks out the submodules w met while writing tree (a
// commit's root tree, fetched from parentURL with auth) into their
// directories, each at the commit the tree pins, fetched into the project's
// cache under modules/. The submodules' files count against the same
// limits as the repository's (w's counters). A URL in .gitmodules is
// confined as the repository's own: relative ones resolve against
// parentURL, file:// and local paths only when parentURL is file:// or a
// local path, and only http(s), ssh and git otherwise; credentials go only
// to the host of parentURL.
func (c *Cache) writeSubmodules(ctx context.Context, projDir, parentURL string, auth Auth, tree *object.Tree, w *treeWriter, nesting int) error {
	links := w.links
	w.links = nil
	if len(links) == 0 {
		return nil
	}
	if nesting >= maxModuleNesting {
		return errorKind(ErrTooLarge, "checkout of %s: submodules nest deeper than %d levels at %s", w.commit, maxModuleNesting, links[0].rel)
	}
	modules, err := readModules(tree)
	if err != nil {
		return fmt.Errorf("checkout of %s: %w", w.commit, err)
	}
	for _, l := range links {
		sm, ok := modules[strings.TrimPrefix(l.rel, w.prefix)]
		if !ok {
			return fmt.Errorf("checkout of %s: submodule %s has no url in .gitmodules (add a [submodule] entry with its path, or set submodules: false)", w.commit, l.rel)
		}
		subURL, err := moduleURL(parentURL, sm.URL)
		if err != nil {
			return errorKind(ErrUnsafePath, "checkout of %s: submodule %s: %v", w.commit, l.rel, err)
		}
		subAuth := Auth{}
		if sameHost(parentURL, subURL) {
			subAuth = auth
		}
		if err := c.writeSubmodule(ctx, projDir, subURL, subAuth, l, w, nesting); err != nil {
			return err
		}
	}
	return nil
}

// writeSubmodule fetches and writes one submodule (and its own).
func (c *Cache) writeSubmodule(ctx context.Context, projDir, subURL string, auth Auth, l gitlink, w *treeWriter, nesting int) error {
	dir := filepath.Join(projDir, modulesDirName, moduleKey(subURL))
	repo, st, cloned, err := openOrInit(dir)
	if err != nil {
		return err
	}
	defer st.Close()
	// As the project's own cache: a small fetch is stored loose, and
	// Checkout's maintenance packs and repacks it (maintain).
	fs := fetchStorage{Storage: st, packDir: filepath.Join(dir, "objects", "pack"), unpack: !cloned}
	if err := c.fetchCommit(ctx, fs, subURL, auth, l.commit); err != nil {
		return fmt.Errorf("submodule %s: %w", l.rel, err)
	}
	// A ref per pinned commit, dated by its last checkout: the commit
	// stays while in use, whatever its branches do (see expireRefs).
	pin := plumbing.ReferenceName("refs/slipway/" + l.commit.String())
	if err := st.SetReference(plumbing.NewHashReference(pin, l.commit)); err != nil {
		return fmt.Errorf("submodule %s: %w", l.rel, err)
	}
	touchRef(fs.packDir, pin)
	commit, err := object.GetCommit(repo.Storer, l.commit)
	if err != nil {
		return corrupt(fmt.Errorf("submodule %s: read commit %s: %w", l.rel, l.commit, err))
	}
	tree, err := commit.Tree()
	if err != nil {
		return corrupt(fmt.Errorf("submodule %s: read tree of %s: %w", l.rel, l.commit, err))
	}
	// The submodule's objects are in its own store and never go into the
	// checkout's .git; its files count against the repository's limits.
	sub := treeWriter{ctx: ctx, s: repo.Storer, opts: w.opts, commit: w.commit, files: w.files, bytes: w.bytes,
		submodules: true, prefix: l.rel + "/"}
	err = sub.write(l.dir, tree, l.depth, l.rel)
	if err == nil {
		err = c.writeSubmodules(ctx, projDir, subURL, auth, tree, &sub, nesting+1)
	}
	w.files, w.bytes = sub.files, sub.bytes
	return err
}

// fetchCommit brings commit into st from url: the remote's branches and
// tags first (what `git submodule update` fetches), then, when the commit
// is not among them, the commit by its id (servers such as GitHub's allow
// it).
func (c *Cache) fetchCommit(ctx context.Context, st fetchStorage, rawURL string, auth Auth, commit plumbing.Hash) error {
	has := func() bool { return st.HasEncodedObject(commit) == nil }
	if has() {
		return nil
	}
	safeURL := redact.URL(rawURL)
	am, err := authMethod(rawURL, auth)
	if err != nil {
		return fmt.Errorf("fetch %s: %w", safeURL, err)
	}
	fctx, cancel := context.WithTimeoutCause(ctx, c.opts.FetchTimeout, errFetchDeadline)
	defer cancel()
	remote := git.NewRemote(st, &gitconfig.RemoteConfig{Name: "origin", URLs: []string{transportURL(rawURL)}})
	for _, spec := range []gitconfig.RefSpec{
		"+refs/heads/*:refs/remotes/origin/*",
		gitconfig.RefSpec(fmt.Sprintf("+%s:refs/slipway/%s", commit, commit)),
	} {
		err := remote.FetchContext(fctx, &git.FetchOptions{RemoteName: "origin", RefSpecs: []gitconfig.RefSpec{spec}, Tags: git.AllTags, Auth: am, Force: true})
		switch {
		case err == nil, errors.Is(err, git.NoErrAlreadyUpToDate), errors.Is(err, git.NoMatchingRefSpecError{}), errors.Is(err, transport.ErrEmptyRemoteRepository):
		default:
			if has() {
				return nil
			}
			if strings.Contains(spec.String(), commit.String()) {
				// A server refusing a fetch by id: the commit is not on
				// any branch or tag.
				return errorKind(ErrCommitNotFound, "fetch %s: commit %s is on no branch or tag and the server does not serve it by id (%v)", safeURL, commit, redact.Text(err.Error(), auth.Token))
			}
			return remoteError(ctx, fctx, "fetch", safeURL, c.opts.FetchTimeout, err, auth.Token)
		}
		if has() {
			return nil
		}
	}
	return errorKind(ErrCommitNotFound, "fetch %s: commit %s is on no branch or tag of the submodule's repository", safeURL, commit)
}

// readModules returns the submodules of .gitmodules in tree by path; none
// when there is no .gitmodules.
func readModules(tree *object.Tree) (map[string]*gitconfig.Submodule, error) {
	f, err := tree.File(".gitmodules")
	if errors.Is(err, object.ErrFileNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read .gitmodules: %w", err)
	}
	if f.Size > 1<<20 {
		return nil, fmt.Errorf(".gitmodules is %d bytes: refusing one over 1 MiB", f.Size)
	}
	r, err := f.Reader()
	if err != nil {
		return nil, fmt.Errorf("read .gitmodules: %w", err)
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read .gitmodules: %w", err)
	}
	m := gitconfig.NewModules()
	if err := m.Unmarshal(data); err != nil {
		return nil, fmt.Errorf("parse .gitmodules: %w", err)
	}
	byPath := make(map[string]*gitconfig.Submodule, len(m.Submodules))
	for _, sm := range m.Submodules {
		byPath[path.Clean(sm.Path)] = sm
	}
	return byPath, nil
}

// moduleURL resolves a .gitmodules url against the repository's URL, as
// git does ("../lib.git" next to it), and confines it: a local repository
// only for a local parent, otherwise http(s), ssh or git only.
func moduleURL(parent, raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", errors.New("empty url in .gitmodules")
	}
	if strings.HasPrefix(raw, "-") || strings.ContainsAny(raw, "\n\r\x00") {
		return "", fmt.Errorf("url %q in .gitmodules refused", raw)
	}
	resolved := raw
	if strings.HasPrefix(raw, "./") || strings.HasPrefix(raw, "../") {
		var err error
		if resolved, err = relativeURL(parent, raw); err != nil {
			return "", err
		}
	}
	ep, err := transport.NewEndpoint(resolved)
	if err != nil {
		return "", fmt.Errorf("url %s in .gitmodules: %w", redact.URL(resolved), err)
	}
	pep, err := transport.NewEndpoint(parent)
	if err != nil {
		return "", fmt.Errorf("repository url: %w", err)
	}
	switch ep.Protocol {
	case "http", "https", "ssh", "git":
	case "file":
		if pep.Protocol != "file" {
			return "", fmt.Errorf("url %s in .gitmodules is a local repository, allowed only for a repository itself fetched from file://", redact.URL(resolved))
		}
	default:
		return "", fmt.Errorf("url %s in .gitmodules uses %s: only http(s), ssh and git are fetched", redact.URL(resolved), ep.Protocol)
	}
	return resolved, nil
}

// relativeURL resolves rel ("./x", "../x") against the parent's URL path
// (scheme URLs, scp-like "host:path" and local paths), refusing one that
// climbs above the path's first component, as git does.
func relativeURL(parent, rel string) (string, error) {
	join := func(p string) (string, error) {
		abs := strings.HasPrefix(p, "/")
		j := path.Join(strings.Trim(p, "/"), rel)
		if j == ".." || strings.HasPrefix(j, "../") {
			return "", fmt.Errorf("url %q in .gitmodules climbs above the repository's host", rel)
		}
		if abs {
			j = "/" + j
		}
		return j, nil
	}
	if u, err := url.Parse(parent); err == nil && u.Scheme != "" && strings.Contains(parent, "://") {
		p, err := join(u.Path)
		if err != nil {
			return "", err
		}
		if !strings.HasPrefix(p, "/") {
			p = "/" + p
		}
		u.Path, u.RawPath = p, ""
		return u.String(), nil
	}
	if i := strings.Index(parent, ":"); i > 0 && !strings.Contains(parent[:i], "/") {
		p, err := join(parent[i+1:])
		if err != nil {
			return "", err
		}
		return parent[:i+1] + p, nil
	}
	return join(parent)
}

// sameHost reports whether two repository URLs are on one host (and
// scheme), so that credentials of one may go to the other.
func sameHost(a, b string) bool {
	ea, err := transport.NewEndpoint(a)
	if err != nil {
		return false
	}
	eb, err := transport.NewEndpoint(b)
	if err != nil {
		return false
	}
	return ea.Protocol == eb.Protocol && strings.EqualFold(ea.Host, eb.Host) && ea.Port == eb.Port
}

// moduleKey is the cache directory name of a submodule's repository.
func moduleKey(u string) string {
	sum := sha256.Sum256([]byte(u))
	return hex.EncodeToString(sum[:12])
}

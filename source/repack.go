package source

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// go-git's Repository.RepackObjects and Repository.Prune are not used: their
// walk of the refs fails on the first symlink or submodule of a tree ("unknown
// object ... *object.Blob": it decodes every non-regular tree entry as a tree
// or commit), RepackObjects drops every unreachable packed object at once
// (there is no grace period for those) and writes the new pack through
// go-git's PackWriter (see fetchStorage). repackAll does what git's
// `repack -a -d --unpack-unreachable=<expiry>` and `prune --expire` do, with
// this package's pack writer.

// hashSet is a set of objects.
type hashSet map[plumbing.Hash]struct{}

func (s hashSet) has(h plumbing.Hash) bool {
	_, ok := s[h]
	return ok
}

// reachable returns every object reachable from a ref of st: commits and
// their whole history, trees, blobs and annotated tags. A gitlink (a
// submodule's commit, kept in another repository) is not followed. A missing
// or unreadable object is an error: a cache that cannot be walked is not
// repacked. The walk keeps a stack, not the call stack, so a long history
// costs no deep recursion; ctx is checked as it goes.
func reachable(ctx context.Context, st *filesystem.Storage) (hashSet, error) {
	seen := hashSet{}
	var stack []plumbing.Hash
	push := func(h plumbing.Hash) {
		if !seen.has(h) {
			seen[h] = struct{}{}
			stack = append(stack, h)
		}
	}
	refs, err := st.IterReferences()
	if err != nil {
		return nil, fmt.Errorf("list refs: %w", err)
	}
	err = refs.ForEach(func(r *plumbing.Reference) error {
		if r.Type() == plumbing.HashReference {
			push(r.Hash())
		}
		return nil
	})
	refs.Close()
	if err != nil {
		return nil, fmt.Errorf("list refs: %w", err)
	}
	for n := 0; len(stack) > 0; n++ {
		if n%1024 == 0 {
			if err := context.Cause(ctx); err != nil {
				return nil, err
			}
		}
		h := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		obj, err := st.EncodedObject(plumbing.AnyObject, h)
		if err != nil {
			return nil, fmt.Errorf("read reachable object %s: %w", h, err)
		}
		switch obj.Type() {
		case plumbing.CommitObject:
			c, err := object.DecodeCommit(st, obj)
			if err != nil {
				return nil, fmt.Errorf("decode commit %s: %w", h, err)
			}
			push(c.TreeHash)
			for _, p := range c.ParentHashes {
				push(p)
			}
		case plumbing.TreeObject:
			t, err := object.DecodeTree(st, obj)
			if err != nil {
				return nil, fmt.Errorf("decode tree %s: %w", h, err)
			}
			for _, e := range t.Entries {
				switch e.Mode {
				case filemode.Submodule:
				case filemode.Dir:
					push(e.Hash)
				default: // blobs: files and symlinks, read by the encoder
					seen[e.Hash] = struct{}{}
				}
			}
		case plumbing.TagObject:
			t, err := object.DecodeTag(st, obj)
			if err != nil {
				return nil, fmt.Errorf("decode tag %s: %w", h, err)
			}
			push(t.Target)
		}
	}
	return seen, nil
}

// packFile is one pack of a repository.
type packFile struct {
	hash  plumbing.Hash
	mtime time.Time
	size  int64
	// keep: a .keep file says git must leave the pack alone.
	keep bool
}

// listPacks lists the packs in packDir.
func listPacks(packDir string) ([]packFile, error) {
	entries, err := os.ReadDir(packDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list packs: %w", err)
	}
	var packs []packFile
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, "pack-") || !strings.HasSuffix(name, ".pack") {
			continue
		}
		h, ok := hashOf(strings.TrimSuffix(strings.TrimPrefix(name, "pack-"), ".pack"))
		if !ok {
			continue
		}
		fi, err := e.Info()
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list packs: %w", err)
		}
		_, kerr := os.Stat(filepath.Join(packDir, "pack-"+h.String()+".keep"))
		packs = append(packs, packFile{hash: h, mtime: fi.ModTime(), size: fi.Size(), keep: kerr == nil})
	}
	return packs, nil
}

// hashOf parses a 40-hex object id.
func hashOf(s string) (plumbing.Hash, bool) {
	if len(s) != 40 || !isHex(s) {
		return plumbing.ZeroHash, false
	}
	return plumbing.NewHash(s), true
}

// packHashes lists the objects of the pack whose index is idxPath.
func packHashes(idxPath string) ([]plumbing.Hash, error) {
	f, err := os.Open(idxPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	idx := idxfile.NewMemoryIndex()
	if err := idxfile.NewDecoder(bufio.NewReader(f)).Decode(idx); err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Base(idxPath), err)
	}
	it, err := idx.Entries()
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []plumbing.Hash
	for {
		e, err := it.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", filepath.Base(idxPath), err)
		}
		out = append(out, e.Hash)
	}
}

// repackStats is what one repackAll did: the repository before and after.
type repackStats struct {
	packsBefore, packsAfter         int
	packBytesBefore, packBytesAfter int64
	looseBefore, looseAfter         int
	// objects is the number of objects in the new packs.
	objects int
	// kept is the number of unreachable objects of the old packs younger
	// than the expiry, written loose to wait for it.
	kept int
	// pruned is the number of unreachable objects deleted, packed or loose.
	pruned int
	// packs are the new packs' checksums.
	packs []string
}

// repackAll folds every pack of the repository at objDir, and its reachable
// loose objects, into new packs (objects over largeObject into a second,
// without deltas, as packLoose) and removes the old ones, as git's
// `repack -a -d` does. Unreachable objects go as git's gc deals with them:
// one in an old pack older than expire (the pack's time counts) is dropped,
// a younger one is written loose, dated as its pack, and a loose one older
// than expire is deleted; a zero expire keeps every unreachable object (in
// the new pack). Packs with a .keep file are left alone.
//
// Nothing is removed before what replaces it is in place: the new packs
// hold every object kept (their indexes are checked) and the young
// unreachable ones are loose, before an old pack goes. A failure leaves
// every object readable, at worst twice. The caller holds the project's
// lock; no other reader or writer may use the repository meanwhile.
func repackAll(ctx context.Context, st *filesystem.Storage, objDir string, expire time.Time) (repackStats, error) {
	var stats repackStats
	packDir := filepath.Join(objDir, "pack")
	old, err := listPacks(packDir)
	if err != nil {
		return stats, err
	}
	for _, p := range old {
		stats.packsBefore++
		stats.packBytesBefore += p.size
	}
	loose, err := looseHashes(st)
	if err != nil {
		return stats, err
	}
	stats.looseBefore = len(loose)
	reach, err := reachable(ctx, st)
	if err != nil {
		return stats, fmt.Errorf("walk the refs: %w", err)
	}
	if len(reach) == 0 {
		return stats, errors.New("no ref reaches any object: not repacked")
	}

	// The unreachable objects of the old packs, each with the newest time
	// of a pack holding it.
	unreachable := map[plumbing.Hash]time.Time{}
	for _, p := range old {
		if p.keep {
			continue
		}
		hs, err := packHashes(filepath.Join(packDir, "pack-"+p.hash.String()+".idx"))
		if err != nil {
			return stats, err
		}
		for _, h := range hs {
			if t, ok := unreachable[h]; !reach.has(h) && (!ok || p.mtime.After(t)) {
				unreachable[h] = p.mtime
			}
		}
	}
	hashes := make([]plumbing.Hash, 0, len(reach))
	for h := range reach {
		hashes = append(hashes, h)
	}
	if expire.IsZero() {
		for h := range unreachable {
			hashes = append(hashes, h)
		}
		clear(unreachable)
	}
	if err := context.Cause(ctx); err != nil {
		return stats, err
	}
	packs, err := packObjects(st, packDir, hashes)
	for _, p := range packs {
		stats.packs = append(stats.packs, p.hash.String())
	}
	if err != nil {
		return stats, err
	}
	stats.objects = len(hashes)
	for _, p := range packs {
		if err := p.verify(); err != nil {
			return stats, err
		}
	}
	for h, mtime := range unreachable {
		if mtime.Before(expire) {
			stats.pruned++
			continue
		}
		if err := loosen(st, objDir, h, mtime); err != nil {
			return stats, err
		}
		stats.kept++
	}

	// The old packs go, each .pack first: go-git lists packs by it.
	fresh := map[plumbing.Hash]bool{}
	for _, p := range packs {
		fresh[p.hash] = true
	}
	for _, p := range old {
		if p.keep || fresh[p.hash] {
			continue
		}
		base := filepath.Join(packDir, "pack-"+p.hash.String())
		for _, ext := range []string{".pack", ".idx", ".rev", ".bitmap", ".mtimes"} {
			if err := os.Remove(base + ext); err != nil && !errors.Is(err, os.ErrNotExist) {
				st.Reindex()
				return stats, fmt.Errorf("remove old pack: %w", err)
			}
		}
	}
	st.Reindex()
	removeTemporary(objDir, time.Now().Add(-time.Hour))

	// Loose objects: the reachable ones are packed, unreachable ones over
	// the expiry go.
	var gone []plumbing.Hash
	for _, h := range loose {
		switch {
		case reach.has(h):
			gone = append(gone, h)
		case !expire.IsZero():
			if t, err := st.LooseObjectTime(h); err == nil && t.Before(expire) {
				gone = append(gone, h)
				stats.pruned++
			}
		}
	}
	_, err = deleteLoose(st, objDir, gone)

	after, lerr := listPacks(packDir)
	for _, p := range after {
		stats.packsAfter++
		stats.packBytesAfter += p.size
	}
	left, llerr := looseHashes(st)
	stats.looseAfter = len(left)
	return stats, errors.Join(err, lerr, llerr)
}

// pruneLoose deletes the loose objects that no ref reaches and that are
// older than expire, as git's `prune --expire` does, and returns how many.
func pruneLoose(ctx context.Context, st *filesystem.Storage, objDir string, expire time.Time) (int, error) {
	reach, err := reachable(ctx, st)
	if err != nil {
		return 0, fmt.Errorf("walk the refs: %w", err)
	}
	if len(reach) == 0 {
		return 0, errors.New("no ref reaches any object: nothing pruned")
	}
	loose, err := looseHashes(st)
	if err != nil {
		return 0, err
	}
	var gone []plumbing.Hash
	for _, h := range loose {
		if t, err := st.LooseObjectTime(h); err == nil && !reach.has(h) && t.Before(expire) {
			gone = append(gone, h)
		}
	}
	return deleteLoose(st, objDir, gone)
}

// looseHashes lists the loose objects of st.
func looseHashes(st *filesystem.Storage) ([]plumbing.Hash, error) {
	var out []plumbing.Hash
	err := st.ForEachObjectHash(func(h plumbing.Hash) error {
		out = append(out, h)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list loose objects: %w", err)
	}
	return out, nil
}

// deleteLoose removes the loose objects hashes, and the fan-out directories
// they leave empty, and returns how many it removed.
func deleteLoose(st *filesystem.Storage, objDir string, hashes []plumbing.Hash) (int, error) {
	removed := 0
	fanout := make(map[string]bool)
	var err error
	for _, h := range hashes {
		if derr := st.DeleteLooseObject(h); derr != nil && !errors.Is(derr, os.ErrNotExist) {
			err = fmt.Errorf("remove loose object %s: %w", h, derr)
			break
		}
		removed++
		fanout[h.String()[:2]] = true
	}
	for d := range fanout {
		_ = os.Remove(filepath.Join(objDir, d)) // fails unless empty
	}
	return removed, err
}

// loosen writes the packed object h as a loose object dated mtime, streamed
// (an object over largeObject is never whole in memory, unless stored as a
// delta), so that it outlives its pack; a loose copy already there is only
// dated mtime when that is newer.
func loosen(st *filesystem.Storage, objDir string, h plumbing.Hash, mtime time.Time) error {
	path := filepath.Join(objDir, h.String()[:2], h.String()[2:])
	if fi, err := os.Stat(path); err == nil {
		if fi.ModTime().Before(mtime) {
			return os.Chtimes(path, mtime, mtime)
		}
		return nil
	}
	obj, err := st.EncodedObject(plumbing.AnyObject, h)
	if err != nil {
		return fmt.Errorf("keep unreachable object %s loose: %w", h, err)
	}
	if _, err := st.SetEncodedObject(obj); err != nil {
		return fmt.Errorf("keep unreachable object %s loose: %w", h, err)
	}
	return os.Chtimes(path, mtime, mtime)
}

// removeTemporary removes what an interrupted write left (temporary packs,
// indexes and loose objects) older than before, as git's gc does.
func removeTemporary(objDir string, before time.Time) {
	dirs, _ := filepath.Glob(filepath.Join(objDir, "[0-9a-f][0-9a-f]"))
	dirs = append(dirs, filepath.Join(objDir, "pack"))
	for _, d := range dirs {
		tmps, _ := filepath.Glob(filepath.Join(d, "tmp_*"))
		for _, t := range tmps {
			if fi, err := os.Lstat(t); err == nil && fi.Mode().IsRegular() && fi.ModTime().Before(before) {
				_ = os.Remove(t)
			}
		}
	}
}

// touchRef dates the loose ref name of the repository whose pack directory
// is packDir now: a fetch brought it (unchanged or not), and expireRefs
// goes by that date.
func touchRef(packDir string, name plumbing.ReferenceName) {
	now := time.Now()
	_ = os.Chtimes(filepath.Join(filepath.Dir(filepath.Dir(packDir)), filepath.FromSlash(name.String())), now, now)
}

// expireRefs deletes the refs of the repository in dir that no fetch has
// brought since before (a loose ref's time is when one last did: see
// touchRef), but never the newest one, and returns how many it deleted:
// what only a deleted branch, a closed pull request or a tag built long ago
// reaches can then be pruned, and the next build of one fetches it again.
// Refs in packed-refs (go-git writes none) are left.
func expireRefs(dir string, before time.Time) (int, error) {
	type ref struct {
		path  string
		mtime time.Time
	}
	var refs []ref
	err := filepath.WalkDir(filepath.Join(dir, "refs"), func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil || !d.Type().IsRegular() || strings.HasSuffix(p, ".lock") {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		refs = append(refs, ref{p, fi.ModTime()})
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("list refs: %w", err)
	}
	newest := 0
	for i, r := range refs {
		if r.mtime.After(refs[newest].mtime) {
			newest = i
		}
	}
	n := 0
	for i, r := range refs {
		if i == newest || !r.mtime.Before(before) {
			continue
		}
		if err := os.Remove(r.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return n, fmt.Errorf("expire ref: %w", err)
		}
		n++
	}
	return n, nil
}

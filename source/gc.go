package source

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/rs/zerolog"
)

// Defaults of Options' clone-cache maintenance, git's own.
const (
	// DefaultGCAuto is Options.GCAuto's: git's gc.auto.
	DefaultGCAuto = 6700
	// DefaultGCAutoPackLimit is Options.GCAutoPackLimit's: git's
	// gc.autoPackLimit.
	DefaultGCAutoPackLimit = 50
	// DefaultGCPruneExpire is Options.GCPruneExpire's: git's
	// gc.pruneExpire, "2.weeks.ago".
	DefaultGCPruneExpire = 14 * 24 * time.Hour
	// DefaultGCRefExpire is Options.GCRefExpire's: git's gc.reflogExpire.
	DefaultGCRefExpire = 90 * 24 * time.Hour
)

// gcPackWindow is the delta search window of the pack of loose objects,
// git's pack.window.
const gcPackWindow = 10

// gcSampleTarget is how many loose objects the estimate expects to see in
// its sample when the cache is at the threshold: what git's sample of
// objects/17 holds at gc.auto = 6700. A smaller threshold samples more
// directories, so that one set in a test is decided exactly.
const gcSampleTarget = 26

// looseEstimate estimates the number of loose objects under objDir as git's
// gc --auto does: it counts those of a sample of the 256 fan-out directories,
// starting at objects/17, and extrapolates. The sample is one directory at
// git's threshold (6700) and more the smaller threshold is, up to all 256
// (an exact count) at gcSampleTarget or below.
func looseEstimate(objDir string, threshold int) (int, error) {
	dirs := min(max((256*gcSampleTarget+threshold-1)/max(threshold, 1), 1), 256)
	n := 0
	for i := range dirs {
		entries, err := os.ReadDir(filepath.Join(objDir, fmt.Sprintf("%02x", (0x17+i)%256)))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("count loose objects: %w", err)
		}
		for _, e := range entries {
			if e.Type().IsRegular() && len(e.Name()) == 38 && isHex(e.Name()) {
				n++
			}
		}
	}
	return n * 256 / dirs, nil
}

func isHex(s string) bool {
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// gcLogName is the file in a repository that holds the error of its last
// failed maintenance, as git's gc.log: while it is younger than
// gcLogExpiry, the repository is not maintained again.
const (
	gcLogName   = "gc.log"
	gcLogExpiry = 24 * time.Hour
)

// maintain is git's gc --auto for the project's cache and each of its
// submodules' caches (modules/), run by Checkout under the project's lock
// once the work tree is written: a repository with more packs than
// Options.GCAutoPackLimit is repacked into one (repackAll), one with more
// loose objects than Options.GCAuto has them packed (packLoose), and
// either first deletes the refs no fetch brought for Options.GCRefExpire
// (expireRefs) and prunes the unreachable objects older than
// Options.GCPruneExpire.
// What it did is logged with before and after figures. A failure is logged,
// not returned (the checkout is done), leaves every object readable, and
// pauses the repository's maintenance for gcLogExpiry (its gc.log says
// why).
func (c *Cache) maintain(ctx context.Context, project, projDir string) {
	repos := []string{projDir}
	mods, _ := os.ReadDir(filepath.Join(projDir, modulesDirName))
	for _, m := range mods {
		if m.IsDir() {
			repos = append(repos, filepath.Join(projDir, modulesDirName, m.Name()))
		}
	}
	for _, dir := range repos {
		if ctx.Err() != nil {
			return
		}
		log := zerolog.Ctx(ctx).With().Str("project", project).Logger()
		if dir != projDir {
			log = log.With().Str("submodule_cache", modulesDirName+"/"+filepath.Base(dir)).Logger()
		}
		c.maintainRepo(ctx, &log, dir)
	}
}

// maintainRepo is maintain for the repository in dir.
func (c *Cache) maintainRepo(ctx context.Context, log *zerolog.Logger, dir string) {
	objDir := filepath.Join(dir, "objects")
	if _, err := os.Stat(objDir); err != nil {
		return // no repository (a failed first clone)
	}
	if fi, err := os.Stat(filepath.Join(dir, gcLogName)); err == nil && time.Since(fi.ModTime()) < gcLogExpiry {
		return
	}
	repack := false
	if c.opts.GCAutoPackLimit >= 0 {
		packs, err := listPacks(filepath.Join(objDir, "pack"))
		if err != nil {
			log.Warn().Err(err).Msg("git cache: cannot count packs")
			return
		}
		n := 0
		for _, p := range packs {
			if !p.keep {
				n++
			}
		}
		repack = n > c.opts.GCAutoPackLimit
	}
	packTheLoose := false
	if !repack && c.opts.GCAuto >= 0 {
		n, err := looseEstimate(objDir, c.opts.GCAuto)
		if err != nil {
			log.Warn().Err(err).Msg("git cache: cannot count loose objects")
			return
		}
		packTheLoose = n > c.opts.GCAuto
	}
	if !repack && !packTheLoose {
		return
	}
	var expire time.Time // zero: never
	if c.opts.GCPruneExpire > 0 {
		expire = time.Now().Add(-c.opts.GCPruneExpire)
	}
	start := time.Now()
	expired := 0
	if c.opts.GCRefExpire > 0 {
		var err error
		if expired, err = expireRefs(dir, start.Add(-c.opts.GCRefExpire)); err != nil {
			failed(ctx, log.Warn().Err(err).Int("refs_expired", expired), dir, "expiring old refs failed", err)
			return
		}
	}
	st := openStorage(dir)
	defer st.Close()
	if repack {
		stats, err := repackAll(ctx, st, objDir, expire)
		ev := log.Info()
		if err != nil {
			ev = log.Warn().Err(err)
		}
		ev = ev.Int("packs_before", stats.packsBefore).Int("packs_after", stats.packsAfter).
			Int64("pack_bytes_before", stats.packBytesBefore).Int64("pack_bytes_after", stats.packBytesAfter).
			Int("loose_before", stats.looseBefore).Int("loose_after", stats.looseAfter).
			Int("objects", stats.objects).Int("unreachable_kept", stats.kept).Int("pruned", stats.pruned).Int("refs_expired", expired).
			Strs("packs", stats.packs).Dur("duration", time.Since(start))
		if err != nil {
			failed(ctx, ev, dir, "repacking failed", err)
			return
		}
		ev.Msg("git cache: repacked")
		_ = os.Remove(filepath.Join(dir, gcLogName)) // an expired one
		return
	}
	pruned := 0
	if !expire.IsZero() {
		var err error
		if pruned, err = pruneLoose(ctx, st, objDir, expire); err != nil {
			failed(ctx, log.Warn().Err(err).Int("pruned", pruned), dir, "pruning unreachable objects failed", err)
			return
		}
	}
	stats, err := packLoose(st, filepath.Join(objDir, "pack"))
	ev := log.Info()
	if err != nil {
		ev = log.Warn().Err(err)
	}
	ev = ev.Int("loose_objects", stats.loose).Int("removed", stats.removed).Int("pruned", pruned).Int("refs_expired", expired).
		Strs("packs", stats.packs).Dur("duration", time.Since(start))
	if err != nil {
		failed(ctx, ev, dir, "packing loose objects failed", err)
		return
	}
	ev.Msg("git cache: packed loose objects")
	_ = os.Remove(filepath.Join(dir, gcLogName)) // an expired one
}

// failed logs a failed maintenance of the repository in dir (what), which
// lost nothing, and writes its gc.log so that it pauses, as git's gc --auto
// does; a canceled one is simply tried again.
func failed(ctx context.Context, ev *zerolog.Event, dir, what string, err error) {
	if ctx.Err() != nil {
		ev.Msg("git cache: " + what + " (canceled); nothing is lost, the next checkout tries again")
		return
	}
	logPath := filepath.Join(dir, gcLogName)
	_ = os.WriteFile(logPath, []byte(time.Now().UTC().Format(time.RFC3339)+" "+what+": "+err.Error()+"\n"), 0o600)
	ev.Str("gc_log", logPath).Msg("git cache: " + what + "; nothing is lost; this cache is not maintained again for a day, or until its gc.log is removed")
}

// gcStats is what one packLoose did.
type gcStats struct {
	loose   int      // loose objects found
	removed int      // loose objects removed, now packed
	packs   []string // the new packs' checksums
}

// packLoose writes the loose objects of st into new packs (packObjects), as
// git's repack -d does without -a, and removes them. Existing packs are left
// alone.
func packLoose(st *filesystem.Storage, packDir string) (gcStats, error) {
	var stats gcStats
	hashes, err := looseHashes(st)
	if err != nil {
		return stats, err
	}
	stats.loose = len(hashes)
	packs, err := packObjects(st, packDir, hashes)
	for _, p := range packs {
		stats.packs = append(stats.packs, p.hash.String())
		if err != nil {
			continue // what is packed stays loose too: harmless
		}
		if err = p.verify(); err == nil {
			var n int
			n, err = deleteLoose(st, filepath.Dir(packDir), p.hashes)
			stats.removed += n
		}
	}
	return stats, err
}

// newPack is a pack written by packObjects and the objects put in it.
type newPack struct {
	hash   plumbing.Hash
	idx    *idxfile.MemoryIndex
	hashes []plumbing.Hash
}

// verify checks that the index of the pack, now in place, holds every
// object put in it: only then may another copy of them go.
func (p newPack) verify() error {
	for _, h := range p.hashes {
		ok, err := p.idx.Contains(h)
		if err != nil {
			return fmt.Errorf("read the index of the new pack %s: %w", p.hash, err)
		}
		if !ok {
			return fmt.Errorf("object %s is not in the new pack %s; nothing removed", h, p.hash)
		}
	}
	return nil
}

// packObjects writes the objects hashes of st into new packs in packDir:
// those up to largeObject into one with git's delta search (deltas already
// in a pack are reused), larger ones (resolved from a thin pack, or big
// files) into a second without deltas, so that none is read whole into
// memory. The memory is what go-git's packfile encoder needs for the small
// objects (each at most largeObject) and their deltas. It returns the packs
// written, also when it fails with the second.
func packObjects(st *filesystem.Storage, packDir string, hashes []plumbing.Hash) ([]newPack, error) {
	var small, large []plumbing.Hash
	for _, h := range hashes {
		size, err := st.EncodedObjectSize(h)
		if err != nil {
			return nil, fmt.Errorf("object %s: %w", h, err)
		}
		if size > largeObject {
			large = append(large, h)
		} else {
			small = append(small, h)
		}
	}
	var packs []newPack
	for _, part := range []struct {
		hashes []plumbing.Hash
		window uint
	}{{small, gcPackWindow}, {large, 0}} {
		if len(part.hashes) == 0 {
			continue
		}
		idx, pack, err := encodePack(st, packDir, part.hashes, part.window)
		if err != nil {
			return packs, err
		}
		packs = append(packs, newPack{hash: pack, idx: idx, hashes: part.hashes})
	}
	return packs, nil
}

// encodePack writes the objects hashes of st into a new pack in packDir with
// go-git's encoder (delta search over window objects; 0: none), through
// packWriter: streamed, indexed as it arrives, and moved in place index
// first, so that a reader never sees a half-written pack.
func encodePack(st *filesystem.Storage, packDir string, hashes []plumbing.Hash, window uint) (*idxfile.MemoryIndex, plumbing.Hash, error) {
	w, err := newPackWriter(st, packDir)
	if err != nil {
		return nil, plumbing.ZeroHash, err
	}
	if _, err := packfile.NewEncoder(w, st, false).Encode(hashes, window); err != nil {
		w.pw.CloseWithError(err) // the indexing goroutine fails: Close keeps nothing
		w.Close()
		return nil, plumbing.ZeroHash, fmt.Errorf("write pack: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, plumbing.ZeroHash, fmt.Errorf("write pack: %w", err)
	}
	if w.idx == nil {
		return nil, plumbing.ZeroHash, errors.New("write pack: the encoder wrote an empty pack; nothing removed")
	}
	return w.idx, w.scan.checksum, nil
}

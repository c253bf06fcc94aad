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

// DefaultGCAuto is the default of Options.GCAuto: git's gc.auto.
const DefaultGCAuto = 6700

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

// gcStats is what one packLoose did.
type gcStats struct {
	loose   int      // loose objects found
	removed int      // loose objects removed, now packed
	packs   []string // the new packs' checksums
}

// autoGC packs the project's loose objects when there are more than
// Options.GCAuto of them (estimated), as git's gc --auto does after a fetch.
// The caller holds the project's lock. A failure leaves the cache as
// consistent as before (a loose object is removed only once the pack holding
// it is in place) and is logged, not returned: the checkout goes on.
func (c *Cache) autoGC(ctx context.Context, st *filesystem.Storage, project, projDir string) {
	if c.opts.GCAuto < 0 {
		return
	}
	log := zerolog.Ctx(ctx)
	objDir := filepath.Join(projDir, "objects")
	n, err := looseEstimate(objDir, c.opts.GCAuto)
	if err != nil {
		log.Warn().Err(err).Str("project", project).Msg("git cache: cannot count loose objects")
		return
	}
	if n <= c.opts.GCAuto {
		return
	}
	start := time.Now()
	stats, err := packLoose(st, filepath.Join(objDir, "pack"))
	if err != nil {
		log.Warn().Err(err).Str("project", project).Int("loose_objects", stats.loose).Int("removed", stats.removed).
			Msg("git cache: packing loose objects failed; nothing is lost, the next fetch tries again")
		return
	}
	log.Info().Str("project", project).Int("loose_objects", stats.loose).Int("removed", stats.removed).
		Strs("packs", stats.packs).Dur("duration", time.Since(start)).
		Msg("git cache: packed loose objects")
}

// packLoose writes the loose objects of st into a new pack, as git's
// repack -d does without -a, and removes them: objects up to largeObject go
// into one pack with git's delta search, larger ones (resolved from a thin
// pack) into a second without deltas, so that none is read whole into
// memory. Existing packs are left alone. The memory is what go-git's
// packfile encoder needs for the small objects (each at most largeObject)
// and their deltas.
func packLoose(st *filesystem.Storage, packDir string) (gcStats, error) {
	var stats gcStats
	var small, large []plumbing.Hash
	err := st.ForEachObjectHash(func(h plumbing.Hash) error {
		size, err := st.EncodedObjectSize(h)
		if err != nil {
			return fmt.Errorf("object %s: %w", h, err)
		}
		if size > largeObject {
			large = append(large, h)
		} else {
			small = append(small, h)
		}
		return nil
	})
	if err != nil {
		return stats, fmt.Errorf("list loose objects: %w", err)
	}
	stats.loose = len(small) + len(large)
	for _, part := range []struct {
		hashes []plumbing.Hash
		window uint
	}{{small, gcPackWindow}, {large, 0}} {
		if len(part.hashes) == 0 {
			continue
		}
		idx, pack, err := encodePack(st, packDir, part.hashes, part.window)
		if err != nil {
			return stats, err
		}
		stats.packs = append(stats.packs, pack.String())
		n, err := removePacked(st, filepath.Dir(packDir), part.hashes, idx, pack)
		stats.removed += n
		if err != nil {
			return stats, err
		}
	}
	return stats, nil
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
		return nil, plumbing.ZeroHash, fmt.Errorf("pack loose objects: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, plumbing.ZeroHash, fmt.Errorf("pack loose objects: %w", err)
	}
	if w.idx == nil {
		return nil, plumbing.ZeroHash, errors.New("pack loose objects: the encoder wrote an empty pack; loose objects kept")
	}
	return w.idx, w.scan.checksum, nil
}

// removePacked removes the loose objects hashes, once the index of the pack
// now in place says it holds every one, and the fan-out directories they
// leave empty. It returns how many it removed.
func removePacked(st *filesystem.Storage, objDir string, hashes []plumbing.Hash, idx *idxfile.MemoryIndex, pack plumbing.Hash) (int, error) {
	for _, h := range hashes {
		ok, err := idx.Contains(h)
		if err != nil {
			return 0, fmt.Errorf("read the index of the new pack %s: %w", pack, err)
		}
		if !ok {
			return 0, fmt.Errorf("pack loose objects: object %s is not in the new pack %s; loose objects kept", h, pack)
		}
	}
	removed := 0
	fanout := make(map[string]bool)
	for _, h := range hashes {
		if err := st.DeleteLooseObject(h); err != nil && !errors.Is(err, os.ErrNotExist) {
			return removed, fmt.Errorf("remove packed loose object %s: %w", h, err)
		}
		removed++
		fanout[h.String()[:2]] = true
	}
	for d := range fanout {
		_ = os.Remove(filepath.Join(objDir, d)) // fails unless empty
	}
	return removed, nil
}

package source

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
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
	loose   int // loose objects found
	removed int // loose objects removed, now in the pack
	pack    plumbing.Hash
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
			Msg("git cache: packing loose objects failed; the cache stays as it was, the next fetch tries again")
		return
	}
	log.Info().Str("project", project).Int("loose_objects", stats.loose).Int("removed", stats.removed).
		Str("pack", stats.pack.String()).Dur("duration", time.Since(start)).
		Msg("git cache: packed loose objects")
}

// packLoose writes every loose object of st into one new pack, as git's
// repack -d does without -a: the pack is written and indexed by packWriter
// (streaming, a temporary file moved in place with its index last: a reader
// never sees a half-written pack), then each loose object the new index
// holds is removed, with the fan-out directories left empty. Existing packs
// are left alone. Memory is what go-git's packfile encoder needs for the
// loose objects, which are small (see unpackLimit).
func packLoose(st *filesystem.Storage, packDir string) (gcStats, error) {
	var stats gcStats
	var hashes []plumbing.Hash
	err := st.ForEachObjectHash(func(h plumbing.Hash) error {
		hashes = append(hashes, h)
		return nil
	})
	if err != nil {
		return stats, fmt.Errorf("list loose objects: %w", err)
	}
	stats.loose = len(hashes)
	if len(hashes) == 0 {
		return stats, nil
	}

	w, err := newPackWriter(st, packDir)
	if err != nil {
		return stats, err
	}
	if _, err := packfile.NewEncoder(w, st, false).Encode(hashes, gcPackWindow); err != nil {
		w.pw.CloseWithError(err) // the indexing goroutine fails: Close keeps nothing
		w.Close()
		return stats, fmt.Errorf("pack loose objects: %w", err)
	}
	if err := w.Close(); err != nil {
		return stats, fmt.Errorf("pack loose objects: %w", err)
	}
	if w.idx == nil {
		return stats, errors.New("pack loose objects: the encoder wrote an empty pack; loose objects kept")
	}
	stats.pack = w.scan.checksum

	objDir := filepath.Dir(packDir)
	for _, h := range hashes {
		ok, err := w.idx.Contains(h)
		if err != nil {
			return stats, fmt.Errorf("read the new pack's index: %w", err)
		}
		if !ok {
			return stats, fmt.Errorf("pack loose objects: object %s is not in the new pack %s; loose objects kept", h, stats.pack)
		}
	}
	fanout := make(map[string]bool)
	for _, h := range hashes {
		if err := st.DeleteLooseObject(h); err != nil && !errors.Is(err, os.ErrNotExist) {
			return stats, fmt.Errorf("remove packed loose object %s: %w", h, err)
		}
		stats.removed++
		fanout[h.String()[:2]] = true
	}
	for d := range fanout {
		_ = os.Remove(filepath.Join(objDir, d)) // fails unless empty
	}
	return stats, nil
}

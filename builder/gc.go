package builder

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
)

// ProjectLabel marks every image slipway builds with its project's name, so
// that hygiene only ever removes slipway's own leftovers on a shared engine.
const ProjectLabel = "io.slipway.project"

// GCClient is the part of the engine API that engine hygiene uses; a
// *client.Client satisfies it.
type GCClient interface {
	ImagesPrune(ctx context.Context, pruneFilter filters.Args) (image.PruneReport, error)
	BuildCachePrune(ctx context.Context, opts build.CachePruneOptions) (*build.CachePruneReport, error)
	DiskUsage(ctx context.Context, options types.DiskUsageOptions) (types.DiskUsage, error)
}

// GCReport says what a Clean removed.
type GCReport struct {
	ImagesDeleted    int
	ImageBytes       uint64
	BuildCacheBefore int64
	BuildCacheBytes  uint64
}

// Clean removes the dangling images of project's builds (an image whose
// tags all moved to a newer build) and, when maxBuildCache > 0 and the
// engine's build cache is larger, prunes the oldest cache down to that size.
// Images of other projects and of anything not built by slipway are never
// touched. A prune or disk usage request the engine refuses because
// another client's is running (see WhenIdle) is made again until ctx ends.
func Clean(ctx context.Context, cli GCClient, project string, maxBuildCache int64) (GCReport, error) {
	var rep GCReport
	var pruned image.PruneReport
	err := WhenIdle(ctx, func() (err error) {
		pruned, err = cli.ImagesPrune(ctx, filters.NewArgs(
			filters.Arg("dangling", "true"),
			filters.Arg("label", ProjectLabel+"="+project),
		))
		return err
	})
	if err != nil {
		return rep, fmt.Errorf("prune dangling images of %s: %w", project, err)
	}
	rep.ImagesDeleted, rep.ImageBytes = len(pruned.ImagesDeleted), pruned.SpaceReclaimed
	if maxBuildCache <= 0 {
		return rep, nil
	}
	var du types.DiskUsage
	err = WhenIdle(ctx, func() (err error) {
		du, err = cli.DiskUsage(ctx, types.DiskUsageOptions{Types: []types.DiskUsageObject{types.BuildCacheObject}})
		return err
	})
	if err != nil {
		return rep, fmt.Errorf("read the engine's build cache size: %w", err)
	}
	for _, c := range du.BuildCache {
		rep.BuildCacheBefore += c.Size
	}
	if rep.BuildCacheBefore <= maxBuildCache {
		return rep, nil
	}
	// KeepStorage is what engines up to API 1.47 read; newer ones read
	// MaxUsedSpace. Each ignores the other.
	cr, err := cli.BuildCachePrune(ctx, build.CachePruneOptions{KeepStorage: maxBuildCache, MaxUsedSpace: maxBuildCache})
	if err != nil {
		return rep, fmt.Errorf("prune build cache to %d bytes (engine_gc.max_build_cache): %w", maxBuildCache, err)
	}
	rep.BuildCacheBytes = cr.SpaceReclaimed
	return rep, nil
}

// WhenIdle calls op until the engine stops refusing it because another
// client's operation of the kind is running, or ctx ends, pausing 50ms,
// then longer, up to half a second, in between. Engines before 23.0 run
// one image prune and one disk usage request at a time and refuse the
// others meanwhile ("a prune operation is already running", a 409; "a
// disk usage operation is already running", a 500 that only its text
// tells apart): on an engine shared by several builds that is a matter of
// waiting. Any other error is returned at once; when ctx ends, the last
// refusal is.
func WhenIdle(ctx context.Context, op func() error) error {
	wait := 50 * time.Millisecond
	for {
		err := op()
		if err == nil || !engineBusy(err) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, 500*time.Millisecond)
	}
}

// engineBusy reports whether err is an engine's refusal of an operation
// because another client's of the kind is running (see WhenIdle).
func engineBusy(err error) bool {
	return strings.Contains(err.Error(), "operation is already running")
}

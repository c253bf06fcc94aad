package builder

import (
	"context"
	"fmt"

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
// touched.
func Clean(ctx context.Context, cli GCClient, project string, maxBuildCache int64) (GCReport, error) {
	var rep GCReport
	pruned, err := cli.ImagesPrune(ctx, filters.NewArgs(
		filters.Arg("dangling", "true"),
		filters.Arg("label", ProjectLabel+"="+project),
	))
	if err != nil {
		return rep, fmt.Errorf("prune dangling images of %s: %w", project, err)
	}
	rep.ImagesDeleted, rep.ImageBytes = len(pruned.ImagesDeleted), pruned.SpaceReclaimed
	if maxBuildCache <= 0 {
		return rep, nil
	}
	du, err := cli.DiskUsage(ctx, types.DiskUsageOptions{Types: []types.DiskUsageObject{types.BuildCacheObject}})
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

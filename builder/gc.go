package builder

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// ProjectLabel marks every image slipway builds with its project's name, so
// that hygiene only ever removes slipway's own leftovers on a shared engine.
const ProjectLabel = "io.slipway.project"

// GCClient is the part of the engine API that engine hygiene uses; a
// *client.Client satisfies it.
type GCClient interface {
	ImageList(ctx context.Context, options image.ListOptions) ([]image.Summary, error)
	ImageInspect(ctx context.Context, imageID string, opts ...client.ImageInspectOption) (image.InspectResponse, error)
	ImageRemove(ctx context.Context, imageID string, options image.RemoveOptions) ([]image.DeleteResponse, error)
	BuildCachePrune(ctx context.Context, opts build.CachePruneOptions) (*build.CachePruneReport, error)
	DiskUsage(ctx context.Context, options types.DiskUsageOptions) (types.DiskUsage, error)
}

// GCReport says what a Clean removed.
type GCReport struct {
	ImagesDeleted int
	// ImageBytes is the size of the images removed, layers they shared
	// with images kept included.
	ImageBytes       uint64
	BuildCacheBefore int64
	BuildCacheBytes  uint64
}

// LeftoverAge is how old a dangling image of a project that was never
// tagged must be for Clean to remove it: the last step a failed classic
// build committed. A younger one may be the latest step of a build still
// running, which the engine would otherwise let another build's hygiene
// delete before the next step starts from it ("No such image").
const LeftoverAge = time.Hour

// Clean removes the dangling images of project's builds: an image whose
// tags all moved to a newer build (it was tagged once), and a step a
// failed build left (never tagged, older than LeftoverAge). When
// maxBuildCache > 0 and the engine's build cache is larger, it prunes the
// oldest cache down to that size. Images of other projects and of anything
// not built by slipway are never touched, nor images a container uses. A
// disk usage request the engine refuses because another client's is
// running (see WhenIdle) is made again until ctx ends.
func Clean(ctx context.Context, cli GCClient, project string, maxBuildCache int64) (GCReport, error) {
	var rep GCReport
	if err := removeDangling(ctx, cli, project, &rep); err != nil {
		return rep, err
	}
	if maxBuildCache <= 0 {
		return rep, nil
	}
	var du types.DiskUsage
	err := WhenIdle(ctx, func() (err error) {
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
// then 100ms, in between (often: another client asking in a loop leaves
// short gaps). Engines before 23.0 run one image prune and one disk usage
// request at a time and refuse the others meanwhile ("a prune operation
// is already running", a 409; "a disk usage operation is already
// running", a 500 that only its text tells apart): on an engine shared by
// several builds that is a matter of waiting. Any other error is returned
// at once; when ctx ends, the last refusal is.
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
		wait = min(2*wait, 100*time.Millisecond)
	}
}

// engineBusy reports whether err is an engine's refusal of an operation
// because another client's of the kind is running (see WhenIdle).
func engineBusy(err error) bool {
	return strings.Contains(err.Error(), "operation is already running")
}

// removeDangling removes the dangling images of project that Clean
// removes, counting them in rep. An image another client removed meanwhile
// or a container uses is passed over.
func removeDangling(ctx context.Context, cli GCClient, project string, rep *GCReport) error {
	imgs, err := cli.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(
		filters.Arg("dangling", "true"),
		filters.Arg("label", ProjectLabel+"="+project),
	)})
	if err != nil {
		return fmt.Errorf("list dangling images of %s: %w", project, err)
	}
	var errs []error
	for _, img := range imgs {
		if time.Since(time.Unix(img.Created, 0)) < LeftoverAge {
			in, err := cli.ImageInspect(ctx, img.ID)
			if cerrdefs.IsNotFound(err) {
				continue
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("inspect dangling image %s: %w", img.ID, err))
				continue
			}
			if in.Metadata.LastTagTime.IsZero() {
				continue // maybe a step of a build still running
			}
		}
		_, err := cli.ImageRemove(ctx, img.ID, image.RemoveOptions{PruneChildren: true})
		switch {
		case err == nil:
			rep.ImagesDeleted++
			rep.ImageBytes += uint64(max(img.Size, 0))
		case cerrdefs.IsNotFound(err) || cerrdefs.IsConflict(err):
		default:
			errs = append(errs, fmt.Errorf("remove dangling image %s of %s: %w", img.ID, project, err))
		}
	}
	return errors.Join(errs...)
}

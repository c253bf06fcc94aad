package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/containerd/platforms"
	"github.com/docker/docker/api/types/image"
	"golang.org/x/sync/errgroup"

	"github.com/slipwayci/slipway/builder"
	"github.com/slipwayci/slipway/builders"
	"github.com/slipwayci/slipway/registry"
	"github.com/slipwayci/slipway/store"
)

// platformRun is one platform of a multi-platform build: its builder, the
// image built there and its digest once pushed.
type platformRun struct {
	platform string
	lease    *builders.Lease
	engine   engine
	log      io.Writer
	img      builder.Image
	digest   string
}

// multiPlatform reports whether the build makes one image per platform.
func (r *run) multiPlatform() bool { return len(r.p.Platforms) > 0 }

// platformsStages are the build, test and push of a project with
// platforms: each platform natively on a builder of its os and arch, all
// at once, then one index under the build's tags.
func platformsStages() (build, test, push stage) {
	return platformBuild{}, platformTest{}, platformPush{}
}

// platformBuild places each platform on a builder whose os and arch match
// (and the project's builder_labels) and builds it there.
type platformBuild struct{}

func (platformBuild) skip(r *run) bool { return r.reused() }

func (platformBuild) Exec(ctx context.Context, r *run) error {
	if err := r.placePlatforms(ctx); err != nil {
		return err
	}
	var mu sync.Mutex
	return r.eachPlatform(ctx, func(ctx context.Context, pr *platformRun) error {
		img, err := r.buildOn(ctx, pr.engine.builder, pr.platform, pr.log)
		if err != nil {
			return err
		}
		pr.img = img
		mu.Lock()
		note := r.noteCache(img)
		mu.Unlock()
		fmt.Fprintf(pr.log, "built image %s%s\n", img.ID, note)
		return nil
	})
}

// placePlatforms takes a slot for each platform, in platform order so
// that two multi-platform builds never wait for each other's slots.
func (r *run) placePlatforms(ctx context.Context) error {
	if r.pool == nil {
		return fmt.Errorf("platforms %v need the builder pool", r.p.Platforms)
	}
	var names []string
	for _, pl := range slices.Sorted(slices.Values(r.p.Platforms)) {
		spec, err := platforms.Parse(pl)
		if err != nil {
			return fmt.Errorf("platform %s: %w", pl, err)
		}
		want := wantLabels(r.p)
		if want == nil {
			want = map[string]string{}
		}
		want["os"], want["arch"] = spec.OS, spec.Architecture
		lease, err := r.pool.Acquire(ctx, builders.Request{Build: r.b.ID, Project: r.p.Name + " " + pl, Labels: want})
		if err != nil {
			return fmt.Errorf("platform %s: %w", pl, err)
		}
		r.onEnd(lease.Release)
		pr := &platformRun{platform: pl, lease: lease, engine: r.engineOf(lease), log: prefixed(r.log, "["+pl+"] ")}
		r.platforms = append(r.platforms, pr)
		r.onEnd(func() { r.cleanOn(ctx, pr.engine.gc) })
		r.log.Printf("platform %s on builder %s (%s): %s", pl, lease.Builder, lease.Host, lease.Reason)
		names = append(names, lease.Builder)
		r.b.Platforms = append(r.b.Platforms, store.PlatformImage{Platform: pl, Builder: lease.Builder})
	}
	slices.SortStableFunc(r.platforms, func(a, b *platformRun) int {
		return slices.Index(r.p.Platforms, a.platform) - slices.Index(r.p.Platforms, b.platform)
	})
	slices.SortStableFunc(r.b.Platforms, func(a, b store.PlatformImage) int {
		return slices.Index(r.p.Platforms, a.Platform) - slices.Index(r.p.Platforms, b.Platform)
	})
	r.b.Builder, r.b.BuilderReason = strings.Join(slices.Compact(slices.Sorted(slices.Values(names))), ","), "one builder per platform"
	r.record(ctx, *r.b)
	return nil
}

// eachPlatform runs fn for every platform at once; the first error
// cancels the others.
func (r *run) eachPlatform(ctx context.Context, fn func(ctx context.Context, pr *platformRun) error) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, pr := range r.platforms {
		g.Go(func() error {
			if err := fn(gctx, pr); err != nil {
				return fmt.Errorf("platform %s on builder %s: %w", pr.platform, pr.lease.Builder, err)
			}
			return nil
		})
	}
	err := g.Wait()
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return err
}

// platformTest runs the project's test on each platform's own builder.
type platformTest struct{}

func (platformTest) skip(r *run) bool { return r.reused() || !projectTest(r) }

func (platformTest) Exec(ctx context.Context, r *run) error {
	return r.eachPlatform(ctx, func(ctx context.Context, pr *platformRun) error {
		return pr.engine.builder.Test(ctx, r.testOptions(pr.img.ID, pr.platform), pr.log)
	})
}

// platformPush pushes each platform's image by digest from its builder,
// then the index of them all under the build's tags.
type platformPush struct{}

func (platformPush) skip(r *run) bool { return r.reused() }

func (platformPush) Exec(ctx context.Context, r *run) error {
	err := r.eachPlatform(ctx, func(ctx context.Context, pr *platformRun) error {
		d, err := pr.engine.pusher.PushByDigest(ctx, r.plan.Refs()[0], r.p.Image, pr.log)
		if err != nil {
			return err
		}
		pr.digest = d
		r.untag(ctx, pr)
		return nil
	})
	if err != nil {
		return err
	}
	images := make([]registry.PlatformImage, len(r.platforms))
	for i, pr := range r.platforms {
		images[i] = registry.PlatformImage{Platform: pr.platform, Digest: pr.digest}
		r.b.Platforms[i].Digest = pr.digest
	}
	digest, err := r.Runner.pusher.PushIndex(ctx, r.p.Image, images, r.plan.Tags, r.log)
	if err != nil {
		r.notePushed(err)
		return err
	}
	r.pushed(digest)
	return nil
}

// untag removes the build's local tags from a platform's engine once its
// image is pushed (hygiene then removes the image), as Push does.
func (r *run) untag(ctx context.Context, pr *platformRun) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	for _, ref := range r.plan.Refs() {
		_, _ = pr.lease.Client.ImageRemove(ctx, ref, image.RemoveOptions{})
	}
}

// prefixed writes each whole line to w with prefix before it.
func prefixed(w io.Writer, prefix string) io.Writer {
	return &prefixWriter{w: w, prefix: prefix}
}

type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		if _, err := io.WriteString(p.w, p.prefix+string(p.buf[:i+1])); err != nil {
			return 0, err
		}
		p.buf = p.buf[i+1:]
	}
}

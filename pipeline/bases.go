package pipeline

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/slipwayci/slipway/builder"
	"github.com/slipwayci/slipway/store"
)

// resolveTimeout bounds the registry HEAD of one base image at build time.
const resolveTimeout = 30 * time.Second

// basesStage records the images the build is built FROM (builder.Bases of
// the plan's Dockerfile, target and build args, per platform of a
// multi-platform build), each with the digest its registry serves now: the
// digest the build uses, since the build pulls a base whose local copy is
// older (pullBases). A re-tag keeps the bases of the build it re-tags. A
// Dockerfile it cannot read, or a registry it cannot
// reach, costs the record, never the build: the build stage reports the
// Dockerfile's errors, and a base it cannot pull fails it there.
type basesStage struct{}

func (basesStage) Exec(ctx context.Context, r *run) error {
	if r.reused() {
		// The image re-tagged was built on the bases of its build.
		r.b.Bases = r.prev.Bases
		return nil
	}
	bases, err := r.readBases()
	if err != nil {
		r.log.Printf("base images: %v (not recorded)", err)
		zerolog.Ctx(ctx).Warn().Err(err).Msg("base images not recorded")
		return nil
	}
	for i, b := range bases {
		if _, digest, ok := strings.Cut(b.Ref, "@"); ok {
			bases[i].Digest = digest // pinned: nothing to resolve
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, resolveTimeout)
		d, err := r.pusher.Resolve(rctx, b.Ref)
		cancel()
		if err != nil {
			r.log.Printf("base image %s: %v", b.Ref, err)
			continue
		}
		bases[i].Digest = d
		r.log.Printf("base image %s at %s", b.Ref, d)
	}
	r.b.Bases = bases
	r.record(ctx, *r.b)
	return nil
}

// readBases reads the bases of the plan's Dockerfile for each platform the
// build makes.
func (r *run) readBases() ([]store.BaseImage, error) {
	file, err := r.dockerfilePath()
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read dockerfile: %w", err)
	}
	platforms := r.p.Platforms
	if len(platforms) == 0 {
		platforms = []string{""}
	}
	var out []store.BaseImage
	seen := map[store.BaseImage]bool{}
	for _, pl := range platforms {
		bs, err := builder.Bases(strings.NewReader(string(data)), builder.BasesOptions{Target: r.p.Target, BuildArgs: r.args, Platform: pl})
		if err != nil {
			return nil, err
		}
		for _, b := range bs {
			bi := store.BaseImage{Ref: b.Ref, Platform: b.Platform}
			if !seen[bi] {
				seen[bi] = true
				out = append(out, bi)
			}
		}
	}
	return out, nil
}

// pullBases reports whether the build on b must pull its base images: a
// base image rebuild always does (the point is the new base); any other
// build when b's engine has a copy of a base older than the digest its
// registry serves, which the engine would otherwise build on.
func (r *run) pullBases(ctx context.Context, b *builder.Builder) bool {
	if r.b.Trigger == store.TriggerBaseImage {
		return true
	}
	for _, base := range r.b.Bases {
		if base.Digest == "" || strings.Contains(base.Ref, "@") {
			continue
		}
		local, ok, err := b.LocalDigests(ctx, base.Ref)
		if err != nil || !ok {
			continue
		}
		fresh := false
		for _, d := range local {
			fresh = fresh || strings.HasSuffix(d, "@"+base.Digest)
		}
		if !fresh {
			r.log.Printf("base image %s: the engine's copy is not %s, pulling", base.Ref, base.Digest)
			return true
		}
	}
	return false
}

package registry

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/daemon"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/slipwayci/slipway/internal/redact"
)

// PlatformImage is one platform's image of a multi-platform index.
type PlatformImage struct {
	// Platform is "os/arch[/variant]".
	Platform string
	// Digest is the image's manifest digest in the index's repository.
	Digest string
}

// pushTarget is a repository with its credentials, options and log.
type pushTarget struct {
	repo name.Repository
	host string
	hint string
	s    scrubber
	opts []remote.Option
	log  *lineWriter
}

// target resolves repo's credentials and remote options for a push.
func (p *Pusher) target(ctx context.Context, repo string, log io.Writer) (pushTarget, error) {
	if log == nil {
		log = io.Discard
	}
	named, err := reference.ParseNormalizedNamed(repo)
	if err != nil || !reference.IsNameOnly(named) {
		return pushTarget{}, fmt.Errorf("image repository %q: give a repository without tag or digest", repo)
	}
	host := normalizeHost(reference.Domain(named))
	creds, hint, err := p.keys.lookup(host)
	if err != nil {
		return pushTarget{}, err
	}
	r, err := repository(named.Name(), p.opts.Insecure)
	if err != nil {
		return pushTarget{}, err
	}
	s := scrubber(creds.secrets())
	return pushTarget{repo: r, host: host, hint: hint, s: s, opts: p.remoteOptions(ctx), log: &lineWriter{w: log, s: s}}, nil
}

// wrap adds the credentials hint to a refused login and scrubs secrets.
func (t pushTarget) wrap(what string, err error) error {
	if errors.Is(err, ErrUnauthorized) {
		err = fmt.Errorf("registry %s refused the credentials (%s): %w", t.host, t.hint, err)
	}
	return redact.Error(fmt.Errorf("%s: %w", what, err), t.s...)
}

// write runs one write of dst with the Pusher's retries.
func (p *Pusher) write(ctx context.Context, t pushTarget, dst name.Digest, write func() error) error {
	err := p.retry(ctx, "push "+dst.String(), t.log, func() error {
		if err := write(); err != nil {
			return classify("write", err)
		}
		return nil
	})
	if err != nil {
		return t.wrap("push "+dst.String(), err)
	}
	return nil
}

// PushByDigest pushes the engine's image local (a name the engine knows,
// such as a local tag of the build) to repo by its digest, under no tag,
// reading it from the engine with go-containerregistry's daemon package
// (docker save). It returns the manifest digest the registry holds. The
// Pusher's engine client must be a full Docker client.
func (p *Pusher) PushByDigest(ctx context.Context, local, repo string, log io.Writer) (string, error) {
	cli, ok := p.cli.(daemon.Client)
	if !ok {
		return "", errors.New("push by digest: the engine client cannot save images")
	}
	t, err := p.target(ctx, repo, log)
	if err != nil {
		return "", fmt.Errorf("push %s by digest: %w", repo, err)
	}
	ref, err := name.ParseReference(local)
	if err != nil {
		return "", fmt.Errorf("push by digest: local image %q: %w", local, err)
	}
	img, err := daemon.Image(ref, daemon.WithClient(cli), daemon.WithContext(ctx))
	if err != nil {
		return "", fmt.Errorf("read %s from the engine: %w", local, err)
	}
	d, err := img.Digest()
	if err != nil {
		return "", fmt.Errorf("digest of %s: %w", local, err)
	}
	dst := t.repo.Digest(d.String())
	if err := p.write(ctx, t, dst, func() error { return remote.Write(dst, img, t.opts...) }); err != nil {
		return "", err
	}
	t.log.printf("pushed %s as %s", local, dst)
	return d.String(), nil
}

// PushIndex writes a multi-platform index (a Docker manifest list) of
// images, each already in repo by its digest, and points tags at it as
// Retag does: immutable tags first, each read back, moving tags last. It
// returns the index's digest.
func (p *Pusher) PushIndex(ctx context.Context, repo string, images []PlatformImage, tags []Tag, log io.Writer) (string, error) {
	t, err := p.target(ctx, repo, log)
	if err != nil {
		return "", fmt.Errorf("push index %s: %w", repo, err)
	}
	idx, err := p.index(ctx, t, images)
	if err != nil {
		return "", t.wrap("push index "+repo, err)
	}
	d, err := idx.Digest()
	if err != nil {
		return "", fmt.Errorf("push index %s: %w", repo, err)
	}
	dst := t.repo.Digest(d.String())
	if err := p.write(ctx, t, dst, func() error { return remote.WriteIndex(dst, idx, t.opts...) }); err != nil {
		return "", err
	}
	t.log.printf("pushed the index of %d platforms as %s", len(images), dst)
	if err := p.Retag(ctx, repo, d.String(), tags, log); err != nil {
		return d.String(), err
	}
	return d.String(), nil
}

// index builds the manifest list of images, reading each descriptor back
// from the registry.
func (p *Pusher) index(ctx context.Context, t pushTarget, images []PlatformImage) (v1.ImageIndex, error) {
	var adds []mutate.IndexAddendum
	for _, im := range images {
		pl, err := platforms.Parse(im.Platform)
		if err != nil {
			return nil, fmt.Errorf("platform %q: %w", im.Platform, err)
		}
		src := t.repo.Digest(im.Digest)
		var desc *remote.Descriptor
		err = p.retry(ctx, "read "+src.String(), t.log, func() error {
			d, err := remote.Get(src, t.opts...)
			if err != nil {
				return classify("read "+src.String(), err)
			}
			desc = d
			return nil
		})
		if err != nil {
			return nil, err
		}
		img, err := desc.Image()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", src, err)
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
			MediaType: desc.MediaType,
			Platform:  &v1.Platform{OS: pl.OS, Architecture: pl.Architecture, Variant: pl.Variant},
		}})
	}
	return mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.DockerManifestList), adds...), nil
}

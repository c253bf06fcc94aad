package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/slipwayci/slipway/internal/redact"
)

// Retag points tags of repo ("docker.io/acme/web", no tag) at the manifest
// the registry already has at digest ("sha256:<64 hex>"), without the
// engine: a release of an image that an earlier build pushed. It writes the
// manifest under each tag (go-containerregistry's remote.Tag), immutable
// tags first, then moving ones, and reads every tag back to check its
// digest, as Push does; a moving tag is written only after every immutable
// tag was written and checked.
//
// A digest the registry does not have gives ErrNotFound, a read-back
// showing another digest ErrDigestMismatch, a refused login
// ErrUnauthorized naming the host and the config key to fix. Transient
// failures are retried per the Pusher's PushOptions, whose Insecure decides
// about plain HTTP. Retag needs no engine: a Pusher made with a nil Client
// can Retag. Progress goes to log, one line per tag; nothing written or
// returned contains a credential.
func (p *Pusher) Retag(ctx context.Context, repo, digest string, tags []Tag, log io.Writer) error {
	if log == nil {
		log = io.Discard
	}
	named, err := reference.ParseNormalizedNamed(repo)
	if err != nil {
		return fmt.Errorf("retag: image repository %q: %w", repo, err)
	}
	if !reference.IsNameOnly(named) {
		return fmt.Errorf("retag: image repository %q has a tag or digest; give the repository alone", repo)
	}
	if _, err := v1.NewHash(digest); err != nil {
		return fmt.Errorf("retag %s: digest %q: %w", repo, digest, err)
	}
	if err := checkTags(tags); err != nil {
		return fmt.Errorf("retag %s: %w", repo, err)
	}
	host := normalizeHost(reference.Domain(named))
	creds, hint, err := p.keys.lookup(host)
	if err != nil {
		return fmt.Errorf("retag %s: %w", repo, err)
	}
	s := scrubber(creds.secrets())
	r, err := repository(named.Name(), p.opts.Insecure)
	if err != nil {
		return fmt.Errorf("retag: %w", err)
	}
	if err := p.retag(ctx, r, digest, pushOrder(tags), &lineWriter{w: log, s: s}); err != nil {
		if errors.Is(err, ErrUnauthorized) {
			err = fmt.Errorf("registry %s refused the credentials (%s): %w", host, hint, err)
		}
		return redact.Error(err, s...)
	}
	return nil
}

func (p *Pusher) retag(ctx context.Context, repo name.Repository, digest string, tags []Tag, log *lineWriter) error {
	return p.putTags(ctx, &regSession{p: p, repo: repo}, digest, tags, nil, "retag", log)
}

// remoteOptions are the go-containerregistry options of the Pusher's
// registry calls. go-containerregistry's own retries are off: retry
// decides, with the Pusher's backoff and a log line per retry.
func (p *Pusher) remoteOptions(ctx context.Context) []remote.Option {
	return []remote.Option{
		remote.WithContext(ctx), remote.WithAuthFromKeychain(p.keys),
		remote.WithRetryStatusCodes(), remote.WithRetryPredicate(func(error) bool { return false }),
	}
}

// session authenticates to repo's registry once, for pushing (the ping and,
// for a token registry, the token exchange), and returns remote options
// whose calls all reuse that: go-containerregistry otherwise pings and
// authenticates again before every call. The options neither retry nor
// wrap the transport further.
func (p *Pusher) session(ctx context.Context, repo name.Repository) ([]remote.Option, error) {
	auth, err := authn.Resolve(ctx, p.keys, repo)
	if err != nil {
		return nil, permanent(fmt.Errorf("credentials of %s: %w", repo.RegistryStr(), err))
	}
	rt, err := transport.NewWithContext(ctx, repo.Registry, auth, remote.DefaultTransport, []string{repo.Scope(transport.PushScope)})
	if err != nil {
		return nil, classify("authenticate to "+repo.RegistryStr(), err)
	}
	return append(p.remoteOptions(ctx), remote.WithTransport(rt)), nil
}

// regSession is an authenticated session with one repository (see
// Pusher.session), opened on first use and shared by the registry calls of
// one Push or Retag. It is not safe for concurrent use.
type regSession struct {
	p    *Pusher
	repo name.Repository
	opts []remote.Option
}

// options returns the session's remote options, opening it on first use;
// a failure is tried again by the next call.
func (s *regSession) options(ctx context.Context) ([]remote.Option, error) {
	if s.opts == nil {
		o, err := s.p.session(ctx, s.repo)
		if err != nil {
			return nil, err
		}
		s.opts = o
	}
	return s.opts, nil
}

// putTags writes the manifest the session's repository holds at digest
// under each of tags, in their order, and reads every tag back to check its
// digest; a tag is written only after the ones before it were written and
// checked. pushed are the tags of the same digest pushed before (for the
// PartialError of a failure); what names the operation in log lines and
// errors ("push", "retag").
func (p *Pusher) putTags(ctx context.Context, reg *regSession, digest string, tags, pushed []Tag, what string, log *lineWriter) error {
	repo := reg.repo
	var opts []remote.Option
	src := repo.Digest(digest)
	var desc *remote.Descriptor
	err := p.retry(ctx, what, log, func() error {
		o, err := reg.options(ctx)
		if err != nil {
			return err
		}
		opts = o
		d, err := remote.Get(src, opts...)
		if err != nil {
			return classify("read "+src.String(), err)
		}
		desc = d
		return nil
	})
	if err != nil {
		return partial(pushed, digest, err)
	}
	pushed = slices.Clip(pushed)
	for _, tag := range tags {
		ref := repo.Tag(tag.Name)
		err := p.retry(ctx, what+" "+ref.String(), log, func() error {
			if err := remote.Tag(ref, desc, opts...); err != nil {
				return classify("write", err)
			}
			got, err := readDigest(ref, "resolve "+ref.String(), opts...)
			switch {
			case errors.Is(err, ErrNotFound):
				// Eventually consistent storage may not serve a manifest
				// it just accepted.
				return temporary(fmt.Errorf("read back: %w", err))
			case err != nil:
				return fmt.Errorf("read back: %w", err)
			case got != digest:
				return fmt.Errorf("the registry serves %s but %s was tagged: %w", got, digest, ErrDigestMismatch)
			}
			return nil
		})
		if err != nil {
			return partial(pushed, digest, err)
		}
		log.printf("%s %s: digest %s checked in the registry", what, ref, digest)
		pushed = append(pushed, tag)
	}
	return nil
}

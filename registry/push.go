package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/slipwayci/slipway/internal/redact"
)

// Errors of Push and Resolve; match them with errors.Is.
var (
	// ErrNotFound reports a tag the registry does not have.
	ErrNotFound = errors.New("not found in the registry")
	// ErrDigestMismatch reports a registry whose manifest differs from the
	// one the engine pushed, or tags of one build that got different
	// digests: another push of the same tag ran at the same time.
	ErrDigestMismatch = errors.New("digest mismatch")
)

// Client is the subset of the Docker engine client that Push uses;
// *client.Client implements it.
type Client interface {
	ImageInspect(ctx context.Context, imageID string, opts ...client.ImageInspectOption) (image.InspectResponse, error)
	ImageTag(ctx context.Context, source, target string) error
	ImagePush(ctx context.Context, ref string, options image.PushOptions) (io.ReadCloser, error)
	ImageRemove(ctx context.Context, ref string, options image.RemoveOptions) ([]image.DeleteResponse, error)
}

// PushOptions tune a Pusher. The zero value means the defaults.
type PushOptions struct {
	// Retries is how often a tag's push and check are tried again after a
	// transient failure (5xx, 429, connection refused or reset, timeouts).
	// Default 4; negative means no retries.
	Retries int
	// Backoff is the wait before the first retry; it doubles with every
	// retry up to MaxBackoff. Default 1s.
	Backoff time.Duration
	// MaxBackoff caps the wait between retries. Default 30s, at least
	// Backoff.
	MaxBackoff time.Duration
	// Insecure reports whether the registry at host ("127.0.0.1:5000") is
	// read back over plain HTTP. Default LoopbackHost. Whether the engine
	// pushes over HTTP is the engine's own decision (insecure-registries,
	// which always includes 127.0.0.0/8).
	Insecure func(host string) bool
}

// withDefaults returns o with every zero field set to its default.
func (o PushOptions) withDefaults() PushOptions {
	switch {
	case o.Retries == 0:
		o.Retries = 4
	case o.Retries < 0:
		o.Retries = 0
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	o.MaxBackoff = max(o.MaxBackoff, o.Backoff)
	if o.Insecure == nil {
		o.Insecure = LoopbackHost
	}
	return o
}

// LoopbackHost reports whether host (with or without a port) is localhost or
// in 127.0.0.0/8 or ::1: the registries the engine always treats as
// insecure.
func LoopbackHost(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.Trim(h, "[]")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// Pusher pushes built images through the Docker engine and checks what the
// registry stored. It is safe for concurrent use, but two pushes of the same
// repository:tag at once (in one engine) race for the local tag; the
// pipeline must not run them.
type Pusher struct {
	cli  Client
	keys *Keychain
	opts PushOptions
}

// NewPusher returns a Pusher using the engine cli and the credentials of keys
// (nil: anonymous).
func NewPusher(cli Client, keys *Keychain, opts PushOptions) *Pusher {
	return &Pusher{cli: cli, keys: keys, opts: opts.withDefaults()}
}

// Push pushes the local image imageID (an ID or a name the engine knows) to
// repo (e.g. "docker.io/acme/web", no tag) under tags and returns the
// manifest digest "sha256:<64 hex>" shared by all of them.
//
// Immutable tags are pushed first, in their order, then moving tags in
// theirs; a moving tag is pushed only after every immutable tag was pushed
// and read back. The first tag is tagged locally and pushed by the engine
// (layers and manifest), and its manifest read back from the registry with
// the same credentials: its digest must equal the one the engine reported.
// Every further tag is the same manifest written under that tag (one
// manifest PUT through go-containerregistry, as Retag does: no layer is
// looked at again) and read back; all tags must share one digest
// (ErrDigestMismatch). Transient failures are retried per PushOptions; a
// refused login fails at once with ErrUnauthorized, naming the host and the
// config key to fix. The local tag Push created is removed afterwards,
// whether the push succeeded or not (tags that already named the image are
// kept); the engine deletes an image whose last name that removes, so a
// caller that needs the image afterwards keeps a name of its own on it.
//
// Progress goes to log, one line per layer state change at most; nothing
// written to log or returned as an error contains a credential.
func (p *Pusher) Push(ctx context.Context, imageID, repo string, tags []Tag, log io.Writer) (string, error) {
	if log == nil {
		log = io.Discard
	}
	named, err := reference.ParseNormalizedNamed(repo)
	if err != nil {
		return "", fmt.Errorf("image repository %q: %w", repo, err)
	}
	if !reference.IsNameOnly(named) {
		return "", fmt.Errorf("image repository %q has a tag or digest; give the repository alone", repo)
	}
	if err := checkTags(tags); err != nil {
		return "", fmt.Errorf("%s: %w", repo, err)
	}
	host := normalizeHost(reference.Domain(named))
	creds, hint, err := p.keys.lookup(host)
	if err != nil {
		return "", fmt.Errorf("%s: %w", repo, err)
	}
	s := scrubber(creds.secrets())
	digest, err := p.push(ctx, imageID, named, host, creds, hint, s, pushOrder(tags), &lineWriter{w: log, s: s})
	if err != nil {
		return "", redact.Error(err, s...)
	}
	return digest, nil
}

// push is Push after validation, with a scrubbing log.
func (p *Pusher) push(ctx context.Context, imageID string, repo reference.Named, host string, creds Credentials, hint string, s scrubber, tags []Tag, log *lineWriter) (string, error) {
	auth, err := encodeAuth(host, creds)
	if err != nil {
		return "", err
	}
	img, err := p.cli.ImageInspect(ctx, imageID)
	if err != nil {
		return "", fmt.Errorf("%s: local image %s: %w", repo, imageID, err)
	}
	existing := make(map[string]bool, len(img.RepoTags))
	for _, t := range img.RepoTags {
		existing[t] = true
	}
	var created []string
	defer func() { p.untag(ctx, created, log) }()

	r, err := repository(repo.Name(), p.opts.Insecure)
	if err != nil {
		return "", err
	}
	// One session for the read-backs and the further tags' writes.
	reg := &regSession{p: p, repo: r}
	t := tagger{p: p, img: img.ID, host: host, hint: hint, auth: auth, s: s, log: log, reg: reg}
	first, rest := tags[0], tags[1:]
	tagged, err := reference.WithTag(repo, first.Name)
	if err != nil {
		return "", fmt.Errorf("%s:%s: %w", repo, first.Name, err)
	}
	ref := reference.FamiliarString(tagged)
	if !existing[ref] {
		if err := p.cli.ImageTag(ctx, img.ID, ref); err != nil {
			return "", fmt.Errorf("%s: tag image %s locally: %w", ref, img.ID, err)
		}
		created = append(created, ref)
	}
	digest, err := t.pushTag(ctx, tagged)
	if err != nil {
		return "", err
	}
	pushed := []Tag{first}
	if len(rest) == 0 {
		return digest, nil
	}
	// The further tags name the manifest the engine just pushed: writing
	// it under each of them is all a registry needs.
	if err := p.putTags(ctx, reg, digest, rest, pushed, "push", log); err != nil {
		if errors.Is(err, ErrUnauthorized) {
			err = fmt.Errorf("registry %s refused the credentials (%s): %w", host, hint, err)
		}
		return "", err
	}
	return digest, nil
}

// PartialError is the error of a Push or Retag that failed after some of
// its tags were pushed and their digest checked in the registry. Callers
// get it with errors.As to report what the registry holds now.
type PartialError struct {
	// Pushed are the tags pushed and checked before the failure, in push
	// order (immutable tags first).
	Pushed []Tag
	// Digest is the manifest digest those tags name.
	Digest string
	// Err is the failure.
	Err error
}

// Error is Err's text.
func (e *PartialError) Error() string { return e.Err.Error() }

// Unwrap returns Err.
func (e *PartialError) Unwrap() error { return e.Err }

// partial wraps err in a *PartialError when some tags were pushed.
func partial(pushed []Tag, digest string, err error) error {
	if len(pushed) == 0 {
		return err
	}
	return &PartialError{Pushed: pushed, Digest: digest, Err: err}
}

// PushedTags returns the tags that err (from Push or Retag) says were
// pushed and checked before it, and their digest; nil and "" when none were.
func PushedTags(err error) ([]Tag, string) {
	var pe *PartialError
	if errors.As(err, &pe) {
		return pe.Pushed, pe.Digest
	}
	return nil, ""
}

// untag removes the local tags Push created. It runs after ctx may have
// ended, so it has its own deadline; a failure is a warning in the log, as
// the push itself is done.
func (p *Pusher) untag(ctx context.Context, refs []string, log *lineWriter) {
	if len(refs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	for _, ref := range refs {
		if _, err := p.cli.ImageRemove(ctx, ref, image.RemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
			log.printf("push: warning: remove local tag %s: %v", ref, err)
		}
	}
}

// tagger pushes the tags of one Push.
type tagger struct {
	p    *Pusher
	img  string // full image ID
	host string
	hint string // what to fix when the registry refuses the credentials
	auth string // X-Registry-Auth
	s    scrubber
	log  *lineWriter
	reg  *regSession
}

// pushTag pushes and checks one tag, retrying temporary failures.
func (t *tagger) pushTag(ctx context.Context, tagged reference.NamedTagged) (string, error) {
	ref := reference.FamiliarString(tagged)
	var d string
	err := t.p.retry(ctx, ref, t.log, func() error {
		var err error
		d, err = t.pushOnce(ctx, tagged)
		return err
	})
	if err != nil {
		return "", err
	}
	t.log.printf("push %s: digest %s checked in the registry", ref, d)
	return d, nil
}

// pushOnce pushes one tag through the engine and reads its manifest back.
func (t *tagger) pushOnce(ctx context.Context, tagged reference.NamedTagged) (string, error) {
	ref := reference.FamiliarString(tagged)
	rc, err := t.p.cli.ImagePush(ctx, ref, image.PushOptions{RegistryAuth: t.auth})
	if err != nil {
		switch {
		case cerrdefs.IsUnauthorized(err) || cerrdefs.IsPermissionDenied(err):
			return "", t.unauthorized(err.Error())
		case client.IsErrConnectionFailed(err) || cerrdefs.IsUnavailable(err) || cerrdefs.IsInternal(err):
			return "", temporary(fmt.Errorf("engine: %w", err))
		}
		return "", permanent(fmt.Errorf("engine: %w", err))
	}
	defer rc.Close()
	d, err := t.readStream(ref, rc)
	if err != nil {
		return "", err
	}
	if err := t.readBack(ctx, tagged, d); err != nil {
		return "", err
	}
	return d, t.checkLocal(ctx, d)
}

// pushAux is the aux message of the ImagePush stream that reports the
// pushed manifest.
type pushAux struct {
	Tag    string
	Digest string
	Size   int
}

// readStream follows the ImagePush JSON stream: progress to the log, the
// registry's error (the engine answers 200 even when the push fails) as an
// error, and the digest from the aux message.
func (t *tagger) readStream(ref string, r io.Reader) (string, error) {
	dec := json.NewDecoder(r)
	layers := make(map[string]string) // layer ID -> last state logged
	var digest string
	for {
		var msg jsonmessage.JSONMessage
		if err := dec.Decode(&msg); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return "", temporary(fmt.Errorf("read the engine's push stream: %w", err))
		}
		if msg.Error != nil || msg.ErrorMessage != "" {
			text := msg.ErrorMessage
			if msg.Error != nil && msg.Error.Message != "" {
				text = msg.Error.Message
			}
			return "", t.classify(text)
		}
		if msg.Aux != nil {
			var aux pushAux
			if err := json.Unmarshal(*msg.Aux, &aux); err == nil && aux.Digest != "" {
				digest = aux.Digest
			}
			continue
		}
		if msg.Status == "" {
			continue
		}
		if msg.ID == "" {
			if !strings.HasPrefix(msg.Status, "The push refers to") {
				t.log.printf("push %s: %s", ref, msg.Status)
			}
			continue
		}
		state := msg.Status
		if strings.HasPrefix(state, "Retrying in") {
			state = "Retrying"
		}
		if layers[msg.ID] == state || state == "Preparing" || state == "Waiting" {
			continue
		}
		layers[msg.ID] = state
		t.log.printf("push %s: layer %s %s", ref, msg.ID, strings.TrimPrefix(strings.ToLower(msg.Status), "layer "))
	}
	if digest == "" {
		return "", temporary(errors.New("the engine's push stream ended without a digest"))
	}
	return digest, nil
}

// classify turns the registry's message relayed by the engine into an
// error. The engine passes only text, so the text decides: the registry's
// auth refusals, then what is worth a retry.
func (t *tagger) classify(text string) error {
	m := strings.ToLower(text)
	switch {
	case containsAny(m, "unauthorized", "authentication required", "no basic auth credentials",
		"denied", "incorrect username or password", "401 unauthorized", "403 forbidden"):
		return t.unauthorized(text)
	case containsAny(m, "connection refused", "connection reset", "broken pipe", "timeout", "timed out",
		"unexpected eof", ": eof", "service unavailable", "bad gateway", "gateway timeout",
		"internal server error", "too many requests", "toomanyrequests", "status: 5", "status 5",
		"temporary failure in name resolution", "server misbehaving", "tls handshake"):
		return temporary(errors.New(text))
	}
	return errors.New(text)
}

// unauthorized is the error of a refused login: the registry's words, the
// host and what to fix.
func (t *tagger) unauthorized(text string) error {
	return fmt.Errorf("registry %s: %s; %s: %w", t.host, text, t.hint, ErrUnauthorized)
}

// readBack checks that the registry serves want for the tag.
func (t *tagger) readBack(ctx context.Context, tagged reference.NamedTagged, want string) error {
	opts, err := t.reg.options(ctx)
	var got string
	if err == nil {
		got, err = readDigest(t.reg.repo.Tag(tagged.Tag()), "resolve "+tagged.String(), opts...)
	}
	switch {
	case errors.Is(err, ErrUnauthorized):
		return t.unauthorized("read back: " + err.Error())
	case errors.Is(err, ErrNotFound):
		// A registry on eventually consistent storage may not list a
		// manifest it just accepted.
		return temporary(fmt.Errorf("read back: %w", err))
	case err != nil:
		return fmt.Errorf("read back: %w", err)
	case got != want:
		return fmt.Errorf("the registry serves %s but the engine pushed %s: %w", got, want, ErrDigestMismatch)
	}
	return nil
}

// checkLocal makes sure the digest pushed belongs to the image Push was
// given: the engine records it among the image's RepoDigests. A different
// digest means the local tag was moved to another image during the push.
// Engines that record no RepoDigests are trusted.
func (t *tagger) checkLocal(ctx context.Context, digest string) error {
	img, err := t.p.cli.ImageInspect(ctx, t.img)
	if err != nil {
		return permanent(fmt.Errorf("inspect local image %s: %w", t.img, err))
	}
	if len(img.RepoDigests) == 0 {
		return nil
	}
	for _, rd := range img.RepoDigests {
		if strings.HasSuffix(rd, "@"+digest) {
			return nil
		}
	}
	return fmt.Errorf("the engine pushed %s, which is not image %s (the local tag was moved by another push): %w", digest, t.img, ErrDigestMismatch)
}

// Resolve returns the manifest digest ("sha256:<64 hex>") the registry
// serves for ref ("host/repo:tag"), with the credentials of keys (nil:
// anonymous). Loopback registries are read over plain HTTP. A missing tag or
// repository gives ErrNotFound, a refused login ErrUnauthorized.
func Resolve(ctx context.Context, ref string, keys *Keychain) (string, error) {
	return resolve(ctx, ref, keys, LoopbackHost)
}

// Resolve is the package's Resolve with the Pusher's credentials and
// PushOptions.Insecure.
func (p *Pusher) Resolve(ctx context.Context, ref string) (string, error) {
	return resolve(ctx, ref, p.keys, p.opts.Insecure)
}

func resolve(ctx context.Context, ref string, keys *Keychain, insecure func(string) bool) (string, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", ref, err)
	}
	if insecure(r.Context().RegistryStr()) {
		if r, err = name.ParseReference(ref, name.Insecure); err != nil {
			return "", fmt.Errorf("resolve %s: %w", ref, err)
		}
	}
	var s scrubber
	if c, _, err := keys.lookup(r.Context().RegistryStr()); err == nil {
		s = scrubber(c.secrets())
	}
	// 5xx answers come back at once: the caller's retries, with their
	// backoff and log lines, decide about them.
	d, err := readDigest(r, "resolve "+ref, remote.WithContext(ctx), remote.WithAuthFromKeychain(keys), remote.WithRetryStatusCodes())
	if err != nil {
		return "", redact.Error(err, s...)
	}
	return d, nil
}

// readDigest returns the manifest digest the registry serves for r (a HEAD
// request): ErrNotFound for a missing tag or repository, ErrUnauthorized for
// a refused login. Errors are "what: ...".
func readDigest(r name.Reference, what string, opts ...remote.Option) (string, error) {
	desc, err := remote.Head(r, opts...)
	if err != nil {
		err = classify(what, err)
		if errors.Is(err, ErrNotFound) {
			// The registry's own words add nothing to "not found".
			err = permanent(fmt.Errorf("%s: %w", what, ErrNotFound))
		}
		return "", err
	}
	return desc.Digest.String(), nil
}

// checkTags rejects an empty list, invalid tags and duplicates.
func checkTags(tags []Tag) error {
	if len(tags) == 0 {
		return errors.New("no tags to push")
	}
	seen := make(map[string]bool, len(tags))
	for _, t := range tags {
		if !ValidTag(t.Name) {
			return fmt.Errorf("invalid tag %q: tags match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", t.Name)
		}
		if seen[t.Name] {
			return fmt.Errorf("tag %q given twice", t.Name)
		}
		seen[t.Name] = true
	}
	return nil
}

// pushOrder returns the immutable tags, then the moving ones, each group in
// its given order.
func pushOrder(tags []Tag) []Tag {
	out := make([]Tag, 0, len(tags))
	for _, moving := range []bool{false, true} {
		for _, t := range tags {
			if t.Moving == moving {
				out = append(out, t)
			}
		}
	}
	return out
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// scrubber hides secrets in text (redact.Text); a second guard behind
// never putting them there.
type scrubber []string

func (s scrubber) scrub(text string) string { return redact.Text(text, s...) }

// lineWriter writes scrubbed progress lines.
type lineWriter struct {
	w io.Writer
	s scrubber
}

func (l *lineWriter) printf(format string, args ...any) {
	// A failing log writer must not fail the push.
	_, _ = io.WriteString(l.w, l.s.scrub(fmt.Sprintf(format, args...))+"\n")
}

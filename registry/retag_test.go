package registry

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/slipwayci/slipway/internal/testenv"
)

// pushRandom writes a small random image straight to the registry (no
// engine) under tags of repo ("127.0.0.1:PORT/name") and returns its
// digest.
func pushRandom(t *testing.T, repo string, auth authn.Authenticator, tags ...string) string {
	t.Helper()
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	r, err := name.NewRepository(repo, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	opts := []remote.Option{remote.WithContext(t.Context()), remote.WithAuth(auth)}
	if err := remote.Write(r.Tag(tags[0]), img, opts...); err != nil {
		t.Fatalf("write test image %s:%s: %v", repo, tags[0], err)
	}
	for _, tag := range tags[1:] {
		if err := remote.Tag(r.Tag(tag), img, opts...); err != nil {
			t.Fatalf("tag test image %s:%s: %v", repo, tag, err)
		}
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// registryTags lists the tags of repo in the registry.
func registryTags(t *testing.T, repo string, auth authn.Authenticator) []string {
	t.Helper()
	r, err := name.NewRepository(repo, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	tags, err := remote.List(r, remote.WithContext(t.Context()), remote.WithAuth(auth))
	if err != nil {
		t.Fatalf("list %s: %v", repo, err)
	}
	return tags
}

func TestRetag(t *testing.T) {
	t.Run("adds tags to what a push build pushed, without the engine", func(t *testing.T) {
		t.Parallel()
		cli := testenv.Docker(t)
		binary := testenv.StaticBinary(t, fixtureSource)
		reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
		id, _ := testImage(t, cli, binary)
		repo := reg.Host + "/" + testenv.Name(t, "app")
		digest, err := NewPusher(cli, nil, PushOptions{}).Push(t.Context(), id, repo, branchTags, io.Discard)
		if err != nil {
			t.Fatalf("Push: %v", err)
		}
		// No engine client: Retag works on the registry alone.
		var log bytes.Buffer
		release := []Tag{mv("weekly"), im("2026.47")}
		if err := NewPusher(nil, nil, PushOptions{}).Retag(t.Context(), repo, digest, release, &log); err != nil {
			t.Fatalf("Retag: %v\nlog:\n%s", err, log.String())
		}
		for _, tag := range []string{"2026.47", "weekly", "main", "main-1a2b3c4", "latest"} {
			got, err := headDigest(t, repo+":"+tag, authn.Anonymous)
			if err != nil || got != digest {
				t.Errorf("registry digest of %s = %q, %v; want %s", tag, got, err, digest)
			}
		}
		t.Logf("log:\n%s", log.String())
		if want := "retag " + repo + ":2026.47: digest " + digest + " checked in the registry"; !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	})

	t.Run("immutable tags are written before moving ones", func(t *testing.T) {
		t.Parallel()
		reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
		proxy := startFaultProxy(t, reg.Host, func(*faultProxy) {})
		path := testenv.Name(t, "app")
		digest := pushRandom(t, reg.Host+"/"+path, authn.Anonymous, "main")
		tags := []Tag{mv("latest"), im("1.2.3"), mv("1.2"), im("sha-1a2b3c4")}
		if err := NewPusher(nil, nil, PushOptions{}).Retag(t.Context(), proxy.host+"/"+path, digest, tags, io.Discard); err != nil {
			t.Fatalf("Retag: %v", err)
		}
		if diff := cmp.Diff([]string{"1.2.3", "sha-1a2b3c4", "latest", "1.2"}, proxy.manifestPuts()); diff != "" {
			t.Errorf("manifest PUT order mismatch (-want +got):\n%s", diff)
		}
		for _, tag := range Names(tags) {
			if got, err := headDigest(t, reg.Host+"/"+path+":"+tag, authn.Anonymous); err != nil || got != digest {
				t.Errorf("registry digest of %s = %q, %v; want %s", tag, got, err, digest)
			}
		}
	})

	t.Run("moves a moving tag from another image", func(t *testing.T) {
		t.Parallel()
		reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
		repo := reg.Host + "/" + testenv.Name(t, "app")
		old := pushRandom(t, repo, authn.Anonymous, "2026.46", "weekly")
		digest := pushRandom(t, repo, authn.Anonymous, "main")
		if err := NewPusher(nil, nil, PushOptions{}).Retag(t.Context(), repo, digest, []Tag{im("2026.47"), mv("weekly")}, io.Discard); err != nil {
			t.Fatalf("Retag: %v", err)
		}
		for tag, want := range map[string]string{"2026.46": old, "2026.47": digest, "weekly": digest} {
			if got, err := headDigest(t, repo+":"+tag, authn.Anonymous); err != nil || got != want {
				t.Errorf("registry digest of %s = %q, %v; want %s", tag, got, err, want)
			}
		}
	})

	t.Run("transient 503 is retried", func(t *testing.T) {
		t.Parallel()
		reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
		proxy := startFaultProxy(t, reg.Host, func(p *faultProxy) { p.fail503 = 2 })
		path := testenv.Name(t, "app")
		digest := pushRandom(t, reg.Host+"/"+path, authn.Anonymous, "main")
		var log bytes.Buffer
		if err := NewPusher(nil, nil, fastRetries).Retag(t.Context(), proxy.host+"/"+path, digest, []Tag{im("2026.47")}, &log); err != nil {
			t.Fatalf("Retag: %v\nlog:\n%s", err, log.String())
		}
		if !strings.Contains(log.String(), "retry 2 of 4") {
			t.Errorf("log does not show the retries:\n%s", log.String())
		}
		if got, err := headDigest(t, reg.Host+"/"+path+":2026.47", authn.Anonymous); err != nil || got != digest {
			t.Errorf("registry digest = %q, %v; want %s", got, err, digest)
		}
	})

	t.Run("a rejected immutable tag stops the moving tags", func(t *testing.T) {
		t.Parallel()
		reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
		proxy := startFaultProxy(t, reg.Host, func(p *faultProxy) { p.rejectTag = "2026.47" })
		path := testenv.Name(t, "app")
		digest := pushRandom(t, reg.Host+"/"+path, authn.Anonymous, "main")
		err := NewPusher(nil, nil, noRetryWait).Retag(t.Context(), proxy.host+"/"+path, digest, []Tag{mv("weekly"), im("2026.47")}, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "2026.47") {
			t.Fatalf("Retag error = %v, want one about 2026.47", err)
		}
		t.Logf("error: %v", err)
		if _, err := Resolve(t.Context(), reg.Host+"/"+path+":weekly", nil); !errors.Is(err, ErrNotFound) {
			t.Errorf("Resolve(weekly) error = %v, want ErrNotFound", err)
		}
	})

	t.Run("a rejected moving tag reports the tags re-tagged before it", func(t *testing.T) {
		t.Parallel()
		reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
		proxy := startFaultProxy(t, reg.Host, func(p *faultProxy) { p.rejectTag = "weekly" })
		path := testenv.Name(t, "app")
		digest := pushRandom(t, reg.Host+"/"+path, authn.Anonymous, "main")
		err := NewPusher(nil, nil, noRetryWait).Retag(t.Context(), proxy.host+"/"+path, digest, []Tag{mv("weekly"), im("2026-W47")}, io.Discard)
		if err == nil {
			t.Fatal("Retag succeeded, want an error about weekly")
		}
		pushed, got := PushedTags(err)
		if diff := cmp.Diff([]Tag{im("2026-W47")}, pushed); diff != "" || got != digest {
			t.Errorf("PushedTags = %v, %q; want [2026-W47], %q", pushed, got, digest)
		}
	})

	t.Run("a wrong read-back digest is a mismatch", func(t *testing.T) {
		t.Parallel()
		reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
		path := testenv.Name(t, "app")
		digest := pushRandom(t, reg.Host+"/"+path, authn.Anonymous, "main")
		proxy := startFaultProxy(t, reg.Host, func(p *faultProxy) { p.fakeDigest = true })
		err := NewPusher(nil, nil, noRetryWait).Retag(t.Context(), proxy.host+"/"+path, digest, []Tag{im("2026.47")}, io.Discard)
		if !errors.Is(err, ErrDigestMismatch) {
			t.Fatalf("Retag error = %v, want ErrDigestMismatch", err)
		}
		t.Logf("error: %v", err)
	})

	t.Run("unknown digest", func(t *testing.T) {
		t.Parallel()
		reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
		repo := reg.Host + "/" + testenv.Name(t, "app")
		pushRandom(t, repo, authn.Anonymous, "main")
		err := NewPusher(nil, nil, noRetryWait).Retag(t.Context(), repo, wrongDigest, []Tag{im("2026.47")}, io.Discard)
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("Retag error = %v, want ErrNotFound", err)
		}
		t.Logf("error: %v", err)
		if _, err := Resolve(t.Context(), repo+":2026.47", nil); !errors.Is(err, ErrNotFound) {
			t.Errorf("Resolve(2026.47) error = %v, want ErrNotFound", err)
		}
	})

	t.Run("htpasswd registry", func(t *testing.T) {
		t.Parallel()
		const user, password, wrong = "releaser", "right-Pa55word", "wrong-Pa55word"
		reg := testenv.StartRegistry(t, testenv.RegistryOptions{Username: user, Password: password})
		repo := reg.Host + "/" + testenv.Name(t, "app")
		basic := &authn.Basic{Username: user, Password: password}
		digest := pushRandom(t, repo, basic, "main")

		good := NewKeychain(map[string]Credentials{reg.Host: {Username: user, Password: password}}, t.TempDir())
		var log bytes.Buffer
		if err := NewPusher(nil, good, PushOptions{}).Retag(t.Context(), repo, digest, []Tag{im("2026.47"), mv("weekly")}, &log); err != nil {
			t.Fatalf("Retag: %v", err)
		}
		if got, err := headDigest(t, repo+":weekly", basic); err != nil || got != digest {
			t.Errorf("registry digest of weekly = %q, %v; want %s", got, err, digest)
		}
		assertNoSecret(t, user, password, log.String())

		bad := NewKeychain(map[string]Credentials{reg.Host: {Username: user, Password: wrong}}, t.TempDir())
		log.Reset()
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		err := NewPusher(nil, bad, noRetryWait).Retag(ctx, repo, digest, []Tag{im("2026.48")}, &log)
		if !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("Retag error = %v, want ErrUnauthorized", err)
		}
		t.Logf("error: %v", err)
		for _, want := range []string{reg.Host, "registries[].username and password_file"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
		assertNoSecret(t, user, wrong, log.String(), err.Error())
	})

	t.Run("bad arguments", func(t *testing.T) {
		t.Parallel()
		p := NewPusher(nil, nil, noRetryWait)
		const digest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
		tests := []struct {
			name, repo, digest string
			tags               []Tag
		}{
			{"repository with a tag", "127.0.0.1:1/app:main", digest, []Tag{im("x")}},
			{"invalid repository", "127.0.0.1:1/App", digest, []Tag{im("x")}},
			{"bad digest", "127.0.0.1:1/app", "sha256:abc", []Tag{im("x")}},
			{"no tags", "127.0.0.1:1/app", digest, nil},
			{"invalid tag", "127.0.0.1:1/app", digest, []Tag{im("a/b")}},
			{"duplicate tag", "127.0.0.1:1/app", digest, []Tag{im("x"), mv("x")}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if err := p.Retag(t.Context(), tt.repo, tt.digest, tt.tags, io.Discard); err == nil {
					t.Errorf("Retag(%q, %q, %v) succeeded", tt.repo, tt.digest, tt.tags)
				}
			})
		}
	})
}

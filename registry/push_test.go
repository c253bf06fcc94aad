package registry

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/slipwayci/slipway/internal/testenv"
)

const fixtureSource = `package main

func main() {}
`

// fastRetries keep retry tests quick.
var fastRetries = PushOptions{Retries: 4, Backoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}

// noRetryWait makes a retry wait an hour: a test that passes in time proves
// no retry happened.
var noRetryWait = PushOptions{Backoff: time.Hour}

// testImage builds a small FROM scratch image with content unique to the
// test and returns its ID and its local name. The image is removed when the
// test ends. Its first layer is unique and the build uses no cache, so no
// other test (of any package sharing the engine) shares an image or an
// intermediate image whose removal would break it.
func testImage(t *testing.T, cli *client.Client, binary string) (id, localName string) {
	t.Helper()
	localName = "slipway-registry-test/" + testenv.Name(t, "img") + ":build"
	app, err := os.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		body []byte
		mode int64
	}{
		{"Dockerfile", []byte("FROM scratch\nCOPY id /id\nCOPY app /app\n"), 0o644},
		{"app", app, 0o755},
		{"id", []byte(localName), 0o644},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.body))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	resp, err := cli.ImageBuild(t.Context(), &buf, build.ImageBuildOptions{
		Tags: []string{localName}, Dockerfile: "Dockerfile", Remove: true, ForceRemove: true, NoCache: true, Version: build.BuilderV1,
	})
	if err != nil {
		t.Fatalf("build test image: %v", err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	if err := jsonmessage.DisplayJSONMessagesStream(resp.Body, &out, 0, false, nil); err != nil {
		t.Fatalf("build test image: %v\n%s", err, out.String())
	}
	img, err := cli.ImageInspect(t.Context(), localName)
	if err != nil {
		t.Fatalf("inspect test image: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := cli.ImageRemove(ctx, img.ID, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil {
			t.Errorf("remove test image: %v", err)
		}
	})
	return img.ID, localName
}

// localTags returns the image's local tags.
func localTags(t *testing.T, cli *client.Client, id string) []string {
	t.Helper()
	img, err := cli.ImageInspect(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return img.RepoTags
}

// headDigest reads ref's digest straight from the registry with
// go-containerregistry, independently of the package's Resolve.
func headDigest(t *testing.T, ref string, auth authn.Authenticator) (string, error) {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Head(r, remote.WithContext(t.Context()), remote.WithAuth(auth))
	if err != nil {
		return "", err
	}
	return desc.Digest.String(), nil
}

// assertNoSecret fails when any text shows the password in clear or in the
// encodings that carry it (basic auth, X-Registry-Auth).
func assertNoSecret(t *testing.T, user, password string, texts ...string) {
	t.Helper()
	forms := []string{
		password,
		base64.StdEncoding.EncodeToString([]byte(user + ":" + password)),
		base64.URLEncoding.EncodeToString([]byte(`"password":"` + password + `"`)),
	}
	for _, text := range texts {
		for _, f := range forms {
			if strings.Contains(text, f) {
				t.Errorf("a secret appears in %q", text)
			}
		}
	}
}

// faultProxy sits in front of a registry and breaks what a test asks for.
type faultProxy struct {
	host string // "127.0.0.1:PORT"

	mu sync.Mutex
	// fail503 answers 503 to this many manifest PUTs, then forwards.
	fail503 int
	// rejectTag answers 400 TAG_INVALID to manifest PUTs of this tag.
	rejectTag string
	// fakeDigest makes manifest HEAD and GET answers carry a wrong
	// Docker-Content-Digest.
	fakeDigest bool
	// puts lists the tag of every manifest PUT, in order.
	puts []string
	// requests lists every request as "METHOD /path", in order.
	requests []string
}

const wrongDigest = "sha256:0000000000000000000000000000000000000000000000000000000000000000"

func startFaultProxy(t *testing.T, registryHost string, configure func(p *faultProxy)) *faultProxy {
	t.Helper()
	target := &url.URL{Scheme: "http", Host: registryHost}
	p := &faultProxy{}
	configure(p)
	rp := &httputil.ReverseProxy{
		// The registry builds upload Locations from the Host header: keep
		// the proxy's so the engine comes back through it.
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host
		},
		ModifyResponse: func(resp *http.Response) error {
			req := resp.Request
			if (req.Method == http.MethodHead || req.Method == http.MethodGet) && strings.Contains(req.URL.Path, "/manifests/") {
				p.mu.Lock()
				fake := p.fakeDigest
				p.mu.Unlock()
				if fake {
					resp.Header.Set("Docker-Content-Digest", wrongDigest)
				}
			}
			return nil
		},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.requests = append(p.requests, r.Method+" "+r.URL.Path)
		p.mu.Unlock()
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") {
			tag := path.Base(r.URL.Path)
			p.mu.Lock()
			p.puts = append(p.puts, tag)
			fail503 := p.fail503 > 0
			if fail503 {
				p.fail503--
			}
			reject := tag == p.rejectTag
			p.mu.Unlock()
			switch {
			case fail503:
				http.Error(w, "try later", http.StatusServiceUnavailable)
				return
			case reject:
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprint(w, `{"errors":[{"code":"TAG_INVALID","message":"manifest tag did not match URI"}]}`)
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.host = strings.TrimPrefix(srv.URL, "http://")
	return p
}

func (p *faultProxy) manifestPuts() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.puts...)
}

func (p *faultProxy) requestLog() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.requests...)
}

// branchTags are the tags of a push to main at a fixed commit.
var branchTags = BranchTags("main", "1a2b3c4d5e6f", "main")

func TestPush(t *testing.T) {
	cli := testenv.Docker(t)
	binary := testenv.StaticBinary(t, fixtureSource)

	t.Run("anonymous registry gets every tag with one digest", func(t *testing.T) {
		t.Parallel()
		reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
		id, localName := testImage(t, cli, binary)
		repo := reg.Host + "/" + testenv.Name(t, "app")
		// A local tag the image had before the push is kept.
		if err := cli.ImageTag(t.Context(), id, repo+":main"); err != nil {
			t.Fatal(err)
		}
		var log bytes.Buffer
		digest, err := NewPusher(cli, nil, PushOptions{}).Push(t.Context(), id, repo, branchTags, &log)
		if err != nil {
			t.Fatalf("Push: %v\nlog:\n%s", err, log.String())
		}
		if !strings.HasPrefix(digest, "sha256:") || len(digest) != len("sha256:")+64 {
			t.Errorf("digest = %q, want sha256:<64 hex>", digest)
		}
		for _, tag := range []string{"main", "main-1a2b3c4", "latest"} {
			got, err := headDigest(t, repo+":"+tag, authn.Anonymous)
			if err != nil {
				t.Fatalf("read back %s: %v", tag, err)
			}
			if got != digest {
				t.Errorf("registry digest of %s = %s, want %s", tag, got, digest)
			}
			if got, err := Resolve(t.Context(), repo+":"+tag, nil); err != nil || got != digest {
				t.Errorf("Resolve(%s) = %q, %v; want %s", tag, got, err, digest)
			}
		}
		if diff := cmp.Diff([]string{localName, repo + ":main"}, localTags(t, cli, id), cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
			t.Errorf("local tags after push mismatch (-want +got):\n%s", diff)
		}
		if !strings.Contains(log.String(), "push "+repo+":main-1a2b3c4: layer ") {
			t.Errorf("log lacks layer progress:\n%s", log.String())
		}
		if n := strings.Count(log.String(), "\n"); n > 30 {
			t.Errorf("log has %d lines, want a few per tag:\n%s", n, log.String())
		}
	})

	t.Run("immutable tags are pushed before moving ones", func(t *testing.T) {
		t.Parallel()
		reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
		proxy := startFaultProxy(t, reg.Host, func(*faultProxy) {})
		id, _ := testImage(t, cli, binary)
		repo := proxy.host + "/" + testenv.Name(t, "app")
		tags := []Tag{{Name: "latest", Moving: true}, {Name: "v1", Moving: true}, {Name: "1.2.3"}, {Name: "1.2"}}
		if _, err := NewPusher(cli, nil, PushOptions{}).Push(t.Context(), id, repo, tags, io.Discard); err != nil {
			t.Fatalf("Push: %v", err)
		}
		if diff := cmp.Diff([]string{"1.2.3", "1.2", "latest", "v1"}, proxy.manifestPuts()); diff != "" {
			t.Errorf("manifest PUT order mismatch (-want +got):\n%s", diff)
		}
	})

	t.Run("further tags are manifest PUTs: no layer is sent or checked again", func(t *testing.T) {
		t.Parallel()
		const user, password = "builder", "tags-Pa55word"
		reg := testenv.StartRegistry(t, testenv.RegistryOptions{Username: user, Password: password})
		proxy := startFaultProxy(t, reg.Host, func(*faultProxy) {})
		id, localName := testImage(t, cli, binary)
		repoPath := testenv.Name(t, "app")
		repo := proxy.host + "/" + repoPath
		keys := NewKeychain(map[string]Credentials{proxy.host: {Username: user, Password: password}}, t.TempDir())
		var log bytes.Buffer
		digest, err := NewPusher(cli, keys, PushOptions{}).Push(t.Context(), id, repo, branchTags, &log)
		if err != nil {
			t.Fatalf("Push: %v\nlog:\n%s", err, log.String())
		}
		for _, tag := range []string{"main-1a2b3c4", "main", "latest"} {
			got, err := headDigest(t, reg.Host+"/"+repoPath+":"+tag, &authn.Basic{Username: user, Password: password})
			if err != nil || got != digest {
				t.Errorf("registry digest of %s = %q, %v; want %s", tag, got, err, digest)
			}
		}
		if diff := cmp.Diff([]string{"main-1a2b3c4", "main", "latest"}, proxy.manifestPuts()); diff != "" {
			t.Errorf("manifest PUT order mismatch (-want +got):\n%s", diff)
		}
		reqs := proxy.requestLog()
		first := slices.Index(reqs, "PUT /v2/"+repoPath+"/manifests/main-1a2b3c4")
		if first < 0 || !slices.ContainsFunc(reqs[:first], func(r string) bool { return strings.Contains(r, "/blobs/") }) {
			t.Fatalf("the engine did not push the layers before the first tag's manifest: %q", reqs)
		}
		var again []string
		for _, r := range reqs[first:] {
			if strings.Contains(r, "/blobs/") {
				again = append(again, r)
			}
		}
		if len(again) > 0 {
			t.Errorf("layer requests after the first tag's manifest: %q", again)
		}
		if diff := cmp.Diff([]string{localName}, localTags(t, cli, id)); diff != "" {
			t.Errorf("local tags after push mismatch (-want +got):\n%s", diff)
		}
		assertNoSecret(t, user, password, log.String())
	})

	t.Run("a failed immutable tag written by manifest PUT stops the moving tags", func(t *testing.T) {
		t.Parallel()
		reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
		proxy := startFaultProxy(t, reg.Host, func(p *faultProxy) { p.rejectTag = "1.2" })
		id, _ := testImage(t, cli, binary)
		repoPath := testenv.Name(t, "app")
		tags := []Tag{{Name: "latest", Moving: true}, {Name: "1.2.3"}, {Name: "1.2"}, {Name: "1", Moving: true}}
		_, err := NewPusher(cli, nil, noRetryWait).Push(t.Context(), id, proxy.host+"/"+repoPath, tags, io.Discard)
		if err == nil || !strings.Contains(err.Error(), ":1.2:") {
			t.Fatalf("Push error = %v, want one about tag 1.2", err)
		}
		t.Logf("error: %v", err)
		pushed, digest := PushedTags(err)
		if diff := cmp.Diff([]Tag{{Name: "1.2.3"}}, pushed); diff != "" {
			t.Errorf("PushedTags mismatch (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"1.2.3", "1.2"}, proxy.manifestPuts()); diff != "" {
			t.Errorf("manifest PUTs mismatch (-want +got):\n%s", diff)
		}
		if got, err := Resolve(t.Context(), reg.Host+"/"+repoPath+":1.2.3", nil); err != nil || got != digest {
			t.Errorf("registry digest of 1.2.3 = %q, %v; want the reported %q", got, err, digest)
		}
		for _, tag := range []string{"latest", "1"} {
			if _, err := Resolve(t.Context(), reg.Host+"/"+repoPath+":"+tag, nil); !errors.Is(err, ErrNotFound) {
				t.Errorf("Resolve(%s) error = %v, want ErrNotFound", tag, err)
			}
		}
	})

	t.Run("a failed immutable tag stops the moving tags", func(t *testing.T) {
		t.Parallel()
		reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
		proxy := startFaultProxy(t, reg.Host, func(p *faultProxy) { p.rejectTag = "main-1a2b3c4" })
		id, localName := testImage(t, cli, binary)
		repoPath := testenv.Name(t, "app")
		repo := proxy.host + "/" + repoPath
		_, err := NewPusher(cli, nil, noRetryWait).Push(t.Context(), id, repo, branchTags, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "main-1a2b3c4") {
			t.Fatalf("Push error = %v, want one about main-1a2b3c4", err)
		}
		t.Logf("error: %v", err)
		if pushed, digest := PushedTags(err); pushed != nil || digest != "" {
			t.Errorf("PushedTags = %v, %q; want nothing pushed", pushed, digest)
		}
		if diff := cmp.Diff([]string{"main-1a2b3c4"}, proxy.manifestPuts()); diff != "" {
			t.Errorf("manifest PUTs mismatch (-want +got):\n%s", diff)
		}
		for _, tag := range []string{"main", "latest"} {
			if _, err := Resolve(t.Context(), reg.Host+"/"+repoPath+":"+tag, nil); !errors.Is(err, ErrNotFound) {
				t.Errorf("Resolve(%s) error = %v, want ErrNotFound", tag, err)
			}
		}
		if diff := cmp.Diff([]string{localName}, localTags(t, cli, id)); diff != "" {
			t.Errorf("local tags after failed push mismatch (-want +got):\n%s", diff)
		}
	})

	t.Run("a failed moving tag reports the tags pushed before it", func(t *testing.T) {
		t.Parallel()
		reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
		proxy := startFaultProxy(t, reg.Host, func(p *faultProxy) { p.rejectTag = "main" })
		id, _ := testImage(t, cli, binary)
		repoPath := testenv.Name(t, "app")
		_, err := NewPusher(cli, nil, noRetryWait).Push(t.Context(), id, proxy.host+"/"+repoPath, branchTags, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "main") {
			t.Fatalf("Push error = %v, want one about main", err)
		}
		pushed, digest := PushedTags(err)
		if diff := cmp.Diff([]Tag{{Name: "main-1a2b3c4"}}, pushed); diff != "" {
			t.Errorf("PushedTags mismatch (-want +got):\n%s", diff)
		}
		if got, err := Resolve(t.Context(), reg.Host+"/"+repoPath+":main-1a2b3c4", nil); err != nil || got != digest {
			t.Errorf("registry digest of main-1a2b3c4 = %q, %v; want the reported %q", got, err, digest)
		}
	})

	t.Run("htpasswd registry with the right password", func(t *testing.T) {
		t.Parallel()
		const user, password = "builder", "right-Pa55word"
		reg := testenv.StartRegistry(t, testenv.RegistryOptions{Username: user, Password: password})
		id, _ := testImage(t, cli, binary)
		repo := reg.Host + "/" + testenv.Name(t, "app")
		keys := NewKeychain(map[string]Credentials{reg.Host: {Username: user, Password: password}}, t.TempDir())
		var log bytes.Buffer
		digest, err := NewPusher(cli, keys, PushOptions{}).Push(t.Context(), id, repo, branchTags, &log)
		if err != nil {
			t.Fatalf("Push: %v", err)
		}
		got, err := headDigest(t, repo+":latest", &authn.Basic{Username: user, Password: password})
		if err != nil || got != digest {
			t.Errorf("registry digest of latest = %q, %v; want %s", got, err, digest)
		}
		if _, err := Resolve(t.Context(), repo+":latest", nil); !errors.Is(err, ErrUnauthorized) {
			t.Errorf("anonymous Resolve error = %v, want ErrUnauthorized", err)
		}
		assertNoSecret(t, user, password, log.String())
	})

	t.Run("docker config.json credentials", func(t *testing.T) {
		t.Parallel()
		const user, password = "cli-user", "cli-Pa55word"
		reg := testenv.StartRegistry(t, testenv.RegistryOptions{Username: user, Password: password})
		id, _ := testImage(t, cli, binary)
		repo := reg.Host + "/" + testenv.Name(t, "app")
		keys := NewKeychain(nil, writeDockerConfig(t, map[string]string{reg.Host: user + ":" + password}))
		var log bytes.Buffer
		digest, err := NewPusher(cli, keys, PushOptions{}).Push(t.Context(), id, repo, branchTags, &log)
		if err != nil {
			t.Fatalf("Push: %v", err)
		}
		got, err := Resolve(t.Context(), repo+":main", keys)
		if err != nil || got != digest {
			t.Errorf("Resolve(main) = %q, %v; want %s", got, err, digest)
		}
		assertNoSecret(t, user, password, log.String())
	})

	t.Run("wrong password fails at once", func(t *testing.T) {
		t.Parallel()
		const user, password, wrong = "builder", "right-Pa55word", "wrong-Pa55word"
		reg := testenv.StartRegistry(t, testenv.RegistryOptions{Username: user, Password: password})
		id, localName := testImage(t, cli, binary)
		repo := reg.Host + "/" + testenv.Name(t, "app")
		keys := NewKeychain(map[string]Credentials{reg.Host: {Username: user, Password: wrong}}, t.TempDir())
		var log bytes.Buffer
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		_, err := NewPusher(cli, keys, noRetryWait).Push(ctx, id, repo, branchTags, &log)
		if !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("Push error = %v, want ErrUnauthorized", err)
		}
		t.Logf("error: %v", err)
		for _, want := range []string{reg.Host, "registries[].username and password_file"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
		assertNoSecret(t, user, wrong, log.String(), err.Error())
		good := NewKeychain(map[string]Credentials{reg.Host: {Username: user, Password: password}}, "")
		for _, tag := range branchTags {
			if _, err := Resolve(t.Context(), repo+":"+tag.Name, good); !errors.Is(err, ErrNotFound) {
				t.Errorf("Resolve(%s) error = %v, want ErrNotFound", tag.Name, err)
			}
		}
		if diff := cmp.Diff([]string{localName}, localTags(t, cli, id)); diff != "" {
			t.Errorf("local tags after failed push mismatch (-want +got):\n%s", diff)
		}
	})

	t.Run("no credentials for an htpasswd registry", func(t *testing.T) {
		t.Parallel()
		reg := testenv.StartRegistry(t, testenv.RegistryOptions{Username: "u", Password: "p4ss-word"})
		id, _ := testImage(t, cli, binary)
		repo := reg.Host + "/" + testenv.Name(t, "app")
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		_, err := NewPusher(cli, NewKeychain(nil, t.TempDir()), noRetryWait).Push(ctx, id, repo, branchTags, io.Discard)
		if !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("Push error = %v, want ErrUnauthorized", err)
		}
		t.Logf("error: %v", err)
		if want := "docker login " + reg.Host; !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	})

	t.Run("transient 503 is retried", func(t *testing.T) {
		t.Parallel()
		reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
		proxy := startFaultProxy(t, reg.Host, func(p *faultProxy) { p.fail503 = 2 })
		id, _ := testImage(t, cli, binary)
		repoPath := testenv.Name(t, "app")
		repo := proxy.host + "/" + repoPath
		var log bytes.Buffer
		digest, err := NewPusher(cli, nil, fastRetries).Push(t.Context(), id, repo, branchTags, &log)
		if err != nil {
			t.Fatalf("Push: %v\nlog:\n%s", err, log.String())
		}
		want := []string{"main-1a2b3c4", "main-1a2b3c4", "main-1a2b3c4", "main", "latest"}
		if diff := cmp.Diff(want, proxy.manifestPuts()); diff != "" {
			t.Errorf("manifest PUTs mismatch (-want +got):\n%s", diff)
		}
		t.Logf("log:\n%s", log.String())
		if !strings.Contains(log.String(), "retry 2 of 4") {
			t.Errorf("log does not show the retries:\n%s", log.String())
		}
		got, err := headDigest(t, reg.Host+"/"+repoPath+":main-1a2b3c4", authn.Anonymous)
		if err != nil || got != digest {
			t.Errorf("registry digest = %q, %v; want %s", got, err, digest)
		}
	})

	t.Run("registry down fails after the retries", func(t *testing.T) {
		t.Parallel()
		host := testenv.ClosedAddr(t)
		id, localName := testImage(t, cli, binary)
		repo := host + "/" + testenv.Name(t, "app")
		var log bytes.Buffer
		opts := fastRetries
		opts.Retries = 2
		_, err := NewPusher(cli, nil, opts).Push(t.Context(), id, repo, branchTags, &log)
		if err == nil {
			t.Fatal("Push to a closed port succeeded")
		}
		t.Logf("error: %v", err)
		if errors.Is(err, ErrUnauthorized) {
			t.Errorf("error %v is ErrUnauthorized", err)
		}
		for _, want := range []string{host, "gave up after 3 attempts", "connection refused"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
		if diff := cmp.Diff([]string{localName}, localTags(t, cli, id)); diff != "" {
			t.Errorf("local tags after failed push mismatch (-want +got):\n%s", diff)
		}
	})

	t.Run("cancel during the backoff ends the push with the cause", func(t *testing.T) {
		t.Parallel()
		host := testenv.ClosedAddr(t)
		id, _ := testImage(t, cli, binary)
		repo := host + "/" + testenv.Name(t, "app")
		errStop := errors.New("build superseded")
		ctx, cancel := context.WithCancelCause(t.Context())
		defer cancel(nil)
		// The first retry line cancels; a wait of an hour proves the
		// backoff honours ctx.
		log := &cancelOnRetry{cancel: func() { cancel(errStop) }}
		_, err := NewPusher(cli, nil, noRetryWait).Push(ctx, id, repo, branchTags, log)
		if !errors.Is(err, errStop) {
			t.Fatalf("Push error = %v, want the cancel cause", err)
		}
	})

	t.Run("a registry serving another digest is caught", func(t *testing.T) {
		t.Parallel()
		reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
		proxy := startFaultProxy(t, reg.Host, func(p *faultProxy) { p.fakeDigest = true })
		id, _ := testImage(t, cli, binary)
		repo := proxy.host + "/" + testenv.Name(t, "app")
		_, err := NewPusher(cli, nil, noRetryWait).Push(t.Context(), id, repo, branchTags, io.Discard)
		if !errors.Is(err, ErrDigestMismatch) {
			t.Fatalf("Push error = %v, want ErrDigestMismatch", err)
		}
		t.Logf("error: %v", err)
		if pushed, digest := PushedTags(err); pushed != nil || digest != "" {
			t.Errorf("PushedTags = %v, %q; want nothing pushed", pushed, digest)
		}
		if diff := cmp.Diff([]string{"main-1a2b3c4"}, proxy.manifestPuts()); diff != "" {
			t.Errorf("manifest PUTs mismatch (-want +got):\n%s", diff)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		t.Parallel()
		p := NewPusher(cli, nil, PushOptions{})
		tests := []struct {
			name, image, repo string
			tags              []Tag
		}{
			{"no tags", "x", "127.0.0.1:1/x", nil},
			{"invalid tag", "x", "127.0.0.1:1/x", []Tag{{Name: "-bad"}}},
			{"duplicate tag", "x", "127.0.0.1:1/x", []Tag{{Name: "a"}, {Name: "a", Moving: true}}},
			{"repository with a tag", "x", "127.0.0.1:1/x:main", []Tag{{Name: "a"}}},
			{"upper-case repository", "x", "127.0.0.1:1/X", []Tag{{Name: "a"}}},
			{"unknown image", "slipway-registry-test/none:missing", "127.0.0.1:1/x", []Tag{{Name: "a"}}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if _, err := p.Push(t.Context(), tt.image, tt.repo, tt.tags, io.Discard); err == nil {
					t.Errorf("Push(%q, %q, %v) succeeded", tt.image, tt.repo, tt.tags)
				}
			})
		}
	})
}

func TestResolveNotFound(t *testing.T) {
	reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
	if _, err := Resolve(t.Context(), reg.Host+"/nothing:here", nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("Resolve error = %v, want ErrNotFound", err)
	}
}

// cancelOnRetry is a log writer that calls cancel at the first retry line.
type cancelOnRetry struct {
	cancel func()
	once   sync.Once
}

func (c *cancelOnRetry) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("; retry 1 of")) {
		c.once.Do(c.cancel)
	}
	return len(p), nil
}

// TestDependencies keeps the data flow one way: registry never reaches up
// to the stages before it or to the service around it.
func TestDependencies(t *testing.T) {
	out, err := exec.CommandContext(t.Context(), "go", "list", "-deps", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"pipeline", "server", "builder", "source", "store", "deploy", "webhook", "schedules"} {
			if dep == "github.com/slipwayci/slipway/"+banned || strings.HasPrefix(dep, "github.com/slipwayci/slipway/"+banned+"/") {
				t.Errorf("registry depends on %s", dep)
			}
		}
	}
}

package pipeline_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/image"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/slipwayci/slipway/internal/fixture"
	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/pipeline"
)

// TestSecretMountStaysOutOfTheImage builds a project whose RUN step reads
// a secret from secrets: (a file), tests and pushes it: the build
// succeeds, the pushed image holds the value's SHA-256 (so the step read
// it), and the value is in no history entry (`docker history --no-trunc`
// of the pulled image), not in the image config read from the registry,
// in no file of any layer, not in the build log (which shows *** where
// the step printed it) and not in the build result the API answers.
func TestSecretMountStaysOutOfTheImage(t *testing.T) {
	secret := "//registry.npmjs.org/:_authToken=" + testenv.RandomHex(t)
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "npmrc")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w := fixture.New(t, fixture.Options{
		Extra:        "builder: buildkit\n",
		ProjectExtra: fmt.Sprintf("    secrets: [{id: npmrc, file: %q}]\n", secretFile),
	})
	base := testenv.Busybox(t, w.Docker)
	// The nonce keeps the step out of the engine's cache, whose keys
	// BuildKit computes without the secret's value.
	w.Repo.Commit(t, "main", map[string]string{"Dockerfile": fmt.Sprintf(`FROM %s
COPY app /app
COPY ctx/ /ctx/
RUN --mount=type=secret,id=npmrc echo run %s && cat /run/secrets/npmrc && sha256sum /run/secrets/npmrc | cut -d' ' -f1 > /npmrc.sha256
ENTRYPOINT ["/app"]
`, base, testenv.RandomHex(t))}, "read the npm token at build time")
	svc := openService(t, w)

	var log bytes.Buffer
	b, err := svc.BuildNow(t.Context(), pipeline.BuildRequest{Project: w.Project, Ref: "main", NoDeploy: true}, &log)
	if err != nil || b.Digest == "" {
		t.Fatalf("build: status %s, error %v; log:\n%s", b.Status, err, log.String())
	}
	if strings.Contains(log.String(), strings.TrimPrefix(secret, "//")) || !strings.Contains(log.String(), "***") {
		t.Errorf("the build log shows the secret, or not *** where the step printed it:\n%s", log.String())
	}
	answer, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(answer, []byte(secret)) {
		t.Errorf("the build result holds the secret: %s", answer)
	}

	img := pushedImage(t, w.Image+":main")
	cfg, err := img.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(cfg, []byte(secret)) {
		t.Errorf("the image config in the registry holds the secret:\n%s", cfg)
	}
	sum := sha256.Sum256([]byte(secret + "\n"))
	files := layerFiles(t, img)
	if got, want := strings.TrimSpace(string(files["npmrc.sha256"])), hex.EncodeToString(sum[:]); got != want {
		t.Errorf("/npmrc.sha256 = %q, want the secret's SHA-256 %q: the RUN step did not read the secret", got, want)
	}
	for path, body := range files {
		if bytes.Contains(body, []byte(secret)) {
			t.Errorf("%s in a layer holds the secret", path)
		}
	}

	pulled := w.Image + "@" + b.Digest
	rc, err := w.Docker.ImagePull(t.Context(), pulled, image.PullOptions{})
	if err != nil {
		t.Fatalf("pull %s: %v", pulled, err)
	}
	io.Copy(io.Discard, rc)
	rc.Close()
	hist, err := w.Docker.ImageHistory(t.Context(), pulled)
	if err != nil {
		t.Fatalf("history of %s: %v", pulled, err)
	}
	var sawRun bool
	for _, h := range hist {
		sawRun = sawRun || strings.Contains(h.CreatedBy, "sha256sum /run/secrets/npmrc")
		if strings.Contains(h.CreatedBy+h.Comment, secret) {
			t.Errorf("history entry %q holds the secret", h.CreatedBy)
		}
	}
	if !sawRun {
		t.Errorf("no history entry of the RUN step: %+v", hist)
	}
}

// pushedImage reads the image tag (REPO:TAG) from its registry on
// loopback.
func pushedImage(t *testing.T, tag string) v1.Image {
	t.Helper()
	ref, err := name.NewTag(tag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(ref, remote.WithContext(t.Context()))
	if err != nil {
		t.Fatalf("read %s from the registry: %v", ref, err)
	}
	return img
}

// layerFiles returns every regular file of every layer of img by its path
// (a later layer's file of the same path replaces the earlier one).
func layerFiles(t *testing.T, img v1.Image) map[string][]byte {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	all := map[string][]byte{}
	for i, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatalf("layer %d: %v", i, err)
		}
		files, err := testenv.TarFiles(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("layer %d: %v", i, err)
		}
		maps.Copy(all, files)
	}
	return all
}

// TestSSHForwardFromSSHAuthSock: with ssh: true, a build forwards the
// agent at $SSH_AUTH_SOCK of slipway's process to RUN --mount=type=ssh,
// whose step lists the agent's key; without SSH_AUTH_SOCK the build fails
// at once saying what to do.
func TestSSHForwardFromSSHAuthSock(t *testing.T) {
	agent := testenv.StartSSHAgent(t)
	w := fixture.New(t, fixture.Options{Extra: "builder: buildkit\n", ProjectExtra: "    ssh: true\n"})
	w.Repo.CommitFile(t, "main", "sshlist", testenv.SSHList(t), 0o755, "add the agent lister")
	w.Repo.Commit(t, "main", map[string]string{"Dockerfile": fmt.Sprintf(
		"FROM scratch\nCOPY app /app\nCOPY ctx/ /ctx/\nCOPY sshlist /sshlist\nRUN --mount=type=ssh [\"/sshlist\", %q]\nENTRYPOINT [\"/app\"]\n", testenv.RandomHex(t))}, "list the forwarded agent's keys")
	svc := openService(t, w)

	t.Setenv("SSH_AUTH_SOCK", agent.Socket)
	var log bytes.Buffer
	b, err := svc.BuildNow(t.Context(), pipeline.BuildRequest{Project: w.Project, Ref: "main", NoPush: true}, &log)
	if err != nil || b.Status != "succeeded" {
		t.Fatalf("build: status %s, error %v; log:\n%s", b.Status, err, log.String())
	}
	if !strings.Contains(log.String(), agent.Key) {
		t.Errorf("the RUN step did not list the agent's key %q; log:\n%s", agent.Key, log.String())
	}

	t.Setenv("SSH_AUTH_SOCK", "")
	b, err = svc.BuildNow(t.Context(), pipeline.BuildRequest{Project: w.Project, Ref: "main", NoPush: true}, io.Discard)
	if err == nil || !strings.Contains(b.Error, "ssh: true needs an SSH agent, but SSH_AUTH_SOCK is not set") {
		t.Fatalf("build without SSH_AUTH_SOCK: status %s, error %q; want a failure naming SSH_AUTH_SOCK", b.Status, b.Error)
	}
}

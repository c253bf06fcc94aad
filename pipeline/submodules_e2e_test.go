package pipeline_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/slipwayci/slipway/internal/fixture"
	"github.com/slipwayci/slipway/pipeline"
	"github.com/slipwayci/slipway/source/gitfixture"
	"github.com/slipwayci/slipway/store"
)

// TestSubmodulesReachTheImage: a repository (file://) pins a submodule
// (file://) whose kept.txt its Dockerfile COPYs into the image's /ctx. With
// submodules: true the build's test (-selftest, which needs /ctx/kept.txt)
// passes and the pushed image holds the pinned commit's file, not the
// submodule branch's newer one. A second project of the same repository
// with submodules: false gets an empty submodule directory: its test fails
// saying kept.txt is missing, and nothing is pushed.
func TestSubmodulesReachTheImage(t *testing.T) {
	lib := gitfixture.New(t)
	pinned := lib.Commit(t, "main", map[string]string{"kept.txt": "kept, from the pinned submodule commit\n"}, "lib one")
	lib.Commit(t, "main", map[string]string{"kept.txt": "newer, not pinned\n"}, "lib two")

	w := fixture.New(t, fixture.Options{ProjectExtra: "    submodules: true\n"})
	w.Repo.Commit(t, "main", map[string]string{
		".gitmodules": fmt.Sprintf("[submodule \"vendor/lib\"]\n\tpath = vendor/lib\n\turl = %s\n", lib.URL()),
		"Dockerfile":  "FROM scratch\nCOPY app /app\nCOPY vendor/lib/ /ctx/\nENTRYPOINT [\"/app\"]\n",
	}, "take /ctx from the submodule")
	w.Repo.Git(t, "update-index", "--add", "--cacheinfo", "160000,"+pinned+",vendor/lib")
	w.Repo.Git(t, "commit", "-q", "-m", "pin vendor/lib")

	// The same repository as a project that leaves submodules out.
	plainImage := w.Image + "-nosub"
	t.Cleanup(func() { fixture.RemoveImages(w.Docker, plainImage) })
	cfg, err := os.ReadFile(w.ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	cfg = fmt.Appendf(cfg, "  - name: nosub\n    repo: %q\n    submodules: false\n    default_branch: main\n    image: %q\n    test: {command: [\"-selftest\"], timeout: 1m}\n", w.Repo.URL(), plainImage)
	if err := os.WriteFile(w.ConfigPath(), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	svc := openService(t, w)

	b := buildOK(t, svc, pipeline.BuildRequest{Project: w.Project, Ref: "main", NoDeploy: true})
	img := pushedImage(t, w.Image+":main")
	if d, _ := img.Digest(); d.String() != b.Digest {
		t.Fatalf("%s:main is %s, want the build's %s", w.Image, d, b.Digest)
	}
	if got, want := string(layerFiles(t, img)["ctx/kept.txt"]), "kept, from the pinned submodule commit\n"; got != want {
		t.Errorf("/ctx/kept.txt in the pushed image = %q, want the pinned submodule commit's %q", got, want)
	}

	var log bytes.Buffer
	plain, err := svc.BuildNow(t.Context(), pipeline.BuildRequest{Project: "nosub", Ref: "main", NoDeploy: true}, &log)
	if err == nil || plain.Status != store.StatusFailed {
		t.Fatalf("build without submodules: status %q, error %v; want failed; log:\n%s", plain.Status, err, log.String())
	}
	if !strings.Contains(log.String(), "selftest: kept.txt missing") {
		t.Errorf("the failed build's log does not say kept.txt is missing:\n%s", log.String())
	}
	plainRef, err := name.NewTag(plainImage+":main", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	var terr *transport.Error
	if _, err := remote.Head(plainRef, remote.WithContext(t.Context())); !errors.As(err, &terr) || terr.StatusCode != http.StatusNotFound {
		t.Errorf("HEAD %s after the failed build: %v, want 404: nothing pushed", plainRef, err)
	}
}

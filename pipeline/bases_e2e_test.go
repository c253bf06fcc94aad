package pipeline_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/image"
	"github.com/google/go-cmp/cmp"

	"github.com/slipwayci/slipway/internal/fixture"
	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/pipeline"
	"github.com/slipwayci/slipway/store"
)

// TestBuildRecordsBases: a build records the image its Dockerfile is built
// FROM (through an ARG default, a stage and COPY --from) with the digest
// its registry serves; when the engine's copy of the base is older than
// that digest, the build pulls it, so the image pushed is built on the
// digest recorded.
func TestBuildRecordsBases(t *testing.T) {
	t.Parallel()
	w := fixture.New(t, fixture.Options{Project: testenv.Name(t, "bases")})
	base := w.Reg.Host + "/" + testenv.Name(t, "base") + ":1"
	v1 := fixture.PushBase(t, w.Docker, base, map[string]string{"base-version": "1\n"})
	w.Repo.Commit(t, "main", map[string]string{
		"Dockerfile": "ARG BASE=" + base + "\nFROM scratch AS unused\nFROM $BASE AS app\nCOPY app /app\nFROM app\nCOPY ctx/ /ctx/\nENTRYPOINT [\"/app\"]\n",
	}, "build on a base")
	svc := openService(t, w)

	first := buildOK(t, svc, pipeline.BuildRequest{Project: w.Project, Ref: "main"})
	if diff := cmp.Diff(first.Bases, []store.BaseImage{{Ref: base, Digest: v1.Digest}}); diff != "" {
		t.Errorf("bases of the first build (-got +want):\n%s", diff)
	}
	if got := fixture.Layers(t, w.Image+":main")[0]; got != v1.Layer {
		t.Errorf("the image's base layer is %s, want the base's %s", got, v1.Layer)
	}

	// A new base:1 is pushed, and the engine's copy of base:1 is the old
	// one again (as after a push from elsewhere).
	v2 := fixture.PushBase(t, w.Docker, base, map[string]string{"base-version": "2\n"})
	if err := w.Docker.ImageTag(t.Context(), v1.ID, base); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = w.Docker.ImageRemove(context.Background(), v2.ID, image.RemoveOptions{Force: true}) })
	w.Repo.Commit(t, "main", map[string]string{"ctx/other.txt": "x\n"}, "another commit")
	var log bytes.Buffer
	second, err := svc.BuildNow(t.Context(), pipeline.BuildRequest{Project: w.Project, Ref: "main"}, &log)
	if err != nil || second.Status != store.StatusSucceeded {
		t.Fatalf("second build: %s, %v; log:\n%s", second.Status, err, log.String())
	}
	if diff := cmp.Diff(second.Bases, []store.BaseImage{{Ref: base, Digest: v2.Digest}}); diff != "" {
		t.Errorf("bases of the second build (-got +want):\n%s", diff)
	}
	if !strings.Contains(log.String(), "pulling") {
		t.Errorf("the build log does not say that the stale base is pulled:\n%s", log.String())
	}
	if got := fixture.Layers(t, w.Image+":main")[0]; got != v2.Layer {
		t.Errorf("the image's base layer is %s, want the new base's %s", got, v2.Layer)
	}
}

package main

import (
	"archive/tar"
	"bytes"
	"io"
	"strings"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	dockerbuild "github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/slipwayci/slipway/builder"
	"github.com/slipwayci/slipway/internal/fixture"
	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/store"
)

// danglingImage builds two images with the given labels under one tag, so
// that the first is left dangling, and returns the first's ID. Both are
// removed when the test ends.
func danglingImage(t *testing.T, cli *client.Client, labels map[string]string) string {
	t.Helper()
	tag := "slipway-local/" + testenv.Name(t, "dangling") + ":x"
	var ids []string
	for _, nonce := range []string{"1", "2"} {
		var df strings.Builder
		df.WriteString("FROM scratch\nLABEL nonce=" + nonce + "\n")
		for k, v := range labels {
			df.WriteString("LABEL " + k + "=" + v + "\n")
		}
		var ctx bytes.Buffer
		tw := tar.NewWriter(&ctx)
		tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(df.Len())})
		tw.Write([]byte(df.String()))
		tw.Close()
		resp, err := cli.ImageBuild(t.Context(), &ctx, dockerbuild.ImageBuildOptions{Tags: []string{tag}, Remove: true, ForceRemove: true, NoCache: true})
		if err != nil {
			t.Fatalf("build %s: %v", tag, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		img, err := cli.ImageInspect(t.Context(), tag)
		if err != nil {
			t.Fatalf("inspect %s: %v", tag, err)
		}
		ids = append(ids, img.ID)
		t.Cleanup(func() { cli.ImageRemove(t.Context(), img.ID, image.RemoveOptions{Force: true, PruneChildren: true}) })
	}
	if ids[0] == ids[1] {
		t.Fatalf("the two builds of %s gave one image", tag)
	}
	return ids[0]
}

func exists(t *testing.T, cli *client.Client, ref string) bool {
	t.Helper()
	_, err := cli.ImageInspect(t.Context(), ref)
	if err != nil && !cerrdefs.IsNotFound(err) {
		t.Fatalf("inspect %s: %v", ref, err)
	}
	return err == nil
}

// Engine hygiene: after a build, the images of the project's earlier
// builds whose tags all moved on are removed; images of other projects and
// images slipway did not build are left alone.
func TestBuildRemovesItsDanglingImagesOnly(t *testing.T) {
	// Only the branch tag, so that v1's image loses its last tag to v2.
	// Its own project name: another test's build of project "fixture"
	// would remove v1's dangling image before this build's hygiene does.
	w := fixture.New(t, fixture.Options{ProjectExtra: "    tags: [{type: branch}]\n", Project: testenv.Name(t, "hygiene")})
	otherProject := danglingImage(t, w.Docker, map[string]string{builder.ProjectLabel: testenv.Name(t, "other")})
	notSlipways := danglingImage(t, w.Docker, nil)

	code, v1, stderr := build(t, w)
	if code != 0 {
		t.Fatalf("v1 build exited %d:\n%s", code, stderr)
	}
	img, err := w.Docker.ImageInspect(t.Context(), w.Image+":main")
	if err != nil {
		t.Fatalf("v1's image is not in the engine as %s:main: %v", w.Image, err)
	}
	if img.Config.Labels[builder.ProjectLabel] != w.Project {
		t.Errorf("v1's image has labels %v, want %s=%s", img.Config.Labels, builder.ProjectLabel, w.Project)
	}
	v1Image := img.ID

	w.Repo.Commit(t, "main", map[string]string{"ctx/kept.txt": "v2\n"}, "v2")
	code, v2, stderr := build(t, w)
	if code != 0 || v2.Digest == v1.Digest {
		t.Fatalf("v2 build exited %d digest %s (v1 %s):\n%s", code, v2.Digest, v1.Digest, stderr)
	}
	if exists(t, w.Docker, v1Image) {
		t.Errorf("v1's image %s, whose tag moved to v2, is still in the engine", v1Image)
	}
	if !strings.Contains(stderr, "engine hygiene: removed") {
		t.Errorf("the build log does not say what hygiene removed:\n%s", stderr)
	}
	if !exists(t, w.Docker, w.Image+":main") {
		t.Errorf("v2's image %s:main was removed", w.Image)
	}
	if !exists(t, w.Docker, otherProject) {
		t.Errorf("a dangling image of another project was removed")
	}
	if !exists(t, w.Docker, notSlipways) {
		t.Errorf("a dangling image slipway did not build was removed")
	}
}

// Hygiene starts once the image is built, beside the test stage: a build
// whose test fails still removes the image its build left dangling, and it
// is done by the time the build ends.
func TestFailedTestStillCleansTheEngine(t *testing.T) {
	w := fixture.New(t, fixture.Options{ProjectExtra: "    tags: [{type: branch}]\n", Project: testenv.Name(t, "hygiene"), TestCommand: []string{"-fail"}})
	code, v1, stderr := build(t, w)
	if code == 0 || v1.Status != store.StatusFailed {
		t.Fatalf("v1 build exited %d with status %q, want its test to fail:\n%s", code, v1.Status, stderr)
	}
	img, err := w.Docker.ImageInspect(t.Context(), w.Image+":main")
	if err != nil {
		t.Fatalf("v1's image is not in the engine as %s:main: %v", w.Image, err)
	}
	w.Repo.Commit(t, "main", map[string]string{"ctx/kept.txt": "v2\n"}, "v2")
	code, v2, stderr := build(t, w)
	if code == 0 || v2.Status != store.StatusFailed || !strings.Contains(v2.Error, "test") {
		t.Fatalf("v2 build exited %d with status %q (%s), want its test to fail:\n%s", code, v2.Status, v2.Error, stderr)
	}
	if exists(t, w.Docker, img.ID) {
		t.Errorf("v1's image %s, whose tag moved to v2, is still in the engine after v2's build ended", img.ID)
	}
	if !strings.Contains(stderr, "engine hygiene: removed") {
		t.Errorf("the build log does not say what hygiene removed:\n%s", stderr)
	}
	if !exists(t, w.Docker, w.Image+":main") {
		t.Errorf("v2's image %s:main was removed", w.Image)
	}
}

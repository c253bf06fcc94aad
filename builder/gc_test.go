package builder_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"sync"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"

	"github.com/slipwayci/slipway/builder"
	"github.com/slipwayci/slipway/internal/testenv"
)

// TestCleanWhileOthersClean: builds that end together clean the shared
// engine at once; the engine (before 23.0) runs one image prune and one
// disk usage request at a time and refuses the others ("a prune operation
// is already running"). Every Clean still succeeds. The project matches no
// image and the cache cap no cache, so nothing is removed.
func TestCleanWhileOthersClean(t *testing.T) {
	cli := testenv.Docker(t)
	project := testenv.Name(t, "nothing")
	const cleaners = 8
	errs := make([]error, cleaners)
	var wg sync.WaitGroup
	for i := range cleaners {
		wg.Go(func() {
			var rep builder.GCReport
			rep, errs[i] = builder.Clean(t.Context(), cli, project, math.MaxInt64)
			if errs[i] == nil && (rep.ImagesDeleted != 0 || rep.BuildCacheBytes != 0) {
				t.Errorf("Clean %d removed %+v, want nothing", i, rep)
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Clean %d of %d at once: %v", i, cleaners, err)
		}
	}
}

// TestCleanKeepsARunningBuildsStep: Clean removes the project's image whose
// tag moved to a newer build, but not an untagged image of the project
// that was never tagged: the latest step of a classic build still running
// (the next step starts from it), which another build's hygiene used to
// delete ("No such image"). The newer build's image stays.
func TestCleanKeepsARunningBuildsStep(t *testing.T) {
	cli := testenv.Docker(t)
	project := testenv.Name(t, "steps")
	tag := "slipway-local/" + project + ":main"
	labels := map[string]string{builder.ProjectLabel: project}
	moved := buildImage(t, cli, tag, labels, "moved")
	kept := buildImage(t, cli, tag, labels, "kept")
	step := buildImage(t, cli, "", labels, "step")

	rep, err := builder.Clean(t.Context(), cli, project, 0)
	if err != nil {
		t.Fatalf("Clean: %v", err)
	}
	if rep.ImagesDeleted != 1 {
		t.Errorf("Clean removed %d images, want 1 (the one whose tag moved)", rep.ImagesDeleted)
	}
	for _, tt := range []struct {
		what, id string
		want     bool
	}{{"the image whose tag moved", moved, false}, {"the newer build's image", kept, true}, {"the running build's step", step, true}} {
		_, err := cli.ImageInspect(t.Context(), tt.id)
		if err != nil && !cerrdefs.IsNotFound(err) {
			t.Fatal(err)
		}
		if got := err == nil; got != tt.want {
			t.Errorf("%s %s in the engine after Clean: %v, want %v", tt.what, tt.id, got, tt.want)
		}
	}
}

// buildImage builds a FROM scratch image with labels and a nonce label
// (tagged tag unless it is ""), removed when the test ends, and returns
// its ID.
func buildImage(t *testing.T, cli *client.Client, tag string, labels map[string]string, nonce string) string {
	t.Helper()
	df := "FROM scratch\nLABEL nonce=" + nonce + "\n"
	var ctx bytes.Buffer
	tw := tar.NewWriter(&ctx)
	if err := tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(df))}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte(df))
	tw.Close()
	// NoCache: a cached step of an earlier build (another run's, on a
	// shared engine) may be removed by its test's cleanup while this build
	// takes it ("unable to find image").
	opts := build.ImageBuildOptions{Labels: labels, Remove: true, ForceRemove: true, NoCache: true}
	if tag != "" {
		opts.Tags = []string{tag}
	}
	resp, err := cli.ImageBuild(t.Context(), &ctx, opts)
	if err != nil {
		t.Fatalf("build %s: %v", nonce, err)
	}
	defer resp.Body.Close()
	var id string
	err = jsonmessage.DisplayJSONMessagesStream(resp.Body, io.Discard, 0, false, func(m jsonmessage.JSONMessage) {
		var aux struct{ ID string }
		if m.Aux != nil && json.Unmarshal(*m.Aux, &aux) == nil && aux.ID != "" {
			id = aux.ID
		}
	})
	if err != nil || id == "" {
		t.Fatalf("build %s: %v (image %q)", nonce, err, id)
	}
	t.Cleanup(func() {
		cli.ImageRemove(context.WithoutCancel(t.Context()), id, image.RemoveOptions{Force: true, PruneChildren: true})
	})
	return id
}

package pipeline_test

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/rs/zerolog"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/internal/fixture"
	"github.com/slipwayci/slipway/pipeline"
	"github.com/slipwayci/slipway/store"
)

// openService wires a pipeline.Service from w's config; it is closed when
// the test ends.
func openService(t *testing.T, w *fixture.World) *pipeline.Service {
	t.Helper()
	cfg, err := config.Load(w.ConfigPath())
	if err != nil {
		t.Fatalf("load the world's config: %v", err)
	}
	svc, err := pipeline.Open(t.Context(), cfg, zerolog.Nop())
	if err != nil {
		t.Fatalf("open the service: %v", err)
	}
	t.Cleanup(func() { svc.Close() })
	return svc
}

// buildOK runs req through BuildNow and fails the test, with the build log,
// unless the build succeeded.
func buildOK(t *testing.T, svc *pipeline.Service, req pipeline.BuildRequest) store.Build {
	t.Helper()
	var log bytes.Buffer
	b, err := svc.BuildNow(t.Context(), req, &log)
	if err != nil || b.Status != store.StatusSucceeded {
		t.Fatalf("build of %+v: status %q, error %v; log:\n%s", req, b.Status, err, log.String())
	}
	if b.Digest == "" {
		t.Fatalf("build of %+v succeeded without a digest; log:\n%s", req, log.String())
	}
	return b
}

// stageNames lists b's stages in order.
func stageNames(b store.Build) []string {
	names := make([]string, len(b.Stages))
	for i, s := range b.Stages {
		names[i] = s.Name
	}
	return names
}

// localImages returns the engine's images that carry a tag of w's image
// repository: image ID to its tags there, sorted. Other tests share the
// engine, so only this world's repository counts.
func localImages(t *testing.T, w *fixture.World) map[string][]string {
	t.Helper()
	imgs, err := w.Docker.ImageList(t.Context(), image.ListOptions{All: true})
	if err != nil {
		t.Fatalf("list the engine's images: %v", err)
	}
	out := map[string][]string{}
	for _, img := range imgs {
		for _, tag := range img.RepoTags {
			if rest, ok := strings.CutPrefix(tag, w.Image+":"); ok {
				out[img.ID] = append(out[img.ID], rest)
			}
		}
	}
	for id := range out {
		slices.Sort(out[id])
	}
	return out
}

// registryTags lists the tags of w's repository in the registry, sorted.
func registryTags(t *testing.T, w *fixture.World) []string {
	t.Helper()
	repo, err := name.NewRepository(w.Image, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	tags, err := remote.List(repo, remote.WithContext(t.Context()))
	if err != nil {
		t.Fatalf("list the tags of %s: %v", repo, err)
	}
	slices.Sort(tags)
	return tags
}

// checkDigests fails for each tag whose digest in the registry is not the
// wanted one ("" = the tag must not exist).
func checkDigests(t *testing.T, w *fixture.World, want map[string]string) {
	t.Helper()
	for _, tag := range slices.Sorted(maps.Keys(want)) {
		if got := w.Digest(tag); got != want[tag] {
			t.Errorf("registry %s:%s = %q, want %q", w.Image, tag, got, want[tag])
		}
	}
}

// date parses an RFC3339 time for a test table.
func date(t *testing.T, s string) time.Time {
	t.Helper()
	d, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestReleaseRetagsPushedImage: a weekly release of a commit that a push
// build already pushed adds its tags to that digest without an engine
// build; with rebuild: true the release builds afresh.
func TestReleaseRetagsPushedImage(t *testing.T) {
	t.Parallel()
	w := fixture.New(t, fixture.Options{
		ProjectExtra: "    schedules:\n      - {name: weekly, cron: \"0 3 * * MON\"}\n",
	})
	svc := openService(t, w)

	push := buildOK(t, svc, pipeline.BuildRequest{Project: "fixture", Ref: "main"})
	if got, want := stageNames(push), []string{"source", "build", "test", "push"}; !cmp.Equal(got, want) {
		t.Fatalf("push build stages = %v, want %v", got, want)
	}
	before := localImages(t, w)

	rel := buildOK(t, svc, pipeline.BuildRequest{Project: "fixture", Schedule: "weekly", At: date(t, "2026-11-23T03:00:00Z")})
	if diff := cmp.Diff([]string{"source", "push"}, stageNames(rel)); diff != "" {
		t.Errorf("release stages (-want +got): no build or test stage may run for a re-tag:\n%s", diff)
	}
	if rel.Digest != push.Digest {
		t.Errorf("release digest = %s, want the push build's %s", rel.Digest, push.Digest)
	}
	if rel.Commit != push.Commit {
		t.Errorf("release commit = %s, want the push build's %s", rel.Commit, push.Commit)
	}
	if diff := cmp.Diff([]string{"weekly", "2026-W48"}, rel.Tags); diff != "" {
		t.Errorf("release tags (-want +got):\n%s", diff)
	}
	checkDigests(t, w, map[string]string{
		"2026-W48": push.Digest,
		"weekly":   push.Digest,
		"main":     push.Digest,
		"latest":   push.Digest,
	})
	if diff := cmp.Diff(before, localImages(t, w)); diff != "" {
		t.Errorf("the engine's images of %s changed during a re-tag (-before +after):\n%s", w.Image, diff)
	}

	// The weekly security rebuild: same commit, but built afresh.
	p, err := svc.Config.Project("fixture")
	if err != nil {
		t.Fatal(err)
	}
	p.ScheduleNamed("weekly").Rebuild = true
	fresh := buildOK(t, svc, pipeline.BuildRequest{Project: "fixture", Schedule: "weekly", At: date(t, "2026-11-30T03:00:00Z")})
	if got, want := stageNames(fresh), []string{"source", "build", "test", "push"}; !cmp.Equal(got, want) {
		t.Errorf("rebuild: true release stages = %v, want %v", got, want)
	}
	if fresh.Commit != push.Commit {
		t.Errorf("rebuild commit = %s, want %s", fresh.Commit, push.Commit)
	}
	if fresh.Digest == push.Digest {
		t.Errorf("rebuild: true pushed the push build's digest %s again; want a fresh image", fresh.Digest)
	}
	checkDigests(t, w, map[string]string{
		"2026-W49": fresh.Digest,
		"weekly":   fresh.Digest,
		"2026-W48": push.Digest,
		"latest":   push.Digest,
	})
	after := localImages(t, w)
	if got, want := after[freshID(t, w)], []string{"2026-W49", "weekly"}; !cmp.Equal(got, want) {
		t.Errorf("local tags of the rebuilt image = %v, want %v (all: %v)", got, want, after)
	}
}

// freshID is the local image ID of w's weekly tag.
func freshID(t *testing.T, w *fixture.World) string {
	t.Helper()
	insp, err := w.Docker.ImageInspect(t.Context(), w.Image+":weekly")
	if err != nil {
		t.Fatalf("inspect %s:weekly: %v", w.Image, err)
	}
	return insp.ID
}

// TestGitTagReleases: v1.2.0 gets 1.2.0, 1.2, 1 and latest; the backport
// v1.1.5 pushed after it gets 1.1.5 and 1.1 and moves neither latest nor 1.
func TestGitTagReleases(t *testing.T) {
	t.Parallel()
	w := fixture.New(t, fixture.Options{})
	svc := openService(t, w)

	w.Repo.Tag(t, "v1.2.0", w.Head)
	v120 := buildOK(t, svc, pipeline.BuildRequest{Project: "fixture", Ref: "refs/tags/v1.2.0"})
	if got, want := sorted(v120.Tags), []string{"1", "1.2", "1.2.0", "latest"}; !cmp.Equal(got, want) {
		t.Errorf("v1.2.0 tags = %v, want %v", got, want)
	}
	if v120.Commit != w.Head {
		t.Errorf("v1.2.0 built %s, want %s", v120.Commit, w.Head)
	}
	checkDigests(t, w, map[string]string{"1.2.0": v120.Digest, "1.2": v120.Digest, "1": v120.Digest, "latest": v120.Digest})

	backport := w.Repo.Commit(t, "release-1.1", map[string]string{"ctx/kept.txt": "kept, 1.1 line\n"}, "backport a fix")
	w.Repo.Tag(t, "v1.1.5", backport)
	v115 := buildOK(t, svc, pipeline.BuildRequest{Project: "fixture", Ref: "refs/tags/v1.1.5"})
	if got, want := sorted(v115.Tags), []string{"1.1", "1.1.5"}; !cmp.Equal(got, want) {
		t.Errorf("v1.1.5 tags = %v, want %v (latest and 1 stay on 1.2.0)", got, want)
	}
	if v115.Commit != backport || v115.Digest == v120.Digest {
		t.Fatalf("v1.1.5 built %s as %s, want %s as an image of its own (v1.2.0 is %s)", v115.Commit, v115.Digest, backport, v120.Digest)
	}
	checkDigests(t, w, map[string]string{
		"1.1.5":  v115.Digest,
		"1.1":    v115.Digest,
		"latest": v120.Digest,
		"1":      v120.Digest,
		"1.2":    v120.Digest,
		"1.2.0":  v120.Digest,
	})
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestRetentionKeepsNewest: with retention keep 2, four nightly releases
// of four commits leave the newest two dated tags and the moving one; the
// push build's tags stay.
func TestRetentionKeepsNewest(t *testing.T) {
	t.Parallel()
	w := fixture.New(t, fixture.Options{
		ProjectExtra: "    schedules:\n      - {name: nightly, cron: \"@daily\", retention: {keep: 2}}\n",
	})
	svc := openService(t, w)
	push := buildOK(t, svc, pipeline.BuildRequest{Project: "fixture", Ref: "main"})

	days := []string{"2026-11-20", "2026-11-21", "2026-11-22", "2026-11-23"}
	digests := map[string]string{}
	for i, day := range days {
		// A commit per release, so that each is built and gets a digest
		// of its own: the registry deletes manifests, so tags sharing
		// one with a kept tag would stay.
		w.Repo.Commit(t, "main", map[string]string{"ctx/kept.txt": fmt.Sprintf("kept, release %d\n", i)}, "release "+day)
		b := buildOK(t, svc, pipeline.BuildRequest{Project: "fixture", Schedule: "nightly", At: date(t, day+"T00:00:00Z")})
		if !slices.Contains(stageNames(b), "build") {
			t.Fatalf("release %s of a new commit was not built: stages %v", day, stageNames(b))
		}
		tag := "nightly-" + strings.ReplaceAll(day, "-", "")
		if _, dup := digests[b.Digest]; dup {
			t.Fatalf("release %s pushed digest %s again", day, b.Digest)
		}
		digests[b.Digest] = tag
		digests[tag] = b.Digest
	}

	want := []string{"latest", "main", "main-" + push.Commit[:7], "nightly", "nightly-20261122", "nightly-20261123"}
	if diff := cmp.Diff(want, registryTags(t, w)); diff != "" {
		t.Errorf("registry tags after four releases with keep 2 (-want +got):\n%s", diff)
	}
	checkDigests(t, w, map[string]string{
		"nightly":                 digests["nightly-20261123"],
		"nightly-20261123":        digests["nightly-20261123"],
		"nightly-20261122":        digests["nightly-20261122"],
		"latest":                  push.Digest,
		"main":                    push.Digest,
		"main-" + push.Commit[:7]: push.Digest,
	})
}

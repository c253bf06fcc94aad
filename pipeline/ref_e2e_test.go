package pipeline_test

import (
	"io"
	"testing"

	"github.com/slipwayci/slipway/internal/fixture"
	"github.com/slipwayci/slipway/pipeline"
	"github.com/slipwayci/slipway/store"
)

// TestBuildNowStoresFullRef: `slipway build` records the full ref from the
// start, as the API does, also when the build ends before the source stage
// resolved it.
func TestBuildNowStoresFullRef(t *testing.T) {
	w := fixture.New(t, fixture.Options{})
	svc := openService(t, w)
	b, err := svc.BuildNow(t.Context(), pipeline.BuildRequest{Project: "fixture", Ref: "no-such-branch"}, io.Discard)
	if err == nil || b.Status != store.StatusFailed {
		t.Fatalf("build of a missing branch: status %q, error %v; want failed", b.Status, err)
	}
	if want := "refs/heads/no-such-branch"; b.Ref != want {
		t.Errorf("recorded ref %q, want %q", b.Ref, want)
	}
	got, err := svc.Store().GetBuild(t.Context(), b.ID)
	if err != nil || got.Ref != "refs/heads/no-such-branch" {
		t.Errorf("stored build %+v, %v; want ref refs/heads/no-such-branch", got, err)
	}
}

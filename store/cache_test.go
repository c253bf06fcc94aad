package store

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestBuildCacheUse checks on every backend that a build's cache use is
// kept by UpdateBuild and Copy's insert, and absent (no "cache" in the
// result) until known.
func TestBuildCacheUse(t *testing.T) {
	for _, be := range testBackends {
		t.Run(be.name, func(t *testing.T) {
			s := be.open(t)
			b := enqueue(t, s, Build{Project: "web", Trigger: TriggerPush, Ref: "refs/heads/main", Commit: "abc"})
			got := mustGet(t, s, b.ID)
			if got.Cache != nil {
				t.Errorf("a queued build has cache %+v, want none", got.Cache)
			}
			if js, _ := json.Marshal(got); strings.Contains(string(js), `"cache"`) {
				t.Errorf("the result of a queued build names the cache: %s", js)
			}
			got.Cache = &CacheUse{CachedSteps: 3, TotalSteps: 5}
			if err := s.UpdateBuild(t.Context(), got); err != nil {
				t.Fatal(err)
			}
			again := mustGet(t, s, b.ID)
			if diff := cmp.Diff(again.Cache, &CacheUse{CachedSteps: 3, TotalSteps: 5}); diff != "" {
				t.Errorf("cache (-got +want):\n%s", diff)
			}
			if js, _ := json.Marshal(again); !strings.Contains(string(js), `"cache":{"cached_steps":3,"total_steps":5}`) {
				t.Errorf("the build result does not show the cache use: %s", js)
			}
			id, err := insertBuildAs(t.Context(), s.db, again, false)
			if err != nil {
				t.Fatal(err)
			}
			if c := mustGet(t, s, id).Cache; c == nil || *c != *again.Cache {
				t.Errorf("an inserted copy has cache %+v, want %+v", c, again.Cache)
			}
		})
	}
}

package builder_test

import (
	"math"
	"sync"
	"testing"

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

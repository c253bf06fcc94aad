package builders_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types"

	"github.com/slipwayci/slipway/builders"
	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/internal/testenv"
)

// TestDiskUseWhileAnotherClientAsks: the engine here (20.10) refuses a disk
// usage request while another client's runs; the builders' status still
// reports the disk use of a healthy builder, and concurrent status requests
// share the engine's answer.
func TestDiskUseWhileAnotherClientAsks(t *testing.T) {
	cli := testenv.Docker(t)
	// A check's time bounds the disk use's retries: on a loaded engine
	// each request of the other client takes seconds and leaves short
	// gaps, more than the default 5s may pass before one is found.
	pl, err := builders.New([]config.Builder{{Name: "main", Host: cli.DaemonHost(), Concurrency: 1}}, builders.Options{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pl.Close() })
	pl.Check(t.Context())

	// Another client keeps asking, with short pauses, as `docker system df`
	// in a loop or another slipway replica would.
	ctx, stop := context.WithCancel(t.Context())
	var other sync.WaitGroup
	other.Add(1)
	go func() {
		defer other.Done()
		for ctx.Err() == nil {
			cli.DiskUsage(ctx, types.DiskUsageOptions{Types: []types.DiskUsageObject{types.ImageObject}})
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	defer func() { stop(); other.Wait() }()

	var wg sync.WaitGroup
	statuses := make([][]builders.Status, 4)
	for round := 0; round < 3; round++ {
		for i := range statuses {
			wg.Add(1)
			go func() {
				defer wg.Done()
				statuses[i] = pl.Status(t.Context())
			}()
		}
		wg.Wait()
		for i, st := range statuses {
			if len(st) != 1 || !st[0].Healthy || st[0].Disk == nil || st[0].Disk.Images == 0 {
				t.Fatalf("round %d, request %d: status %+v, want a healthy builder with its disk use", round, i, st)
			}
		}
	}
}

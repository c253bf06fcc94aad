package builders

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/client"

	"github.com/slipwayci/slipway/builder"
)

// Status is a builder as GET /api/v1/builders shows it.
type Status struct {
	Name string `json:"name"`
	// Host is the engine endpoint, without credentials.
	Host string `json:"host"`
	// Healthy is the last health check's outcome, Error its failure and
	// Since when it last changed (null before the first check).
	Healthy bool       `json:"healthy"`
	Error   string     `json:"error,omitempty"`
	Since   *time.Time `json:"since"`
	// Draining builders take no new builds.
	Draining bool `json:"draining"`
	// Labels are the effective labels placement matches.
	Labels      map[string]string `json:"labels"`
	Concurrency int               `json:"concurrency"`
	// Running are the IDs of the builds running on the builder.
	Running []int64 `json:"running"`
	// Disk is the engine's disk use; null when it did not answer.
	Disk *Disk `json:"disk"`
}

// Disk is an engine's disk use as `docker system df` reports it.
type Disk struct {
	Images         int   `json:"images"`
	ImagesBytes    int64 `json:"images_bytes"`
	BuildCache     int   `json:"build_cache"`
	BuildCacheSize int64 `json:"build_cache_bytes"`
}

// Status reports every builder, in config order, with the disk use of the
// healthy ones (read at once, each bounded by the health check timeout).
func (p *Pool) Status(ctx context.Context) []Status {
	p.checkStale(ctx)
	p.mu.Lock()
	out := make([]Status, len(p.members))
	for i, m := range p.members {
		s := Status{Name: m.cfg.Name, Host: m.host, Healthy: m.healthy, Error: m.err, Draining: m.draining,
			Labels: m.labels(), Concurrency: max(m.cfg.Concurrency, 1), Running: []int64{}}
		if m.checked {
			since := m.since.UTC()
			s.Since = &since
		}
		for id := range m.running {
			s.Running = append(s.Running, id)
		}
		slices.Sort(s.Running)
		out[i] = s
	}
	p.mu.Unlock()
	var wg sync.WaitGroup
	for i, m := range p.members {
		if !out[i].Healthy {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i].Disk = p.disk(ctx, m)
		}()
	}
	wg.Wait()
	return out
}

// disk reads an engine's image and build cache use; nil when it fails.
// Concurrent callers share one request per builder, and a request refused
// because another client's is running (engines before 23.0 run one at a
// time) is tried again until the check's timeout.
func (p *Pool) disk(ctx context.Context, m *member) *Disk {
	v, _, _ := p.disks.Do(m.cfg.Name, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.opts.Timeout)
		defer cancel()
		return diskUse(ctx, m.cli), nil
	})
	return v.(*Disk)
}

// diskUse asks cli for its disk use as `docker system df` shows it.
func diskUse(ctx context.Context, cli *client.Client) *Disk {
	var du types.DiskUsage
	err := builder.WhenIdle(ctx, func() (err error) {
		du, err = cli.DiskUsage(ctx, types.DiskUsageOptions{Types: []types.DiskUsageObject{types.ImageObject, types.BuildCacheObject}})
		return err
	})
	if err != nil {
		return nil
	}
	// The images' size is that of their layers, each counted once, as
	// `docker system df` shows it.
	d := &Disk{Images: len(du.Images), ImagesBytes: du.LayersSize, BuildCache: len(du.BuildCache)}
	for _, c := range du.BuildCache {
		d.BuildCacheSize += c.Size
	}
	return d
}

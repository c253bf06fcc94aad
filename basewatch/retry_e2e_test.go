package basewatch_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/slipwayci/slipway/basewatch"
	"github.com/slipwayci/slipway/internal/fixture"
	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/store"
)

// TestRetryFailedRebuild: a project whose image's registry refuses its
// pushes, watching its base every second, served by two replicas sharing
// a PostgreSQL database. A new base digest gives a rebuild that fails; an
// interval later it is retried once, the reason saying so, and again
// after that one fails, while the base shows outdated. The base changing
// again meanwhile gives one rebuild for the newest digest. Once the
// registry takes pushes again a rebuild succeeds on the newest digest,
// the base is up to date, and further checks rebuild nothing.
func TestRetryFailedRebuild(t *testing.T) {
	t.Parallel()
	project := testenv.Name(t, "retried")
	var image string
	w, v1 := newWorld(t, fixture.Options{Project: testenv.Name(t, "idle")}, func(fw *fixture.World, base string) string {
		host, _, _ := strings.Cut(base, "/")
		image = host + "/" + testenv.Name(t, "retried")
		return fmt.Sprintf(`  - name: %q
    repo: %q
    image: %q
    base_images: {watch: true, interval: 1s}
`, project, fw.Repo.URL(), image)
	}, 2)
	t.Cleanup(func() { fixture.RemoveImages(w.Docker, image) })
	first := w.push(t, project)
	if len(first.Bases) != 1 || first.Bases[0].Digest != v1.Digest {
		t.Fatalf("bases of the first build = %+v, want %s at %s", first.Bases, w.base, v1.Digest)
	}
	repo := strings.TrimPrefix(image, w.px.Host+"/")
	w.px.refused.Store(&repo)

	v2 := fixture.PushBase(t, w.Docker, w.base, map[string]string{"base-version": "2\n"})
	want12 := "base_image " + w.base + " " + short(v1.Digest) + " → " + short(v2.Digest)
	rb1 := w.waitEnd(t, w.nthRebuild(t, project, 1, time.Minute).ID)
	if rb1.Status != store.StatusFailed || rb1.Reason != want12 {
		t.Fatalf("the first rebuild: %s, reason %q; want failed (push refused), reason %q", rb1.Status, rb1.Reason, want12)
	}
	rb2 := w.waitEnd(t, w.nthRebuild(t, project, 2, time.Minute).ID)
	if want := want12 + fmt.Sprintf(" (retry 1, last failed in #%d)", rb1.ID); rb2.Reason != want {
		t.Errorf("the retry's reason = %q, want %q", rb2.Reason, want)
	}
	if rb2.Status != store.StatusFailed || rb2.Commit != first.Commit {
		t.Errorf("the retry: %s of %s, want failed of %s", rb2.Status, rb2.Commit, first.Commit)
	}
	// At most one rebuild per interval (1s), none while one runs.
	if gap := rb2.CreatedAt.Sub(rb1.CreatedAt); gap < 900*time.Millisecond {
		t.Errorf("the retry was queued %s after the rebuild, want an interval at least", gap)
	}
	if rb2.CreatedAt.Before(*rb1.FinishedAt) {
		t.Errorf("the retry was queued at %v, before the rebuild ended at %v", rb2.CreatedAt, *rb1.FinishedAt)
	}
	st := w.baseStatus(t, project)
	if st.OutdatedSince == nil || st.Latest != v2.Digest || st.Digest != v1.Digest {
		t.Errorf("while the rebuilds fail the base shows %+v; want built on %s, latest %s, outdated", st, v1.Digest, v2.Digest)
	}
	if got := w.retries(t); got < 1 {
		t.Errorf("slipway_base_image_retries_total = %v, want at least 1", got)
	}

	// The base changes again while outdated: one rebuild for the newest.
	v3 := fixture.PushBase(t, w.Docker, w.base, map[string]string{"base-version": "3\n"})
	want13 := "base_image " + w.base + " " + short(v1.Digest) + " → " + short(v3.Digest)
	waitFor(t, time.Minute, "the rebuild for the newest digest", func() (bool, string) {
		return w.countReason(t, project, want13) > 0, w.log.String()
	})
	w.px.refused.Store(nil)
	var ok store.Build
	waitFor(t, 2*time.Minute, "a rebuild to succeed", func() (bool, string) {
		for _, b := range w.rebuilds(t, project) {
			if b.Status == store.StatusSucceeded {
				ok = b
				return true, ""
			}
		}
		return false, w.log.String()
	})
	if !strings.HasPrefix(ok.Reason, want13) || len(ok.Bases) != 1 || ok.Bases[0].Digest != v3.Digest {
		t.Errorf("the rebuild that succeeded: reason %q, bases %+v; want on %s", ok.Reason, ok.Bases, v3.Digest)
	}
	// Up to date: checks go on, nothing more is built.
	checks := len(w.px.headsOf(w.baseRef))
	waitFor(t, 30*time.Second, "3 more checks", func() (bool, string) {
		return len(w.px.headsOf(w.baseRef))-checks >= 3, ""
	})
	all := w.rebuilds(t, project)
	for _, b := range all {
		t.Logf("rebuild #%d %s at %s: %s", b.ID, b.Status, b.CreatedAt.Format("15:04:05.000"), b.Reason)
	}
	if last := all[len(all)-1]; last.ID != ok.ID {
		t.Errorf("rebuild #%d (%s) was queued after #%d succeeded on the new base", last.ID, last.Reason, ok.ID)
	}
	if n := w.countReason(t, project, want13); n != 1 {
		t.Errorf("%d rebuilds for the newest digest that are not retries, want 1", n)
	}
	for i := 1; i < len(all); i++ {
		if gap := all[i].CreatedAt.Sub(all[i-1].CreatedAt); gap < 900*time.Millisecond && strings.Contains(all[i].Reason, "(retry") {
			t.Errorf("retry #%d came %s after #%d, want an interval at least", all[i].ID, gap, all[i-1].ID)
		}
	}
	st = w.baseStatus(t, project)
	if st.OutdatedSince != nil || st.Digest != v3.Digest || st.Build != ok.ID {
		t.Errorf("after the rebuild succeeded the base shows %+v; want built on %s by #%d, not outdated", st, v3.Digest, ok.ID)
	}
}

// baseStatus is the status of project's one base, as GET /api/v1/projects
// shows it.
func (w *world) baseStatus(t *testing.T, project string) basewatch.BaseStatus {
	t.Helper()
	st, err := w.watcher.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(st[project]) != 1 {
		t.Fatalf("%s has bases %+v, want one", project, st[project])
	}
	return st[project][0]
}

// countReason counts project's base_image builds with reason exactly
// reason.
func (w *world) countReason(t *testing.T, project, reason string) int {
	t.Helper()
	n := 0
	for _, b := range w.rebuilds(t, project) {
		if b.Reason == reason {
			n++
		}
	}
	return n
}

// retries sums slipway_base_image_retries_total over the replicas.
func (w *world) retries(t *testing.T) float64 {
	t.Helper()
	sum := 0.0
	for _, wt := range w.watchers {
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(wt.Collector())
		n, err := testutil.GatherAndCount(reg, "slipway_base_image_retries_total")
		if err != nil || n != 1 {
			t.Fatalf("slipway_base_image_retries_total: %d series, %v", n, err)
		}
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "slipway_base_image_retries_total" {
				sum += mf.GetMetric()[0].GetCounter().GetValue()
			}
		}
	}
	return sum
}

package server

import (
	"testing"
	"time"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/schedules"
	"github.com/slipwayci/slipway/store"
)

// TestDashboardNextDueIsTheSchedulers walks the clock through the start of
// summer time in Berlin (2027-03-28, 02:00 → 03:00) and its end
// (2027-10-31, 03:00 → 02:00) and checks, every ten minutes, that the next
// due time the dashboard shows for each schedule is the one the scheduler
// has for it: the dashboard cannot announce a release that never fires
// (such as the second 02:30 of 2027-10-31) nor miss one.
func TestDashboardNextDueIsTheSchedulers(t *testing.T) {
	st, err := store.Open(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	p := config.Project{Name: "web", DefaultBranch: "main"}
	for _, s := range []struct{ name, cron string }{
		{"skipped", "30 2 * * *"},
		{"twice-an-hour", "0,30 * * * *"},
		{"at-two", "0 2 * * *"},
		{"at-three", "0 3 * * SUN"},
		{"hourly", "@hourly"},
		{"every-20m-at-two", "*/20 2 * * *"},
	} {
		p.Schedules = append(p.Schedules, config.Schedule{Name: s.name, Cron: s.cron, Timezone: "Europe/Berlin", Branch: "main"})
	}
	berlin, err := (config.Schedule{Timezone: "Europe/Berlin"}).Location()
	if err != nil {
		t.Fatal(err)
	}
	for _, day := range []time.Time{
		time.Date(2027, 3, 27, 22, 0, 0, 0, berlin),
		time.Date(2027, 10, 30, 22, 0, 0, 0, berlin),
	} {
		for now := day; now.Before(day.Add(8 * time.Hour)); now = now.Add(10 * time.Minute) {
			sched, err := schedules.New([]config.Project{p}, st, nil, schedules.Options{Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			entries := sched.Entries()
			views := scheduleViews(&p, nil, now)
			if len(views) != len(entries) {
				t.Fatalf("at %s the dashboard shows %d schedules, the scheduler has %d", now, len(views), len(entries))
			}
			for i, v := range views {
				if v.NextErr != "" || !v.Next.Equal(entries[i].Next) || v.Next.Location().String() != entries[i].Next.Location().String() {
					t.Errorf("at %s schedule %s (%s): dashboard shows %s %q, scheduler's next is %s",
						now.Format(time.RFC3339), v.Name, v.Cron, v.Next.Format(time.RFC3339), v.NextErr, entries[i].Next.Format(time.RFC3339))
				}
			}
		}
	}
}

package schedules

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/slipwayci/slipway/config"
)

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("load location %s: %v", name, err)
	}
	return loc
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func TestNextDue(t *testing.T) {
	berlin := mustLoad(t, "Europe/Berlin")
	newYork := mustLoad(t, "America/New_York")
	tests := []struct {
		name  string
		spec  string
		loc   *time.Location
		after time.Time
		want  time.Time
	}{
		{"5 fields", "0 3 * * MON", time.UTC, utc("2026-03-04T12:00:00Z"), utc("2026-03-09T03:00:00Z")},
		{"strictly after a due time", "0 3 * * MON", time.UTC, utc("2026-03-09T03:00:00Z"), utc("2026-03-16T03:00:00Z")},
		{"just before a due time", "0 3 * * MON", time.UTC, utc("2026-03-09T02:59:59.999Z"), utc("2026-03-09T03:00:00Z")},
		{"nil location is UTC", "0 3 * * MON", nil, utc("2026-03-04T12:00:00Z"), utc("2026-03-09T03:00:00Z")},
		{"berlin winter time", "0 3 * * MON", berlin, utc("2026-03-17T00:00:00Z"), utc("2026-03-23T02:00:00Z")},
		{"berlin across the march change", "0 3 * * MON", berlin, utc("2026-03-24T00:00:00Z"), utc("2026-03-30T01:00:00Z")},
		{"berlin summer time", "0 3 * * MON", berlin, utc("2026-10-13T00:00:00Z"), utc("2026-10-19T01:00:00Z")},
		{"berlin across the october change", "0 3 * * MON", berlin, utc("2026-10-20T00:00:00Z"), utc("2026-10-26T02:00:00Z")},
		{"new york across the march change", "0 9 * * *", newYork, utc("2026-03-07T18:00:00Z"), utc("2026-03-08T13:00:00Z")},
		{"new york across the november change", "0 9 * * *", newYork, utc("2026-10-31T18:00:00Z"), utc("2026-11-01T14:00:00Z")},
		{"new york evening is the next day in UTC", "30 22 * * *", newYork, utc("2026-07-01T00:00:00Z"), utc("2026-07-01T02:30:00Z")},
		{"weekly", "@weekly", time.UTC, utc("2026-03-04T12:00:00Z"), utc("2026-03-08T00:00:00Z")},
		{"weekly in berlin", "@weekly", berlin, utc("2026-03-04T12:00:00Z"), utc("2026-03-07T23:00:00Z")},
		{"monthly across the year end", "@monthly", time.UTC, utc("2026-12-15T00:00:00Z"), utc("2027-01-01T00:00:00Z")},
		{"daily at the year end", "@daily", time.UTC, utc("2026-12-31T23:59:59Z"), utc("2027-01-01T00:00:00Z")},
		{"daily in berlin at the year end", "@daily", berlin, utc("2026-12-31T22:59:59Z"), utc("2026-12-31T23:00:00Z")},
		{"yearly", "@yearly", time.UTC, utc("2026-01-01T00:00:00Z"), utc("2027-01-01T00:00:00Z")},
		{"new year's eve", "59 23 31 12 *", time.UTC, utc("2026-12-31T23:59:00Z"), utc("2027-12-31T23:59:00Z")},
		{"29 february", "0 0 29 2 *", time.UTC, utc("2026-03-01T00:00:00Z"), utc("2028-02-29T00:00:00Z")},
		{"every 10s", "@every 10s", time.UTC, utc("2026-03-04T12:00:00Z"), utc("2026-03-04T12:00:10Z")},
		{"every 10s from a fraction of a second", "@every 10s", time.UTC, utc("2026-03-04T12:00:00.5Z"), utc("2026-03-04T12:00:10Z")},
		{"every 1h30m across the year end", "@every 1h30m", time.UTC, utc("2026-12-31T23:00:00Z"), utc("2027-01-01T00:30:00Z")},
		{"cron_tz prefix wins", "CRON_TZ=Europe/Berlin 0 3 * * MON", time.UTC, utc("2026-03-24T00:00:00Z"), utc("2026-03-30T01:00:00Z")},
		// 02:30 happens twice on 2026-10-25 in Berlin: due once.
		{"repeated wall clock is due once", "30 2 * * *", berlin, utc("2026-10-25T00:30:00Z"), utc("2026-10-26T01:30:00Z")},
		{"first of a repeated wall clock", "30 2 * * *", berlin, utc("2026-10-24T12:00:00Z"), utc("2026-10-25T00:30:00Z")},
		{"repeated hour of a frequent spec", "*/20 * * * *", berlin, utc("2026-10-25T00:40:00Z"), utc("2026-10-25T02:00:00Z")},
		// 02:30 does not exist on 2026-03-29 in Berlin: not due that day.
		{"skipped wall clock", "30 2 * * *", berlin, utc("2026-03-28T12:00:00Z"), utc("2026-03-30T00:30:00Z")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NextDue(tt.spec, tt.loc, tt.after)
			if err != nil {
				t.Fatalf("NextDue: %v", err)
			}
			if !got.Equal(tt.want) {
				t.Errorf("NextDue(%q, %v, %s) = %s, want %s", tt.spec, tt.loc, tt.after.Format(time.RFC3339Nano), got, tt.want.In(got.Location()))
			}
			if gotLoc, wantLoc := got.Location().String(), orUTC(tt.loc).String(); gotLoc != wantLoc {
				t.Errorf("NextDue returned a time in %s, want %s", gotLoc, wantLoc)
			}
		})
	}
}

func TestNextDueErrors(t *testing.T) {
	tests := []struct {
		name   string
		spec   string
		noTime bool
	}{
		{"empty", "", false},
		{"six fields", "0 0 3 * * MON", false},
		{"garbage", "every monday", false},
		{"bad descriptor", "@fortnightly", false},
		{"bad interval", "@every soon", false},
		{"bad zone prefix", "CRON_TZ=Mars/Olympus 0 3 * * *", false},
		{"30 february", "0 0 30 2 *", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NextDue(tt.spec, time.UTC, utc("2026-03-04T12:00:00Z"))
			if err == nil {
				t.Fatal("NextDue: no error")
			}
			if got := errors.Is(err, errNoDueTime); got != tt.noTime {
				t.Errorf("errors.Is(%v, errNoDueTime) = %v, want %v", err, got, tt.noTime)
			}
			if _, _, err := MissedDue(tt.spec, time.UTC, utc("2026-03-01T00:00:00Z"), utc("2026-03-04T12:00:00Z")); err == nil && !tt.noTime {
				t.Error("MissedDue: no error")
			}
		})
	}
}

func TestMissedDue(t *testing.T) {
	berlin := mustLoad(t, "Europe/Berlin")
	tests := []struct {
		name      string
		spec      string
		loc       *time.Location
		lastFired time.Time
		now       time.Time
		want      time.Time // zero: none missed
	}{
		{"none missed", "0 3 * * MON", time.UTC, utc("2026-03-09T03:00:00Z"), utc("2026-03-15T12:00:00Z"), time.Time{}},
		{"now before the mark", "0 3 * * MON", time.UTC, utc("2026-03-09T03:00:00Z"), utc("2026-03-01T00:00:00Z"), time.Time{}},
		{"now is the mark", "0 3 * * MON", time.UTC, utc("2026-03-09T03:00:00Z"), utc("2026-03-09T03:00:00Z"), time.Time{}},
		{"one missed", "0 3 * * MON", time.UTC, utc("2026-03-09T03:00:00Z"), utc("2026-03-16T12:00:00Z"), utc("2026-03-16T03:00:00Z")},
		{"due exactly now", "0 3 * * MON", time.UTC, utc("2026-03-09T03:00:00Z"), utc("2026-03-16T03:00:00Z"), utc("2026-03-16T03:00:00Z")},
		{"several missed: the latest", "0 3 * * MON", time.UTC, utc("2026-03-09T03:00:00Z"), utc("2026-03-31T00:00:00Z"), utc("2026-03-30T03:00:00Z")},
		{"berlin across the march change", "0 3 * * MON", berlin, utc("2026-03-23T02:00:00Z"), utc("2026-04-07T00:00:00Z"), utc("2026-04-06T01:00:00Z")},
		{"berlin across the october change", "0 3 * * MON", berlin, utc("2026-10-19T01:00:00Z"), utc("2026-10-30T00:00:00Z"), utc("2026-10-26T02:00:00Z")},
		{"monthly across the year end", "@monthly", time.UTC, utc("2026-11-01T00:00:00Z"), utc("2027-01-15T00:00:00Z"), utc("2027-01-01T00:00:00Z")},
		{"daily missed at the year end", "@daily", time.UTC, utc("2026-12-31T00:00:00Z"), utc("2027-01-01T00:00:00Z"), utc("2027-01-01T00:00:00Z")},
		{"weekly", "@weekly", time.UTC, utc("2026-02-01T00:00:00Z"), utc("2026-03-04T12:00:00Z"), utc("2026-03-01T00:00:00Z")},
		{"minutely after years down", "* * * * *", time.UTC, utc("2020-01-01T00:00:00Z"), utc("2026-03-04T12:34:56Z"), utc("2026-03-04T12:34:00Z")},
		{"29 february after years down", "0 0 29 2 *", time.UTC, utc("2020-03-01T00:00:00Z"), utc("2026-03-04T00:00:00Z"), utc("2024-02-29T00:00:00Z")},
		{"every 10s: none", "@every 10s", time.UTC, utc("2026-03-04T12:00:00Z"), utc("2026-03-04T12:00:09.999Z"), time.Time{}},
		{"every 10s: one", "@every 10s", time.UTC, utc("2026-03-04T12:00:00Z"), utc("2026-03-04T12:00:10Z"), utc("2026-03-04T12:00:10Z")},
		{"every 10s: several", "@every 10s", time.UTC, utc("2026-03-04T12:00:00Z"), utc("2026-03-04T12:00:35Z"), utc("2026-03-04T12:00:30Z")},
		{"every 1h keeps the mark's phase", "@every 1h", time.UTC, utc("2026-01-01T00:00:05Z"), utc("2027-01-01T00:00:00Z"), utc("2026-12-31T23:00:05Z")},
		// The repeat of 02:30 on 2026-10-25 in Berlin is not a due time.
		{"repeated wall clock is not missed", "30 2 * * *", berlin, utc("2026-10-25T00:30:00Z"), utc("2026-10-25T01:45:00Z"), time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := MissedDue(tt.spec, tt.loc, tt.lastFired, tt.now)
			if err != nil {
				t.Fatalf("MissedDue: %v", err)
			}
			if wantOK := !tt.want.IsZero(); ok != wantOK {
				t.Fatalf("MissedDue(%q, %s, %s) = %s, %v; want ok %v", tt.spec, tt.lastFired, tt.now, got, ok, wantOK)
			}
			if !got.Equal(tt.want) {
				t.Errorf("MissedDue(%q, %s, %s) = %s, want %s", tt.spec, tt.lastFired, tt.now, got, tt.want)
			}
			if ok && got.Location().String() != orUTC(tt.loc).String() {
				t.Errorf("MissedDue returned a time in %s, want %s", got.Location(), orUTC(tt.loc))
			}
		})
	}
}

// TestMissedDueAgreesWithNextDue walks NextDue from the mark and checks
// that MissedDue finds the last due time the walk passes, for spec kinds
// and gaps that take MissedDue's window search through its cases.
func TestMissedDueAgreesWithNextDue(t *testing.T) {
	berlin := mustLoad(t, "Europe/Berlin")
	specs := []string{"*/7 * * * *", "0 3 * * MON", "30 2 * * *", "15 4 1,15 * *", "@weekly", "@every 45m"}
	gaps := []time.Duration{0, time.Minute, 90 * time.Minute, 26 * time.Hour, 9 * 24 * time.Hour, 40 * 24 * time.Hour}
	mark := utc("2026-10-20T00:00:00Z")
	for _, spec := range specs {
		for _, gap := range gaps {
			t.Run(spec+"/"+gap.String(), func(t *testing.T) {
				now := mark.Add(gap)
				var want time.Time
				for d := mark; ; {
					next, err := NextDue(spec, berlin, d)
					if err != nil {
						t.Fatalf("NextDue: %v", err)
					}
					if next.After(now) {
						break
					}
					want, d = next, next
				}
				got, ok, err := MissedDue(spec, berlin, mark, now)
				if err != nil {
					t.Fatalf("MissedDue: %v", err)
				}
				if ok != !want.IsZero() || !got.Equal(want) {
					t.Errorf("MissedDue(%s, %s) = %s, %v; want %s", mark, now, got, ok, want)
				}
			})
		}
	}
}

// TestNext covers Next, the due time the dashboard shows (moved from the
// dashboard's own nextDue): the schedule's zone and spec, its errors, and
// the end of summer time, whose repeated 02:30 is not due again.
func TestNext(t *testing.T) {
	berlin := mustLoad(t, "Europe/Berlin")
	// Wednesday.
	now := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name, spec, tz string
		now            time.Time
		want           time.Time
		wantErr        string
	}{
		{name: "weekly", spec: "0 3 * * MON", want: time.Date(2026, 3, 9, 3, 0, 0, 0, time.UTC)},
		{name: "monthly", spec: "0 4 1 * *", want: time.Date(2026, 4, 1, 4, 0, 0, 0, time.UTC)},
		{name: "descriptor", spec: "@daily", want: time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)},
		{name: "in a zone", spec: "30 1 * * *", tz: "Europe/Berlin", want: time.Date(2026, 3, 5, 1, 30, 0, 0, berlin)},
		{name: "repeated wall clock not due twice", spec: "30 2 * * *", tz: "Europe/Berlin",
			now: utc("2027-10-31T00:45:00Z"), want: time.Date(2027, 11, 1, 2, 30, 0, 0, berlin)},
		{name: "skipped wall clock", spec: "30 2 * * *", tz: "Europe/Berlin",
			now: utc("2027-03-27T23:00:00Z"), want: time.Date(2027, 3, 29, 2, 30, 0, 0, berlin)},
		{name: "bad spec", spec: "61 * * * *", wantErr: "cron"},
		{name: "bad zone", spec: "@daily", tz: "Mars/Olympus", wantErr: "timezone"},
		{name: "never due", spec: "0 0 30 2 *", wantErr: "no due time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := now
			if !tt.now.IsZero() {
				at = tt.now
			}
			s := config.Schedule{Name: "s", Cron: tt.spec, Timezone: tt.tz, Branch: "main"}
			got, err := Next(s, at)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Next(%q, %q) error = %v, want one naming %s", tt.spec, tt.tz, err, tt.wantErr)
				}
				return
			}
			if err != nil || !got.Equal(tt.want) {
				t.Errorf("Next(%q, %q) = %s, %v; want %s", tt.spec, tt.tz, got, err, tt.want)
			}
			if wantLoc := tt.want.Location().String(); got.Location().String() != wantLoc {
				t.Errorf("Next returned a time in %s, want %s", got.Location(), wantLoc)
			}
		})
	}
}

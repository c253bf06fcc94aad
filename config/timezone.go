package config

import (
	"fmt"
	"time"

	// Embedded zone data: schedules' time zones load the same way at
	// validation and at run time, also in a FROM scratch image without
	// /usr/share/zoneinfo.
	_ "time/tzdata"
)

// Location is the time zone the schedule's cron spec is read in: UTC when
// timezone is unset, else the IANA zone it names (from the system's zone
// database, else the copy built into slipway). It is the one place slipway
// loads a schedule's zone: validation, the scheduler, the dashboard, tag
// rules and releases all call it, so they cannot disagree.
func (s Schedule) Location() (*time.Location, error) {
	if s.Timezone == "" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(s.Timezone)
	if err != nil {
		return nil, fmt.Errorf("timezone %q: %w", s.Timezone, err)
	}
	return loc, nil
}

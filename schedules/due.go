package schedules

import (
	"errors"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/slipwayci/slipway/config"
)

// maxLookback bounds the search for the latest due time when there is no
// lower bound (a schedule's first start): longer than any gap between two
// due times of a spec that has any (29 February comes at least every 8
// years, and cron.SpecSchedule.Next itself gives up after 5).
const maxLookback = 9 * 366 * 24 * time.Hour

// maxSteps bounds the loops that walk due times one by one, so that a
// pathological spec cannot hold the scheduler.
const maxSteps = 1 << 20

// plan is a parsed cron spec with the zone it is read in.
type plan struct {
	sched cron.Schedule
	// loc is the zone the spec's fields are matched in: the schedule's
	// time zone, or the spec's own CRON_TZ= prefix.
	loc *time.Location
	// every is the interval of an @every spec, 0 for calendar specs.
	every time.Duration
}

// parse reads spec as cron.ParseStandard does (5 fields or a descriptor,
// optionally prefixed with CRON_TZ=) to be matched in loc (nil is UTC).
func parse(spec string, loc *time.Location) (plan, error) {
	loc = orUTC(loc)
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return plan{}, fmt.Errorf("invalid cron spec %q: %w", spec, err)
	}
	p := plan{sched: s, loc: loc}
	switch s := s.(type) {
	case cron.ConstantDelaySchedule:
		p.every = s.Delay
	case *cron.SpecSchedule:
		// A spec without a prefix is parsed as time.Local, which
		// SpecSchedule.Next reads as "the zone of the time passed in";
		// with a prefix its zone wins.
		if s.Location != time.Local {
			p.loc = s.Location
		}
	default:
		return plan{}, fmt.Errorf("invalid cron spec %q: unsupported schedule type %T", spec, s)
	}
	return p, nil
}

// next is the first due time strictly after t, in p.loc; zero when the
// spec has none within five years of t.
//
// A wall-clock time that a fall-back DST change repeats is due once, at
// its first occurrence: cron.SpecSchedule.Next would return it twice (for
// a daily 02:30 schedule: 02:30 summer time, then 02:30 winter time an
// hour later), releasing the same day twice.
func (p plan) next(t time.Time) time.Time {
	if p.every > 0 {
		return p.sched.Next(t.In(p.loc))
	}
	c := t.In(p.loc)
	for range maxSteps {
		c = p.sched.Next(c)
		if c.IsZero() || !repeatedWallClock(c) {
			return c
		}
	}
	return time.Time{}
}

// repeatedWallClock reports whether t's wall-clock reading already
// occurred earlier, because a backward zone change (the end of summer time)
// happened less than its size before t.
func repeatedWallClock(t time.Time) bool {
	start, _ := t.ZoneBounds()
	if start.IsZero() {
		return false
	}
	_, off := t.Zone()
	_, before := start.Add(-time.Nanosecond).Zone()
	back := time.Duration(before-off) * time.Second
	return back > 0 && t.Sub(start) < back
}

// latest is the latest due time in (lower, now], in p.loc; ok is false
// when there is none. A zero lower means "no lower bound" (searched back
// maxLookback).
func (p plan) latest(lower, now time.Time) (due time.Time, ok bool) {
	if p.every > 0 {
		if lower.IsZero() {
			// No phase to keep: now, on the second, is as good a due
			// time as any.
			return now.Truncate(time.Second).In(p.loc), true
		}
		// Due times are lower + k*every, lower taken on the second as
		// cron.ConstantDelaySchedule.Next does.
		base := lower.Truncate(time.Second)
		if !now.After(base) {
			return time.Time{}, false
		}
		k := now.Sub(base) / p.every
		if k < 1 {
			return time.Time{}, false
		}
		return base.Add(k * p.every).In(p.loc), true
	}
	floor := lower
	if floor.IsZero() {
		floor = now.Add(-maxLookback)
	}
	if !now.After(floor) {
		return time.Time{}, false
	}
	// Widen a window back from now until it holds a due time, then walk
	// that window forward: the walk covers only the window's due times, so
	// a minutely spec after years of downtime costs a few steps, not
	// millions.
	for w := time.Minute; ; w *= 2 {
		start, last := now.Add(-w), false
		if !start.After(floor) || w >= maxLookback {
			start, last = floor, true
		}
		if c := p.next(start); !c.IsZero() && !c.After(now) {
			for range maxSteps {
				n := p.next(c)
				if n.IsZero() || n.After(now) {
					break
				}
				c = n
			}
			return c, true
		}
		if last {
			return time.Time{}, false
		}
	}
}

// errNoDueTime is returned for a spec that matches no time, such as
// "0 0 30 2 *" (30 February).
var errNoDueTime = errors.New("no due time within five years")

// compile resolves a configured schedule: its time zone
// (config.Schedule.Location) and its cron spec read in that zone.
func compile(s config.Schedule) (plan, *time.Location, error) {
	loc, err := s.Location()
	if err != nil {
		return plan{}, nil, err
	}
	p, err := parse(s.Cron, loc)
	if err != nil {
		return plan{}, nil, err
	}
	return p, loc, nil
}

// Next is the first due time of s strictly after after, in s's time zone:
// the time the scheduler releases s next when nothing is missed. The
// scheduler and the dashboard both use it, so the dashboard never shows a
// release that does not happen (such as the second 02:30 of the night
// summer time ends). Due times are those of NextDue.
//
// Next is pure: it depends only on its arguments.
func Next(s config.Schedule, after time.Time) (time.Time, error) {
	p, loc, err := compile(s)
	if err != nil {
		return time.Time{}, err
	}
	next := p.next(after)
	if next.IsZero() {
		return time.Time{}, fmt.Errorf("cron spec %q: %w after %s", s.Cron, errNoDueTime, after.Format(time.RFC3339))
	}
	return next.In(loc), nil
}

// NextDue is the first due time of spec strictly after after, computed in
// loc (nil is UTC) and returned in loc. spec is what cron.ParseStandard
// accepts: 5 fields ("0 3 * * MON") or a descriptor (@daily, @weekly,
// @monthly, @every 10s...); a CRON_TZ= prefix overrides loc for reading the
// spec. For @every, the next due time is after + interval (after taken on
// the second).
//
// A wall-clock time repeated by the end of summer time is due once (at its
// first occurrence); one that the start of summer time skips is not due
// that day (cron/v3's behaviour).
//
// NextDue is pure: it depends only on its arguments.
func NextDue(spec string, loc *time.Location, after time.Time) (time.Time, error) {
	p, err := parse(spec, loc)
	if err != nil {
		return time.Time{}, err
	}
	next := p.next(after)
	if next.IsZero() {
		return time.Time{}, fmt.Errorf("cron spec %q: %w after %s", spec, errNoDueTime, after.Format(time.RFC3339))
	}
	return next.In(orUTC(loc)), nil
}

// MissedDue is the latest due time of spec in (lastFired, now], in loc (nil
// is UTC); ok is false when there is none. Due times are those of NextDue;
// for @every they are lastFired + k*interval (lastFired taken on the
// second, as NextDue does).
//
// MissedDue is pure: it depends only on its arguments.
func MissedDue(spec string, loc *time.Location, lastFired, now time.Time) (time.Time, bool, error) {
	p, err := parse(spec, loc)
	if err != nil {
		return time.Time{}, false, err
	}
	if lastFired.IsZero() {
		// A zero lastFired would mean "unbounded" to latest.
		lastFired = time.Unix(0, 0)
	}
	due, ok := p.latest(lastFired, now)
	if !ok {
		return time.Time{}, false, nil
	}
	return due.In(orUTC(loc)), true, nil
}

// orUTC is loc, UTC for nil.
func orUTC(loc *time.Location) *time.Location {
	if loc == nil {
		return time.UTC
	}
	return loc
}

// Package schedules fires each project's timed releases: at every due time
// of a schedule's cron spec it queues a `schedule` build of the schedule's
// branch head, once per due time even across restarts, and after downtime
// it catches up once.
//
// # Due times
//
// Specs are what robfig/cron/v3's cron.ParseStandard reads: 5 fields
// ("0 3 * * MON") or a descriptor (@daily, @weekly, @monthly, @every 10s),
// matched in the schedule's time zone (default UTC, loaded by
// config.Schedule.Location). NextDue and MissedDue are the pure decisions,
// table-tested without waiting; Next is NextDue for a configured schedule,
// the one answer to "when next" that the scheduler and the dashboard share. A wall-clock time
// repeated by the end of summer time is due once; one skipped by its start
// is not due that day.
//
// # Once per due time
//
// The store keeps, per schedule, the last due time fired (the mark). A due
// time at or before the mark never fires. Firing writes the build and moves
// the mark in one transaction (store.MarkFiredAndEnqueue), so a crash can
// neither lose a fired release nor fire it twice. At start, Run decides per
// schedule:
//   - no mark yet (a fresh install, or a schedule just added to the
//     config): the mark is set to the latest due time at or before now and
//     nothing fires, so that adding a schedule does not release at once;
//   - due times were missed since the mark: the latest of them fires once
//     (at most one catch-up, however long slipway was down), or with
//     `catch_up: false` the mark just moves to it;
//   - nothing missed: nothing fires.
//
// A manual run (RunNow) queues the same kind of build dated now and leaves
// the mark alone, so the next due time still fires.
//
// # Why not cron.Cron
//
// The scheduler parses with robfig/cron but runs its own loop (one timer for
// the earliest next due time) instead of cron.Cron's runner: a cron.Cron
// job is called without the time it was scheduled for and reads time.Now
// itself, while a release must be dated by its due time, computed from the
// stored mark and an injectable clock, and its firing must be tied to the
// mark's transaction. Owning the loop also makes shutdown exact: Run returns
// only after a fire in progress has been written. The loop wakes at least
// once a minute, so a jump of the wall clock is noticed.
package schedules

// Package registry owns what slipway puts into image registries: the tag
// rules (pure functions of branch, commit and default branch), the
// credentials of each registry host (the slipway config's registries[] over
// the docker CLI's config.json), and the push of a built image: its first
// tag through the Docker engine (layers and manifest), every further tag as
// one manifest PUT of the same manifest (go-containerregistry, one
// authenticated session for them all), each tag's manifest read back from
// the registry to check its digest.
//
// The package sits after builder in the data's way and never calls back up:
// it does not import pipeline, server, builder, source or store.
//
// # Default tags
//
// Tags computes the tags of an Event (a push to a branch, a push of a git
// tag, a schedule's release). Without tag rules they are DESIGN.md's:
//
//   - a push to branch B: B', B'-<sha7>, and latest when B is the default
//     branch (BranchTags);
//   - a push of a semver git tag (v1.2.3, 1.2.3, v1.2.3-rc.1): 1.2.3, 1.2
//     and 1 (not for 0.x), and latest; a prerelease gets only 1.2.3-rc.1.
//     The moving 1.2, 1 and latest never move backwards: each is pushed only
//     when no higher released version among the repository's git tags gets
//     the same tag (v1.9.1 pushed after v2.0.1 moves 1 and 1.9, not latest);
//   - a push of any other git tag: the tag, sanitised (immutable);
//   - a release of schedule weekly: the ISO 8601 week <ISO year>-W<ISO
//     week> (2026-W53 for 2027-01-01) and weekly; monthly: the ISO 8601
//     month YYYY-MM (2026-11) and monthly; any other schedule N:
//     N-YYYYMMDD and N. The date is the due time in the
//     schedule's time zone (Event.Due's own location).
//
// # How tags: rules combine with the defaults
//
// With no tags: rules every build gets the default tags. Rules work per
// event: a rule applies to an event when its type fits the event (branch
// and sha: branch pushes, sha also git tag pushes; ref: branch and tag
// pushes; semver: pushes of semver git tags; schedule: releases of the
// schedule its name names, of every schedule when name is empty; raw: every
// event), and its name (a path.Match pattern of the branch, git tag or
// schedule name) and enable_on ("branch:PATTERN", "tag:PATTERN",
// "schedule:NAME", comma-separated alternatives) let it. The rules that
// apply to an event replace its defaults, except raw rules and sha rules on
// tag pushes, which only add. An event that no rule applies to keeps its
// defaults: [{type: semver, pattern: "{{.Major}}.{{.Minor}}"}] changes the
// tags of semver git tags only, and [{type: raw, value: stable, enable_on:
// "branch:main"}] adds stable to the default tags of main. A rule without a
// pattern gives its type's defaults (semver: X.Y.Z, X.Y, X, latest;
// schedule: the versioned tag and the schedule's name; branch: B'; ref: B'
// or the sanitised git tag; sha: the commit's first length characters,
// default 7). Prefix and suffix wrap every tag of the rule, latest included.
// A pattern that renders nothing gives no tag ({{if .Prerelease}}..{{end}});
// one that renders an invalid tag is a *RuleError, found ahead of time by
// CheckRules for `slipway validate`.
//
// A rule's tag is immutable when its templates use a name that identifies
// one build or release (.ShortCommit .FullCommit .Version .Patch
// .Prerelease .Tag .Day .Week .Month .Now) and moving otherwise (.Branch
// .Major .Minor .Year .Schedule, plain words); sha tags are always
// immutable. Immutable tags are pushed before moving ones. A moving semver
// tag is never pushed for a prerelease and moves only forward, like the
// defaults; for a prerelease, semver rules give only tags whose templates
// use .Version, .Prerelease or .Tag. In a template that uses .Week, .Year is
// the ISO week-numbering year, so "{{.Year}}-W{{.Week}}" is the default
// weekly tag across year ends (.WeekYear always is).
//
// # Retries
//
// Push and Retag share one retry loop (Pusher.retry); with Prune they
// share one mapping of go-containerregistry's errors (classify): a 429 or
// 5xx answer, a dropped connection or a manifest not yet served is
// temporary, and IsTemporary asks the error itself (a Temporary() bool
// method, as in go-containerregistry's internal/retry). Temporary failures
// are retried with PushOptions' backoff and a log line each; others fail
// at once.
//
// # Re-tagging and retention
//
// Pusher.Retag adds tags to a manifest already in the registry, without the
// engine. Prune deletes a schedule's versioned tags beyond the newest N; as
// the registry API deletes manifests, not tags, a tag whose manifest a kept
// tag shares stays until nothing kept shares it.
package registry

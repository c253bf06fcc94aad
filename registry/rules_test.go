package registry

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/slipwayci/slipway/config"
)

const testCommit = "1A2B3C4D5E6F7A8B9C0D1E2F3A4B5C6D7E8F9A0B"

// im and mv are an immutable and a moving tag.
func im(name string) Tag { return Tag{Name: name} }
func mv(name string) Tag { return Tag{Name: name, Moving: true} }

func branchEvent(branch string) Event {
	return Event{Kind: KindBranch, Ref: "refs/heads/" + branch, Commit: testCommit, DefaultBranch: "main",
		Now: time.Date(2026, 11, 17, 10, 0, 0, 0, time.UTC)}
}

func tagEvent(tag string, repoTags ...string) Event {
	return Event{Kind: KindTag, Ref: "refs/tags/" + tag, Commit: testCommit, DefaultBranch: "main", RepoTags: repoTags}
}

func scheduleAt(name string, due time.Time) Event {
	return Event{Kind: KindSchedule, Ref: "refs/heads/main", Commit: testCommit, DefaultBranch: "main", Schedule: name, Due: due}
}

func utc(y int, m time.Month, d, h, min int) time.Time {
	return time.Date(y, m, d, h, min, 0, 0, time.UTC)
}

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("load time zone %s: %v", name, err)
	}
	return loc
}

func TestTagsDefaults(t *testing.T) {
	berlin := mustLoad(t, "Europe/Berlin")
	la := mustLoad(t, "America/Los_Angeles")
	tests := []struct {
		name string
		ev   Event
		want []Tag
	}{
		// Branch pushes.
		{"default branch", branchEvent("main"), []Tag{im("main-1a2b3c4"), mv("main"), mv("latest")}},
		{"other branch sanitised", branchEvent("feature/x"), []Tag{im("feature-x-1a2b3c4"), mv("feature-x")}},
		{"unicode branch", branchEvent("café/naïve"), []Tag{im("caf--na-ve-1a2b3c4"), mv("caf--na-ve")}},
		{"short ref taken as branch", Event{Kind: KindBranch, Ref: "dev", Commit: testCommit, DefaultBranch: "main"}, []Tag{im("dev-1a2b3c4"), mv("dev")}},

		// Semver git tags.
		{"semver, repo tags unknown", tagEvent("v1.2.3"), []Tag{im("1.2.3"), mv("1.2"), mv("1"), mv("latest")}},
		{"semver without v", tagEvent("1.2.3"), []Tag{im("1.2.3"), mv("1.2"), mv("1"), mv("latest")}},
		{"semver with build metadata", tagEvent("v1.2.3+build.7"), []Tag{im("1.2.3"), mv("1.2"), mv("1"), mv("latest")}},
		{"prerelease gets only its version", tagEvent("v1.2.3-rc.1"), []Tag{im("1.2.3-rc.1")}},
		{"0.x has no major tag", tagEvent("v0.4.0"), []Tag{im("0.4.0"), mv("0.4"), mv("latest")}},
		{"0.0.x", tagEvent("v0.0.3"), []Tag{im("0.0.3"), mv("0.0"), mv("latest")}},
		{"0.x prerelease", tagEvent("v0.4.0-beta.2"), []Tag{im("0.4.0-beta.2")}},
		{
			"highest release, repo tags include it",
			tagEvent("v1.2.0", "v1.0.0", "v1.1.4", "v1.2.0", "nightly", "v2.0.0-rc.1"),
			[]Tag{im("1.2.0"), mv("1.2"), mv("1"), mv("latest")},
		},
		{
			"v1.1.5 after v1.2.0: latest and 1 stay on 1.2.0",
			tagEvent("v1.1.5", "v1.0.0", "v1.1.4", "v1.2.0", "v1.1.5"),
			[]Tag{im("1.1.5"), mv("1.1")},
		},
		{
			"v1.9.1 after v2.0.1 moves 1 and 1.9 only",
			tagEvent("v1.9.1", "v1.9.0", "v2.0.0", "v2.0.1", "v1.9.1"),
			[]Tag{im("1.9.1"), mv("1.9"), mv("1")},
		},
		{
			"v1.9.1 after v1.9.2 moves nothing",
			tagEvent("v1.9.1", "v1.9.0", "v1.9.2", "v2.0.0"),
			[]Tag{im("1.9.1")},
		},
		{
			"repo tags without the pushed tag",
			tagEvent("v1.3.0", "v1.2.0"),
			[]Tag{im("1.3.0"), mv("1.3"), mv("1"), mv("latest")},
		},
		{
			"a higher prerelease does not hold latest back",
			tagEvent("v1.6.0", "v1.5.0", "v2.0.0-rc.1"),
			[]Tag{im("1.6.0"), mv("1.6"), mv("1"), mv("latest")},
		},
		{
			"release after its prereleases",
			tagEvent("v2.0.0", "v1.5.0", "v2.0.0-rc.1", "v2.0.0-rc.2"),
			[]Tag{im("2.0.0"), mv("2.0"), mv("2"), mv("latest")},
		},
		{
			"prerelease above the highest release",
			tagEvent("v2.0.0-rc.1", "v1.5.0"),
			[]Tag{im("2.0.0-rc.1")},
		},
		{
			"repo tags without v count",
			tagEvent("v1.4.0", "1.5.0"),
			[]Tag{im("1.4.0"), mv("1.4")},
		},
		{
			"0.x backport",
			tagEvent("v0.3.2", "v0.3.1", "v0.4.0", "v0.3.2"),
			[]Tag{im("0.3.2"), mv("0.3")},
		},
		{
			"10 is higher than 9",
			tagEvent("v1.10.0", "v1.9.0", "v1.10.0"),
			[]Tag{im("1.10.0"), mv("1.10"), mv("1"), mv("latest")},
		},

		// Other git tags.
		{"non-semver tag sanitised", tagEvent("release/2026 q1"), []Tag{im("release-2026-q1")}},
		{"two-part version is not semver", tagEvent("v1.2"), []Tag{im("v1.2")}},
		{"upper-case V is not semver", tagEvent("V1.2.3"), []Tag{im("V1.2.3")}},

		// Schedules.
		{"weekly mid-year", scheduleAt("weekly", utc(2026, 11, 16, 3, 0)), []Tag{im("2026-W47"), mv("weekly")}},
		{"weekly 2026-12-31 is ISO 2026-W53", scheduleAt("weekly", utc(2026, 12, 31, 3, 0)), []Tag{im("2026-W53"), mv("weekly")}},
		{"weekly 2027-01-01 is ISO 2026-W53", scheduleAt("weekly", utc(2027, 1, 1, 3, 0)), []Tag{im("2026-W53"), mv("weekly")}},
		{"weekly 2027-01-04 is ISO 2027-W01", scheduleAt("weekly", utc(2027, 1, 4, 3, 0)), []Tag{im("2027-W01"), mv("weekly")}},
		{"weekly 2025-12-29 is ISO 2026-W01", scheduleAt("weekly", utc(2025, 12, 29, 3, 0)), []Tag{im("2026-W01"), mv("weekly")}},
		{"monthly December", scheduleAt("monthly", utc(2026, 12, 31, 23, 59)), []Tag{im("2026-12"), mv("monthly")}},
		{"monthly January", scheduleAt("monthly", utc(2027, 1, 1, 0, 0)), []Tag{im("2027-01"), mv("monthly")}},
		{"other schedule", scheduleAt("nightly", utc(2026, 12, 31, 3, 0)), []Tag{im("nightly-20261231"), mv("nightly")}},
		{"other schedule on new year", scheduleAt("nightly", utc(2027, 1, 1, 0, 30)), []Tag{im("nightly-20270101"), mv("nightly")}},
		{
			"due time in UTC stays in November",
			scheduleAt("monthly", utc(2026, 11, 30, 23, 30)),
			[]Tag{im("2026-11"), mv("monthly")},
		},
		{
			"due time in Berlin is December",
			scheduleAt("monthly", utc(2026, 11, 30, 23, 30).In(berlin)),
			[]Tag{im("2026-12"), mv("monthly")},
		},
		{
			"Sunday night in UTC is Monday in Berlin: next ISO week",
			scheduleAt("weekly", utc(2027, 1, 3, 23, 30).In(berlin)),
			[]Tag{im("2027-W01"), mv("weekly")},
		},
		{
			"new year in UTC is still the old year in Los Angeles",
			scheduleAt("nightly", utc(2027, 1, 1, 5, 0).In(la)),
			[]Tag{im("nightly-20261231"), mv("nightly")},
		},
		{
			"schedule without a commit",
			Event{Kind: KindSchedule, Schedule: "weekly", Due: utc(2026, 11, 16, 3, 0)},
			[]Tag{im("2026-W47"), mv("weekly")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Tags(tt.ev, nil)
			if err != nil {
				t.Fatalf("Tags(%v): %v", tt.ev, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Tags(%v) mismatch (-want +got):\n%s", tt.ev, diff)
			}
		})
	}
}

func TestTagsRules(t *testing.T) {
	weekly := scheduleAt("weekly", utc(2027, 1, 1, 3, 0))
	monthly := scheduleAt("monthly", utc(2027, 1, 1, 3, 0))
	nightly := scheduleAt("nightly", utc(2026, 12, 31, 3, 0))
	tests := []struct {
		name  string
		ev    Event
		rules []config.TagRule
		want  []Tag
	}{
		// branch
		{"branch rule replaces branch defaults", branchEvent("main"), []config.TagRule{{Type: "branch"}}, []Tag{mv("main")}},
		{"branch rule sanitises", branchEvent("feature/x"), []config.TagRule{{Type: "branch"}}, []Tag{mv("feature-x")}},
		{"branch rule with prefix", branchEvent("feature/x"), []config.TagRule{{Type: "branch", Prefix: "br-"}}, []Tag{mv("br-feature-x")}},
		{"branch rule pattern with commit is immutable", branchEvent("main"),
			[]config.TagRule{{Type: "branch", Pattern: "{{.Branch}}-{{.FullCommit}}"}},
			[]Tag{im("main-1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b")}},
		{"branch rule leaves tag pushes alone", tagEvent("v1.2.3"), []config.TagRule{{Type: "branch"}},
			[]Tag{im("1.2.3"), mv("1.2"), mv("1"), mv("latest")}},
		{"branch rule leaves schedules alone", weekly, []config.TagRule{{Type: "branch"}}, []Tag{im("2026-W53"), mv("weekly")}},
		{"branch rule with name matching", branchEvent("release/1.4"), []config.TagRule{{Type: "branch", Name: "release/*"}}, []Tag{mv("release-1.4")}},
		{"branch rule with name not matching keeps defaults", branchEvent("main"), []config.TagRule{{Type: "branch", Name: "release/*"}},
			[]Tag{im("main-1a2b3c4"), mv("main"), mv("latest")}},

		// sha
		{"sha rule", branchEvent("main"), []config.TagRule{{Type: "sha"}}, []Tag{im("1a2b3c4")}},
		{"sha rule with length", branchEvent("main"), []config.TagRule{{Type: "sha", Length: 12}}, []Tag{im("1a2b3c4d5e6f")}},
		{"sha rule longer than the commit", Event{Kind: KindBranch, Ref: "refs/heads/main", Commit: "abc"}, []config.TagRule{{Type: "sha", Length: 12}}, []Tag{im("abc")}},
		{"sha rule with prefix", branchEvent("main"), []config.TagRule{{Type: "sha", Prefix: "sha-"}}, []Tag{im("sha-1a2b3c4")}},
		{"sha rule with pattern", branchEvent("dev"), []config.TagRule{{Type: "sha", Pattern: "{{.Branch}}.{{.ShortCommit}}", Length: 9}}, []Tag{im("dev.1a2b3c4d5")}},
		{"sha rule and branch rule", branchEvent("main"), []config.TagRule{{Type: "branch"}, {Type: "sha", Prefix: "sha-"}}, []Tag{im("sha-1a2b3c4"), mv("main")}},
		{"sha rule without a commit gives nothing", Event{Kind: KindBranch, Ref: "refs/heads/main"}, []config.TagRule{{Type: "sha"}}, []Tag{}},
		{"sha rule adds to tag pushes", tagEvent("v1.2.3"), []config.TagRule{{Type: "sha"}},
			[]Tag{im("1.2.3"), im("1a2b3c4"), mv("1.2"), mv("1"), mv("latest")}},
		{"sha rule leaves schedules alone", weekly, []config.TagRule{{Type: "sha"}}, []Tag{im("2026-W53"), mv("weekly")}},
		{"sha rule limited to branches", tagEvent("v1.2.3"), []config.TagRule{{Type: "sha", EnableOn: "branch:*"}},
			[]Tag{im("1.2.3"), mv("1.2"), mv("1"), mv("latest")}},

		// semver
		{"semver pattern replaces tag defaults", tagEvent("v1.2.3"), []config.TagRule{{Type: "semver", Pattern: "{{.Major}}.{{.Minor}}"}}, []Tag{mv("1.2")}},
		{"semver full version is immutable", tagEvent("v1.2.3"), []config.TagRule{{Type: "semver", Pattern: "{{.Major}}.{{.Minor}}.{{.Patch}}"}}, []Tag{im("1.2.3")}},
		{"semver rules without pattern give the defaults", tagEvent("v1.9.1", "v2.0.1", "v1.9.1"), []config.TagRule{{Type: "semver"}},
			[]Tag{im("1.9.1"), mv("1.9"), mv("1")}},
		{"semver prefix v", tagEvent("v1.2.3"), []config.TagRule{{Type: "semver", Prefix: "v"}},
			[]Tag{im("v1.2.3"), mv("v1.2"), mv("v1"), mv("vlatest")}},
		{"semver suffix", tagEvent("v1.2.3"), []config.TagRule{{Type: "semver", Suffix: "-alpine"}},
			[]Tag{im("1.2.3-alpine"), mv("1.2-alpine"), mv("1-alpine"), mv("latest-alpine")}},
		{"semver version with prefix, then latest by pattern", tagEvent("v1.2.3", "v1.2.3", "v1.1.0"),
			[]config.TagRule{{Type: "semver", Pattern: "{{.Version}}", Prefix: "v"}, {Type: "semver", Pattern: "latest"}},
			[]Tag{im("v1.2.3"), mv("latest")}},
		{"semver latest by pattern does not move back", tagEvent("v1.9.1", "v2.0.1", "v1.9.1"),
			[]config.TagRule{{Type: "semver", Pattern: "{{.Version}}"}, {Type: "semver", Pattern: "latest"}},
			[]Tag{im("1.9.1")}},
		{"semver major line by pattern moves on its line", tagEvent("v1.9.1", "v2.0.1", "v1.9.1"),
			[]config.TagRule{{Type: "semver", Pattern: "v{{.Major}}"}},
			[]Tag{mv("v1")}},
		{"semver moving pattern skipped for a prerelease", tagEvent("v1.2.3-rc.1"),
			[]config.TagRule{{Type: "semver", Pattern: "{{.Major}}.{{.Minor}}"}},
			[]Tag{}},
		{"semver MAJOR.MINOR.PATCH skipped for a prerelease", tagEvent("v1.2.3-rc.1"),
			[]config.TagRule{{Type: "semver", Pattern: "{{.Major}}.{{.Minor}}.{{.Patch}}"}},
			[]Tag{}},
		{"semver version kept for a prerelease", tagEvent("v1.2.3-rc.1"),
			[]config.TagRule{{Type: "semver", Pattern: "{{.Version}}", Prefix: "v"}},
			[]Tag{im("v1.2.3-rc.1")}},
		{"semver prerelease pattern", tagEvent("v1.2.3-rc.1"),
			[]config.TagRule{{Type: "semver", Pattern: "{{.Major}}.{{.Minor}}.{{.Patch}}-{{.Prerelease}}"}},
			[]Tag{im("1.2.3-rc.1")}},
		{"semver conditional renders nothing for a release", tagEvent("v1.2.3"),
			[]config.TagRule{{Type: "semver", Pattern: "{{if .Prerelease}}{{.Version}}{{end}}"}},
			[]Tag{}},
		{"semver rule on a non-semver tag keeps its default", tagEvent("nightly-build"),
			[]config.TagRule{{Type: "semver", Pattern: "{{.Major}}"}},
			[]Tag{im("nightly-build")}},
		{"semver rule leaves branches alone", branchEvent("main"),
			[]config.TagRule{{Type: "semver", Pattern: "{{.Major}}"}},
			[]Tag{im("main-1a2b3c4"), mv("main"), mv("latest")}},
		{"semver rule with name", tagEvent("v2.0.0"),
			[]config.TagRule{{Type: "semver", Name: "v1.*", Pattern: "{{.Version}}"}},
			[]Tag{im("2.0.0"), mv("2.0"), mv("2"), mv("latest")}},

		// schedule
		{"schedule rule {{.Year}}.{{.Week}} uses the ISO year", weekly,
			[]config.TagRule{{Type: "schedule", Name: "weekly", Pattern: "{{.Year}}.{{.Week}}"}},
			[]Tag{im("2026.53")}},
		{"schedule rule {{.Year}}.{{.Week}} on 2025-12-29", scheduleAt("weekly", utc(2025, 12, 29, 3, 0)),
			[]config.TagRule{{Type: "schedule", Name: "weekly", Pattern: "{{.Year}}.{{.Week}}"}},
			[]Tag{im("2026.01")}},
		{"schedule rule {{.Year}}.{{.Month}} uses the calendar year", monthly,
			[]config.TagRule{{Type: "schedule", Name: "monthly", Pattern: "{{.Year}}.{{.Month}}"}},
			[]Tag{im("2027.01")}},
		{"schedule rule WeekYear", weekly,
			[]config.TagRule{{Type: "schedule", Name: "weekly", Pattern: "{{.WeekYear}}-w{{.Week}}"}},
			[]Tag{im("2026-w53")}},
		{"schedule rule for another schedule keeps the defaults", monthly,
			[]config.TagRule{{Type: "schedule", Name: "weekly", Pattern: "{{.Year}}.{{.Week}}"}},
			[]Tag{im("2027-01"), mv("monthly")}},
		{"schedule rule without name covers every schedule", nightly,
			[]config.TagRule{{Type: "schedule", Pattern: "{{.Schedule}}-{{.Now.Format \"2006.01.02\"}}"}},
			[]Tag{im("nightly-2026.12.31")}},
		{"schedule rule without pattern with prefix", weekly,
			[]config.TagRule{{Type: "schedule", Name: "weekly", Prefix: "w"}},
			[]Tag{im("w2026-W53"), mv("wweekly")}},
		{"schedule rule with the name alone is moving", weekly,
			[]config.TagRule{{Type: "schedule", Pattern: "{{.Schedule}}-{{.Branch}}"}},
			[]Tag{mv("weekly-main")}},
		{"schedule rules: versioned and moving", weekly,
			[]config.TagRule{
				{Type: "schedule", Name: "weekly", Pattern: "{{.Schedule}}"},
				{Type: "schedule", Name: "weekly", Pattern: "{{.Year}}.{{.Week}}"},
			},
			[]Tag{im("2026.53"), mv("weekly")}},
		{"schedule rule leaves branches alone", branchEvent("main"),
			[]config.TagRule{{Type: "schedule", Pattern: "{{.Schedule}}"}},
			[]Tag{im("main-1a2b3c4"), mv("main"), mv("latest")}},

		// raw
		{"raw enabled on main adds", branchEvent("main"),
			[]config.TagRule{{Type: "raw", Value: "stable", EnableOn: "branch:main"}},
			[]Tag{im("main-1a2b3c4"), mv("main"), mv("latest"), mv("stable")}},
		{"raw not enabled on dev", branchEvent("dev"),
			[]config.TagRule{{Type: "raw", Value: "stable", EnableOn: "branch:main"}},
			[]Tag{im("dev-1a2b3c4"), mv("dev")}},
		{"raw not enabled on a tag push", tagEvent("v1.2.3"),
			[]config.TagRule{{Type: "raw", Value: "stable", EnableOn: "branch:main"}},
			[]Tag{im("1.2.3"), mv("1.2"), mv("1"), mv("latest")}},
		{"raw always", weekly,
			[]config.TagRule{{Type: "raw", Value: "edge"}},
			[]Tag{im("2026-W53"), mv("weekly"), mv("edge")}},
		{"raw with alternatives", weekly,
			[]config.TagRule{{Type: "raw", Value: "stable", EnableOn: "tag:v*, schedule:weekly"}},
			[]Tag{im("2026-W53"), mv("weekly"), mv("stable")}},
		{"raw enable_on tag pattern", tagEvent("v2.1.0"),
			[]config.TagRule{{Type: "raw", Value: "v2-stable", EnableOn: "tag:v2.*"}},
			[]Tag{im("2.1.0"), mv("2.1"), mv("2"), mv("latest"), mv("v2-stable")}},
		{"raw enable_on branch glob", branchEvent("release/2.1"),
			[]config.TagRule{{Type: "raw", Value: "rc", EnableOn: "branch:release/*"}},
			[]Tag{im("release-2.1-1a2b3c4"), mv("release-2.1"), mv("rc")}},
		{"raw dated is immutable", branchEvent("main"),
			[]config.TagRule{{Type: "raw", Value: "main-{{.Now.Format \"20060102\"}}", EnableOn: "branch:main"}},
			[]Tag{im("main-1a2b3c4"), im("main-20261117"), mv("main"), mv("latest")}},
		{"raw duplicate of a default", branchEvent("main"),
			[]config.TagRule{{Type: "raw", Value: "latest"}},
			[]Tag{im("main-1a2b3c4"), mv("main"), mv("latest")}},
		{"raw with schedule vars", nightly,
			[]config.TagRule{{Type: "raw", Value: "{{.Schedule}}-{{.ShortCommit}}", EnableOn: "schedule:*"}},
			[]Tag{im("nightly-20261231"), im("nightly-1a2b3c4"), mv("nightly")}},

		// ref
		{"ref on a branch", branchEvent("feature/x"), []config.TagRule{{Type: "ref"}}, []Tag{mv("feature-x")}},
		{"ref on a semver tag", tagEvent("v1.2.3"), []config.TagRule{{Type: "ref"}}, []Tag{im("v1.2.3")}},
		{"ref on another tag", tagEvent("deploy/2026 q1"), []config.TagRule{{Type: "ref"}}, []Tag{im("deploy-2026-q1")}},
		{"ref leaves schedules alone", weekly, []config.TagRule{{Type: "ref"}}, []Tag{im("2026-W53"), mv("weekly")}},

		// combining
		{"immutable wins a duplicate", branchEvent("main"),
			[]config.TagRule{{Type: "branch"}, {Type: "sha", Pattern: "{{.Branch}}"}},
			[]Tag{im("main")}},
		{"push order: immutable first, each in rule order", branchEvent("main"),
			[]config.TagRule{
				{Type: "raw", Value: "edge"},
				{Type: "branch"},
				{Type: "sha", Prefix: "sha-"},
				{Type: "sha", Length: 10},
			},
			[]Tag{im("sha-1a2b3c4"), im("1a2b3c4d5e"), mv("edge"), mv("main")}},
		{"metadata-action style set on a tag push", tagEvent("v1.2.3", "v1.2.2"),
			[]config.TagRule{
				{Type: "branch"},
				{Type: "semver", Pattern: "{{.Version}}"},
				{Type: "semver", Pattern: "{{.Major}}.{{.Minor}}"},
				{Type: "sha", Prefix: "sha-", EnableOn: "branch:*"},
			},
			[]Tag{im("1.2.3"), mv("1.2")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Tags(tt.ev, tt.rules)
			if err != nil {
				t.Fatalf("Tags(%v): %v", tt.ev, err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Tags(%v) mismatch (-want +got):\n%s", tt.ev, diff)
			}
			for _, tag := range got {
				if !ValidTag(tag.Name) {
					t.Errorf("tag %q is not valid", tag.Name)
				}
			}
		})
	}
}

func TestTagsDueLocation(t *testing.T) {
	// The caller converts the due time into the schedule's zone; Tags takes
	// the date in Due's own location and never converts it to UTC.
	due := utc(2026, 11, 30, 23, 30)
	for _, zone := range []struct {
		loc  string
		want string
	}{
		{"UTC", "2026-11"},
		{"Europe/Berlin", "2026-12"},
		{"Asia/Tokyo", "2026-12"},
		{"America/New_York", "2026-11"},
	} {
		t.Run(zone.loc, func(t *testing.T) {
			got, err := Tags(scheduleAt("monthly", due.In(mustLoad(t, zone.loc))), nil)
			if err != nil {
				t.Fatal(err)
			}
			if got[0].Name != zone.want {
				t.Errorf("versioned tag = %q, want %q", got[0].Name, zone.want)
			}
		})
	}
}

func TestTagsErrors(t *testing.T) {
	tests := []struct {
		name    string
		ev      Event
		rules   []config.TagRule
		wantKey string // "" for errors that are not a *RuleError
		wantTag string
		wantIs  error
		wantIn  string
	}{
		{"branch pattern renders a slash", branchEvent("main"),
			[]config.TagRule{{Type: "branch", Pattern: "{{.Branch}}/x"}}, "tags[0]", "main/x", ErrInvalidTag, "a push to branch main"},
		{"raw starting with a dash", branchEvent("main"),
			[]config.TagRule{{Type: "branch"}, {Type: "raw", Value: "-edge"}}, "tags[1]", "-edge", ErrInvalidTag, `renders "-edge"`},
		{"prefix with a colon", tagEvent("v1.2.3"),
			[]config.TagRule{{Type: "semver", Prefix: "v:"}}, "tags[0]", "v:1.2.3", ErrInvalidTag, "a push of tag v1.2.3"},
		{"too long", branchEvent("main"),
			[]config.TagRule{{Type: "raw", Value: strings.Repeat("x", 129)}}, "tags[0]", strings.Repeat("x", 129), ErrInvalidTag, "not a valid docker tag"},
		{"unknown name", branchEvent("main"),
			[]config.TagRule{{Type: "branch", Pattern: "{{.Nope}}"}}, "tags[0]", "", nil, "Nope"},
		{"method of Now that fails", branchEvent("main"),
			[]config.TagRule{{Type: "branch", Pattern: "{{.Now.Nope}}"}}, "tags[0]", "", nil, "Nope"},
		{"unparsable template", branchEvent("main"),
			[]config.TagRule{{Type: "branch", Pattern: "{{.Branch"}}, "tags[0]", "", nil, "template"},
		{"unknown type", branchEvent("main"),
			[]config.TagRule{{Type: "label"}}, "tags[0]", "", nil, `unknown rule type "label"`},
		{"bad enable_on", branchEvent("main"),
			[]config.TagRule{{Type: "raw", Value: "x", EnableOn: "main"}}, "tags[0]", "", nil, "KIND:PATTERN"},
		{"bad enable_on kind", branchEvent("main"),
			[]config.TagRule{{Type: "raw", Value: "x", EnableOn: "manual:x"}}, "tags[0]", "", nil, "KIND:PATTERN"},
		{"bad enable_on pattern", branchEvent("main"),
			[]config.TagRule{{Type: "raw", Value: "x", EnableOn: "branch:[a"}}, "tags[0]", "", nil, "bad pattern"},
		{"bad name pattern", branchEvent("main"),
			[]config.TagRule{{Type: "branch", Name: "[a"}}, "tags[0]", "", nil, "bad pattern"},
		{"bad enable_on of a rule for other events", tagEvent("v1.0.0"),
			[]config.TagRule{{Type: "branch", EnableOn: "nope"}}, "tags[0]", "", nil, "KIND:PATTERN"},
		{"schedule name too long for its default", scheduleAt(strings.Repeat("n", 120), utc(2026, 1, 1, 0, 0)),
			nil, "", strings.Repeat("n", 120) + "-20260101", ErrInvalidTag, "default tags"},
		{"unknown kind", Event{Kind: "manual", Ref: "refs/heads/main"}, nil, "", "", nil, `unknown event kind "manual"`},
		{"branch event without a ref", Event{Kind: KindBranch}, nil, "", "", nil, "no branch"},
		{"tag event without a ref", Event{Kind: KindTag, Ref: "refs/tags/"}, nil, "", "", nil, "no tag"},
		{"schedule without a name", Event{Kind: KindSchedule, Due: utc(2026, 1, 1, 0, 0)}, nil, "", "", nil, "no schedule name"},
		{"schedule without a due time", Event{Kind: KindSchedule, Schedule: "weekly"}, nil, "", "", nil, "no due time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Tags(tt.ev, tt.rules)
			if err == nil {
				t.Fatalf("Tags = %v, want an error", got)
			}
			t.Logf("error: %v", err)
			if got != nil {
				t.Errorf("Tags returned tags %v with the error", got)
			}
			if !strings.Contains(err.Error(), tt.wantIn) {
				t.Errorf("error %q does not contain %q", err, tt.wantIn)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %v is not %v", err, tt.wantIs)
			}
			var re *RuleError
			if !errors.As(err, &re) {
				if tt.wantKey != "" || tt.wantTag != "" {
					t.Fatalf("error %v is not a *RuleError", err)
				}
				return
			}
			if re.Key != tt.wantKey || re.Tag != tt.wantTag {
				t.Errorf("RuleError key %q tag %q, want %q %q", re.Key, re.Tag, tt.wantKey, tt.wantTag)
			}
		})
	}
	t.Run("errors of several rules are joined", func(t *testing.T) {
		_, err := Tags(branchEvent("main"), []config.TagRule{{Type: "raw", Value: "a/b"}, {Type: "raw", Value: "ok"}, {Type: "raw", Value: "c d"}})
		for _, want := range []string{"tags[0]", "tags[2]", `"a/b"`, `"c d"`} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("error %v does not contain %q", err, want)
			}
		}
	})
}

func TestEventVars(t *testing.T) {
	tests := []struct {
		name string
		ev   Event
		want Vars
	}{
		{
			"branch", branchEvent("feature/x"),
			Vars{Branch: "feature-x", ShortCommit: "1a2b3c4", FullCommit: strings.ToLower(testCommit),
				Year: "2026", Month: "11", Week: "47", Day: "17", WeekYear: "2026", Now: utc(2026, 11, 17, 10, 0)},
		},
		{
			"tag", Event{Kind: KindTag, Ref: "refs/tags/v1.20.3-rc.1+b", Now: utc(2027, 1, 1, 0, 0)},
			Vars{Tag: "v1.20.3-rc.1-b", Version: "1.20.3-rc.1", Major: "1", Minor: "20", Patch: "3", Prerelease: "rc.1",
				Year: "2027", Month: "01", Week: "53", Day: "01", WeekYear: "2026", Now: utc(2027, 1, 1, 0, 0)},
		},
		{
			"schedule", scheduleAt("weekly", utc(2027, 1, 4, 3, 0)),
			Vars{Branch: "main", Schedule: "weekly", ShortCommit: "1a2b3c4", FullCommit: strings.ToLower(testCommit),
				Year: "2027", Month: "01", Week: "01", Day: "04", WeekYear: "2027", Now: utc(2027, 1, 4, 3, 0)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.ev.Vars()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Vars mismatch (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("zero Now is the current time", func(t *testing.T) {
		before := time.Now()
		got, err := Event{Kind: KindBranch, Ref: "main"}.Vars()
		if err != nil {
			t.Fatal(err)
		}
		if got.Now.Before(before.Add(-time.Second)) || got.Now.After(time.Now().Add(time.Second)) {
			t.Errorf("Now = %v, want about %v", got.Now, before)
		}
	})
}

func TestCheckRules(t *testing.T) {
	weekly := config.Schedule{Name: "weekly", Cron: "0 3 * * MON", Branch: "main"}
	monthly := config.Schedule{Name: "monthly", Cron: "0 4 1 * *", Branch: "main"}
	nightly := config.Schedule{Name: "nightly", Cron: "@daily", Branch: "main", Timezone: "Europe/Berlin"}
	keep := func(s config.Schedule, n int) config.Schedule { s.Retention.Keep = n; return s }
	type wantErr struct{ key, in string }
	tests := []struct {
		name      string
		rules     []config.TagRule
		schedules []config.Schedule
		want      []wantErr
	}{
		{"no rules", nil, []config.Schedule{weekly, monthly, nightly}, nil},
		{"the issue's rules", []config.TagRule{
			{Type: "branch"},
			{Type: "sha", Length: 7},
			{Type: "semver", Pattern: "{{.Major}}.{{.Minor}}"},
			{Type: "schedule", Name: "weekly", Pattern: "{{.Year}}.{{.Week}}"},
			{Type: "raw", Value: "stable", EnableOn: "branch:main"},
			{Type: "ref", Prefix: "ref-"},
		}, []config.Schedule{weekly, nightly}, nil},
		{"branch pattern with a slash", []config.TagRule{{Type: "branch", Pattern: "{{.Branch}}/x"}}, nil,
			[]wantErr{{"tags[0]", `on a push to branch main renders "main/x": not a valid docker tag`}}},
		{"only the first failing sample of a rule", []config.TagRule{{Type: "raw", Value: "{{.Tag}}+x", EnableOn: "tag:v*"}}, nil,
			[]wantErr{{"tags[0]", `on a push of tag v1.2.3 renders "v1.2.3+x"`}}},
		{"raw with a space on schedules", []config.TagRule{{Type: "raw", Value: "{{.Schedule}} build", EnableOn: "schedule:nightly"}}, []config.Schedule{nightly},
			[]wantErr{{"tags[0]", `on release nightly due 2026-12-31T03:00:00+01:00 renders "nightly build"`}}},
		{"sample from an enable_on pattern", []config.TagRule{{Type: "branch", Pattern: "{{.Branch}}~", EnableOn: "branch:release/*"}}, nil,
			[]wantErr{{"tags[0]", `on a push to branch release/x renders "release-x~"`}}},
		{"sample from a name pattern", []config.TagRule{{Type: "ref", Name: "deploy-[0-9]*", Pattern: "{{.Tag}}!"}}, nil,
			[]wantErr{{"tags[0]", `on a push to branch deploy-0x renders "!"`}}},
		{"prerelease sample", []config.TagRule{{Type: "semver", Pattern: "{{.Version}}+{{.Prerelease}}"}}, nil,
			[]wantErr{{"tags[0]", `renders "1.2.3+"`}}},
		{"template error", []config.TagRule{{Type: "semver", Pattern: "{{.Minor.Nope}}"}}, nil,
			[]wantErr{{"tags[0]", "on a push of tag v1.2.3"}}},
		{"unknown type", []config.TagRule{{Type: "label"}}, nil, []wantErr{{"tags[0]", "unknown rule type"}}},
		{"bad enable_on", []config.TagRule{{Type: "raw", Value: "x", EnableOn: "main"}}, nil, []wantErr{{"tags[0]", "KIND:PATTERN"}}},
		{"schedule rule for a missing schedule", []config.TagRule{{Type: "schedule", Name: "weekly", Pattern: "{{.Year}}.{{.Week}}"}}, []config.Schedule{nightly},
			[]wantErr{{"tags[0]", `no schedule named "weekly" (its schedules: nightly)`}}},
		{"enable_on a missing schedule", []config.TagRule{{Type: "raw", Value: "x", EnableOn: "branch:main,schedule:weekly"}}, nil,
			[]wantErr{{"tags[0]", `no schedule named "weekly" (its schedules: none)`}}},
		{"schedule name too long for its default tag", nil, []config.Schedule{{Name: strings.Repeat("n", 120), Cron: "@daily", Branch: "main"}},
			[]wantErr{{"schedules[0].name", `renders "` + strings.Repeat("n", 120) + `-20261231"`}}},
		{"long schedule name with a rule of its own", []config.TagRule{{Type: "schedule", Pattern: "n-{{.Year}}{{.Month}}{{.Day}}"}},
			[]config.Schedule{{Name: strings.Repeat("n", 120), Cron: "@daily", Branch: "main"}}, nil},
		{"several errors", []config.TagRule{{Type: "raw", Value: "a b"}, {Type: "branch"}, {Type: "sha", Prefix: "@"}}, nil,
			[]wantErr{{"tags[0]", `"a b"`}, {"tags[2]", `"@4f6d2a9"`}}},

		// retention
		{"retention on weekly with nightly", nil, []config.Schedule{keep(weekly, 8), nightly}, nil},
		// The ISO 8601 defaults (2026-W47, 2026-11) never have the same form.
		{"retention on weekly beside monthly defaults", nil, []config.Schedule{keep(weekly, 8), monthly}, nil},
		{"retention on monthly beside weekly defaults", nil, []config.Schedule{weekly, keep(monthly, 8)}, nil},
		{"retention on weekly beside a monthly rule of the same form",
			[]config.TagRule{
				{Type: "schedule", Name: "weekly", Pattern: "{{.Year}}.{{.Week}}"},
				{Type: "schedule", Name: "monthly", Pattern: "{{.Year}}.{{.Month}}"},
			},
			[]config.Schedule{keep(weekly, 8), monthly},
			[]wantErr{{"schedules[0].retention", "schedule monthly's versioned tag \"2026.03\" has the form of weekly's versioned tags"}}},
		{"retention on monthly beside a weekly rule of the monthly form",
			[]config.TagRule{{Type: "schedule", Name: "weekly", Pattern: "{{.Year}}-{{.Week}}"}},
			[]config.Schedule{weekly, keep(monthly, 8)},
			[]wantErr{{"schedules[1].retention", "schedule weekly's versioned tag"}}},
		{"retention on weekly with its own prefix", []config.TagRule{{Type: "schedule", Name: "weekly", Prefix: "w"}}, []config.Schedule{keep(weekly, 8), monthly}, nil},
		{"retention on a schedule with only moving tags", []config.TagRule{{Type: "schedule", Name: "nightly", Pattern: "{{.Schedule}}"}}, []config.Schedule{keep(nightly, 3)},
			[]wantErr{{"schedules[0].retention", "no versioned tags"}}},
		{"retention on a pattern without a date", []config.TagRule{{Type: "schedule", Name: "nightly", Pattern: "{{.Schedule}}-{{.ShortCommit}}"}}, []config.Schedule{keep(nightly, 3)},
			[]wantErr{{"schedules[0].retention", "names no date"}}},
		{"retention on a dated pattern", []config.TagRule{{Type: "schedule", Name: "nightly", Pattern: "{{.Now.Format \"2006-01-02\"}}-n"}}, []config.Schedule{keep(nightly, 3), weekly}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := CheckRules(tt.rules, tt.schedules)
			for _, err := range errs {
				t.Logf("error: %v", err)
			}
			if len(errs) != len(tt.want) {
				t.Fatalf("CheckRules gave %d errors, want %d: %v", len(errs), len(tt.want), errs)
			}
			for i, w := range tt.want {
				var re *RuleError
				if !errors.As(errs[i], &re) {
					t.Fatalf("error %v is not a *RuleError", errs[i])
				}
				if re.Key != w.key {
					t.Errorf("error %d key = %q, want %q", i, re.Key, w.key)
				}
				if !strings.Contains(errs[i].Error(), w.in) {
					t.Errorf("error %d = %q, want it to contain %q", i, errs[i], w.in)
				}
			}
		})
	}
}

func TestScheduleVersioned(t *testing.T) {
	tests := []struct {
		name     string
		schedule string
		rules    []config.TagRule
		match    []string
		noMatch  []string
	}{
		{"weekly default", "weekly", nil,
			[]string{"2026-W47", "2027-W01", "2026-W53"},
			[]string{"weekly", "2026-W4", "12026-W47", "2026-W470", "v2026-W47", "2026-47", "2026.47", "2026-w47", "latest", "main-1a2b3c4"}},
		{"monthly default", "monthly", nil, []string{"2026-11"}, []string{"monthly", "2026-1", "2026.11", "2026-W11"}},
		{"other default", "nightly", nil,
			[]string{"nightly-20261231"},
			[]string{"nightly", "nightly-2026123", "nightly-2026-12-31", "nightlyx20261231", "other-20261231"}},
		{"schedule rule with prefix", "weekly", []config.TagRule{{Type: "schedule", Name: "weekly", Prefix: "w"}},
			[]string{"w2026-W47"}, []string{"2026-W47", "wweekly"}},
		{"schedule rule with pattern and Now.Format", "nightly",
			[]config.TagRule{{Type: "schedule", Pattern: "{{.Schedule}}-{{.Now.Format \"2006.01.02\"}}"}},
			[]string{"nightly-2026.12.31"}, []string{"nightly-20261231", "nightly"}},
		{"schedule rule with commit", "nightly",
			[]config.TagRule{{Type: "schedule", Pattern: "{{.Year}}{{.Month}}{{.Day}}-{{.ShortCommit}}"}},
			[]string{"20261231-1a2b3c4"}, []string{"20261231"}},
		{"rule of another schedule", "nightly",
			[]config.TagRule{{Type: "schedule", Name: "weekly", Prefix: "w"}},
			[]string{"nightly-20261231"}, []string{"w2026-W47"}},
		{"raw rules are not the schedule's", "nightly",
			[]config.TagRule{{Type: "raw", Value: "{{.Year}}", EnableOn: "schedule:nightly"}},
			[]string{"nightly-20261231"}, []string{"2026"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			versioned, err := ScheduleVersioned(config.Schedule{Name: tt.schedule, Branch: "main"}, tt.rules)
			if err != nil {
				t.Fatal(err)
			}
			for _, tag := range tt.match {
				if !versioned(tag) {
					t.Errorf("versioned(%q) = false, want true", tag)
				}
			}
			for _, tag := range tt.noMatch {
				if versioned(tag) {
					t.Errorf("versioned(%q) = true, want false", tag)
				}
			}
		})
	}
	t.Run("matches what Tags renders", func(t *testing.T) {
		rules := []config.TagRule{{Type: "schedule", Name: "nightly", Pattern: "n{{.Now.Format \"06\"}}-{{.Week}}.{{.Day}}", Suffix: "-{{.Branch}}"}}
		versioned, err := ScheduleVersioned(config.Schedule{Name: "nightly", Branch: "main"}, rules)
		if err != nil {
			t.Fatal(err)
		}
		for d := utc(2026, 12, 20, 3, 0); d.Before(utc(2027, 1, 10, 0, 0)); d = d.AddDate(0, 0, 1) {
			tags, err := Tags(scheduleAt("nightly", d), rules)
			if err != nil {
				t.Fatal(err)
			}
			for _, tag := range tags {
				if versioned(tag.Name) == tag.Moving {
					t.Errorf("%s: versioned(%q) = %v for a tag with Moving %v", d.Format(time.DateOnly), tag.Name, versioned(tag.Name), tag.Moving)
				}
			}
		}
	})
	for _, tt := range []struct {
		name, pattern, wantIn string
	}{
		{"no date", "{{.Schedule}}-{{.FullCommit}}", "names no date"},
		{"a cut name", "{{slice .Year 0 2}}{{.Month}}", "cuts a name"},
		{"another method of Now", "{{.Now.Year}}-{{.Day}}", "Year"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ScheduleVersioned(config.Schedule{Name: "nightly"}, []config.TagRule{{Type: "schedule", Pattern: tt.pattern}})
			if err == nil || !strings.Contains(err.Error(), tt.wantIn) {
				t.Errorf("error = %v, want one containing %q", err, tt.wantIn)
			}
		})
	}
}

func TestVersionLess(t *testing.T) {
	ordered := []string{
		"2025.52", "2026.01", "2026.9", "2026.10", "2026.53", "2027.01",
	}
	for i := range ordered {
		for j := range ordered {
			if got, want := VersionLess(ordered[i], ordered[j]), i < j; got != want {
				t.Errorf("VersionLess(%q, %q) = %v, want %v", ordered[i], ordered[j], got, want)
			}
		}
	}
	tests := []struct {
		a, b string
		want bool
	}{
		{"nightly-20261231", "nightly-20270101", true},
		{"nightly-20270101", "nightly-20261231", false},
		{"a", "a", false},
		{"a", "ab", true},
		{"a1", "a01", false},
		{"a01", "a1", false},
		{"a9b", "a10a", true},
		{"x", "1", false},
	}
	for _, tt := range tests {
		if got := VersionLess(tt.a, tt.b); got != tt.want {
			t.Errorf("VersionLess(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

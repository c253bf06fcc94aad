package pipeline

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/registry"
	"github.com/slipwayci/slipway/store"
)

// TestPlanTags covers how build rules, tags: rules and the defaults give a
// build's tags, context and Dockerfile (no engine, git or registry).
func TestPlanTags(t *testing.T) {
	const commit = "0123456789abcdef0123456789abcdef01234567"
	no := false
	now := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	branch := func(name string) registry.Event {
		return registry.Event{Kind: registry.KindBranch, Ref: "refs/heads/" + name, Commit: commit, DefaultBranch: "main", Now: now}
	}
	tag := func(name string) registry.Event {
		return registry.Event{Kind: registry.KindTag, Ref: "refs/tags/" + name, Commit: commit, DefaultBranch: "main", Now: now}
	}
	mainRule := config.BuildRule{SourceType: "branch", Source: "main", DockerTag: "{sourceref},latest"}
	versionRule := config.BuildRule{SourceType: "tag", Source: `/^v([0-9.]+)$/`, DockerTag: `release-{\1},latest,{sourceref}`}
	project := func(edit func(*config.Project)) *config.Project {
		p := &config.Project{Name: "web", DefaultBranch: "main", Context: ".", Dockerfile: "Dockerfile", BuildRules: []config.BuildRule{mainRule, versionRule}}
		if edit != nil {
			edit(p)
		}
		return p
	}
	type want struct {
		tags                []registry.Tag
		context, dockerfile string
		dockerTag           string
		noCache             bool
		matched             []int
		skipped             []SkippedRule
	}
	tests := []struct {
		name    string
		p       *config.Project
		trigger string
		ev      registry.Event
		want    want
		wantErr error
	}{
		{
			name: "no rules: the defaults", p: project(func(p *config.Project) { p.BuildRules = nil }), trigger: store.TriggerPush, ev: branch("main"),
			want: want{
				tags:    []registry.Tag{{Name: "main-0123456"}, {Name: "main", Moving: true}, {Name: "latest", Moving: true}},
				context: ".", dockerfile: "Dockerfile", dockerTag: "main",
			},
		},
		{
			name: "branch rule replaces the defaults", p: project(nil), trigger: store.TriggerPush, ev: branch("main"),
			want: want{
				tags:    []registry.Tag{{Name: "main", Moving: true}, {Name: "latest", Moving: true}},
				context: ".", dockerfile: "Dockerfile", dockerTag: "main", matched: []int{0},
			},
		},
		{
			name: "tag rule: immutable but latest", p: project(nil), trigger: store.TriggerTag, ev: tag("v1.4.2"),
			want: want{
				tags:    []registry.Tag{{Name: "release-1.4.2"}, {Name: "v1.4.2"}, {Name: "latest", Moving: true}},
				context: ".", dockerfile: "Dockerfile", dockerTag: "release-1.4.2", matched: []int{1},
			},
		},
		{
			name: "tags: rules that apply add theirs, without the defaults",
			p: project(func(p *config.Project) {
				p.Tags = []config.TagRule{{Type: "sha", Prefix: "sha-"}, {Type: "raw", Value: "stable", EnableOn: "branch:main"}, {Type: "raw", Value: "never", EnableOn: "tag:x*"}}
			}),
			trigger: store.TriggerPush, ev: branch("main"),
			want: want{
				tags:    []registry.Tag{{Name: "sha-0123456"}, {Name: "main", Moving: true}, {Name: "latest", Moving: true}, {Name: "stable", Moving: true}},
				context: ".", dockerfile: "Dockerfile", dockerTag: "main", matched: []int{0},
			},
		},
		{
			name:    "a tag both immutable and moving is immutable",
			p:       project(func(p *config.Project) { p.Tags = []config.TagRule{{Type: "ref", Pattern: "{{.Tag}}"}} }),
			trigger: store.TriggerTag, ev: tag("v1.4.2"),
			want: want{
				tags:    []registry.Tag{{Name: "release-1.4.2"}, {Name: "v1.4.2"}, {Name: "latest", Moving: true}},
				context: ".", dockerfile: "Dockerfile", dockerTag: "release-1.4.2", matched: []int{1},
			},
		},
		{
			name: "rules of one context are united",
			p: project(func(p *config.Project) {
				p.BuildRules = []config.BuildRule{
					{SourceType: "branch", Source: "main", DockerTag: "a,b", Context: "/app"},
					{SourceType: "branch", Source: "/ma/", DockerTag: "b,c", Context: "app/", Dockerfile: "/", BuildCache: &no},
				}
			}),
			trigger: store.TriggerPush, ev: branch("main"),
			want: want{
				tags:    []registry.Tag{{Name: "a", Moving: true}, {Name: "b", Moving: true}, {Name: "c", Moving: true}},
				context: "app", dockerfile: "Dockerfile", dockerTag: "a", noCache: true, matched: []int{0, 1},
			},
		},
		{
			name: "rules of another context or Dockerfile are skipped",
			p: project(func(p *config.Project) {
				p.BuildRules = []config.BuildRule{
					{SourceType: "branch", Source: "main", DockerTag: "a", Dockerfile: "Dockerfile.a"},
					{SourceType: "branch", Source: "main", DockerTag: "b", Context: "docs"},
					{SourceType: "branch", Source: "main", DockerTag: "c", Context: "/", Dockerfile: "Dockerfile.a"},
					{SourceType: "branch", Source: "main", DockerTag: "d"},
				}
			}),
			trigger: store.TriggerPush, ev: branch("main"),
			want: want{
				tags:    []registry.Tag{{Name: "a", Moving: true}, {Name: "c", Moving: true}},
				context: ".", dockerfile: "Dockerfile.a", dockerTag: "a", matched: []int{0, 2},
				skipped: []SkippedRule{{1, "docs", "Dockerfile"}, {3, ".", "Dockerfile"}},
			},
		},
		{
			name: "no rule matches",
			p:    project(nil), trigger: store.TriggerPush, ev: branch("develop"),
			wantErr: ErrNoBuildRule,
		},
		{
			name: "autobuild false does not build a push",
			p: project(func(p *config.Project) {
				p.BuildRules = []config.BuildRule{{SourceType: "branch", Source: "main", DockerTag: "x", Autobuild: &no}}
			}),
			trigger: store.TriggerPush, ev: branch("main"),
			wantErr: ErrNoBuildRule,
		},
		{
			name: "autobuild false builds by hand",
			p: project(func(p *config.Project) {
				p.BuildRules = []config.BuildRule{{SourceType: "branch", Source: "main", DockerTag: "x", Autobuild: &no}}
			}),
			trigger: store.TriggerManual, ev: branch("main"),
			want: want{tags: []registry.Tag{{Name: "x", Moving: true}}, context: ".", dockerfile: "Dockerfile", dockerTag: "x", matched: []int{0}},
		},
		{
			name: "schedules keep slipway's tags", trigger: store.TriggerSchedule,
			p: project(func(p *config.Project) {
				p.Schedules = []config.Schedule{{Name: "weekly", Cron: "@weekly", Branch: "main"}}
			}),
			ev: registry.Event{Kind: registry.KindSchedule, Schedule: "weekly", Ref: "refs/heads/main", Commit: commit, Due: now},
			want: want{
				tags:    []registry.Tag{{Name: "2026-W48"}, {Name: "weekly", Moving: true}},
				context: ".", dockerfile: "Dockerfile", dockerTag: "weekly",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &config.Config{Projects: []config.Project{*tt.p}}
			trig := Trigger{Kind: tt.trigger, Project: tt.p.Name, Ref: plumbing.ReferenceName(tt.ev.Ref), Commit: tt.ev.Commit, Schedule: tt.ev.Schedule, Due: tt.ev.Due}
			plan, err := Plan(cfg, trig, now)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var matched []int
			for _, m := range plan.Rules.Matched {
				matched = append(matched, m.Rule)
			}
			got := want{tags: plan.Tags, context: plan.Context, dockerfile: plan.Dockerfile, dockerTag: plan.DockerTag, noCache: plan.NoCache, matched: matched, skipped: plan.Rules.Skipped}
			if diff := cmp.Diff(got, tt.want, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("Plan() mismatch (-got +want):\n%s", diff)
			}
		})
	}
}

// TestPlanTrigger covers the trigger's defaults: the default branch, a
// release's branch and due time in the schedule's zone, the build key, and
// which of Docker Hub's settings apply.
func TestPlanTrigger(t *testing.T) {
	now := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	due := time.Date(2027, 1, 1, 2, 0, 0, 0, time.UTC)
	cfg := &config.Config{Projects: []config.Project{
		{Name: "web", DefaultBranch: "main", Context: ".", Dockerfile: "Dockerfile", Image: "r.example/web",
			Schedules: []config.Schedule{{Name: "nightly", Cron: "@daily", Branch: "release", Timezone: "Europe/Berlin", Rebuild: true}}},
		{Name: "hub", DefaultBranch: "main", Context: ".", Dockerfile: "Dockerfile", Image: "r.example/hub", Autotest: true},
	}}
	tests := []struct {
		name    string
		t       Trigger
		ref     plumbing.ReferenceName
		kind    string
		due     time.Time
		refs    []string
		rebuild bool
		hub     bool
		wantErr string
	}{
		{name: "no ref: the default branch", t: Trigger{Kind: store.TriggerManual, Project: "web"},
			ref: "refs/heads/main", kind: registry.KindBranch, refs: []string{"r.example/web:main", "r.example/web:latest"}},
		{name: "a git tag", t: Trigger{Kind: store.TriggerTag, Project: "web", Ref: "refs/tags/v2.0.0", RepoTags: []string{"v2.0.0", "v3.0.0"}},
			ref: "refs/tags/v2.0.0", kind: registry.KindTag, refs: []string{"r.example/web:2.0.0", "r.example/web:2.0", "r.example/web:2"}},
		{name: "a release: its branch, due in its zone", t: Trigger{Kind: store.TriggerSchedule, Project: "web", Schedule: "nightly", Due: due},
			ref: "refs/heads/release", kind: registry.KindSchedule, due: due, refs: []string{"r.example/web:nightly-20270101", "r.example/web:nightly"}, rebuild: true},
		{name: "a release by hand is dated now", t: Trigger{Kind: store.TriggerManual, Project: "web", Schedule: "nightly"},
			ref: "refs/heads/release", kind: registry.KindSchedule, due: now, refs: []string{"r.example/web:nightly-20261123", "r.example/web:nightly"}, rebuild: true},
		{name: "Hub settings", t: Trigger{Kind: store.TriggerPush, Project: "hub", Ref: "refs/heads/dev"},
			ref: "refs/heads/dev", kind: registry.KindBranch, refs: []string{"r.example/hub:dev"}, hub: true},
		{name: "unknown schedule", t: Trigger{Kind: store.TriggerSchedule, Project: "web", Schedule: "weekly"},
			wantErr: `project web has no schedule "weekly" (known: nightly)`},
		{name: "unknown project", t: Trigger{Kind: store.TriggerPush, Project: "nope"}, wantErr: "nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan, err := Plan(cfg, tt.t, now)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one naming %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if plan.Trigger.Ref != tt.ref || plan.Event.Kind != tt.kind || plan.Rebuild != tt.rebuild || plan.Hub != tt.hub {
				t.Errorf("ref %q kind %q rebuild %v hub %v, want %q %q %v %v", plan.Trigger.Ref, plan.Event.Kind, plan.Rebuild, plan.Hub, tt.ref, tt.kind, tt.rebuild, tt.hub)
			}
			if !plan.Trigger.Due.Equal(tt.due) {
				t.Errorf("due %s, want %s", plan.Trigger.Due, tt.due)
			}
			if tt.kind == registry.KindSchedule && plan.Event.Due.Location().String() != "Europe/Berlin" {
				t.Errorf("release due in %s, want the schedule's zone", plan.Event.Due.Location())
			}
			if diff := cmp.Diff(plan.Refs(), tt.refs); diff != "" {
				t.Errorf("Refs() (-got +want):\n%s", diff)
			}
			if want := BuildKey(plan.Project, plan.Trigger.Ref); plan.BuildKey != want {
				t.Errorf("build key %s, want BuildKey of the project and ref %s", plan.BuildKey, want)
			}
		})
	}
}

// TestBuildKeyNamesTheRefOfTheGitDir: with a .git in the context, a tag
// build and a branch build of one commit differ (HEAD detached at the tag or
// on the branch), so a tag never re-tags the branch's image; without it they
// are the same build.
func TestBuildKeyNamesTheRefOfTheGitDir(t *testing.T) {
	off := false
	tag, branch := plumbing.NewTagReferenceName("v1.0.0"), plumbing.NewBranchReferenceName("main")
	on := &config.Project{Context: ".", Dockerfile: "Dockerfile"}
	if BuildKey(on, tag) == BuildKey(on, branch) {
		t.Errorf("git_dir on: a tag and a branch build of one commit have one key")
	}
	if BuildKey(on, branch) != BuildKey(on, branch) {
		t.Errorf("git_dir on: two builds of one branch have different keys")
	}
	without := &config.Project{Context: ".", Dockerfile: "Dockerfile", GitDir: &off}
	if BuildKey(without, tag) != BuildKey(without, branch) {
		t.Errorf("git_dir false: a tag and a branch build of one commit have different keys")
	}
}

// TestBuildKeyNamesThePlatforms: a release never re-tags an image of other
// platforms than the project now builds; without platforms the key is as
// before.
func TestBuildKeyNamesThePlatforms(t *testing.T) {
	branch := plumbing.NewBranchReferenceName("main")
	one := &config.Project{Context: ".", Dockerfile: "Dockerfile"}
	two := &config.Project{Context: ".", Dockerfile: "Dockerfile", Platforms: []string{"linux/amd64", "linux/arm64"}}
	other := &config.Project{Context: ".", Dockerfile: "Dockerfile", Platforms: []string{"linux/amd64"}}
	if k1, k2, k3 := BuildKey(one, branch), BuildKey(two, branch), BuildKey(other, branch); k1 == k2 || k2 == k3 || k1 == k3 {
		t.Errorf("keys without platforms, with two and with one: %s, %s, %s; want three different", k1, k2, k3)
	}
}

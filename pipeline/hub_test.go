package pipeline

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/registry"
	"github.com/slipwayci/slipway/store"
)

// TestBuildTags covers how build rules, tags: rules and the defaults give a
// build's tags, context and Dockerfile.
func TestBuildTags(t *testing.T) {
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
		skipped             []skippedRule
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
				skipped: []skippedRule{{1, "docs", "Dockerfile"}, {3, ".", "Dockerfile"}},
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
			name: "schedules keep slipway's tags", p: project(nil), trigger: store.TriggerSchedule,
			ev: registry.Event{Kind: registry.KindSchedule, Schedule: "weekly", Ref: "refs/heads/main", Commit: commit, Due: now},
			want: want{
				tags:    []registry.Tag{{Name: "2026-W48"}, {Name: "weekly", Moving: true}},
				context: ".", dockerfile: "Dockerfile", dockerTag: "weekly",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tags, plan, err := buildTags(tt.p, &store.Build{Trigger: tt.trigger}, tt.ev)
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
			for _, m := range plan.matched {
				matched = append(matched, m.Rule)
			}
			got := want{tags: tags, context: plan.context, dockerfile: plan.dockerfile, dockerTag: plan.dockerTag, noCache: plan.noCache, matched: matched, skipped: plan.skipped}
			if diff := cmp.Diff(got, tt.want, cmp.AllowUnexported(want{}, skippedRule{})); diff != "" {
				t.Errorf("buildTags() mismatch (-got +want):\n%s", diff)
			}
		})
	}
}

// TestBuildArgs: Hub's variables and the build environment become build
// args only when declared; the project's build args win.
func TestBuildArgs(t *testing.T) {
	p := &config.Project{
		BuildArgs:       map[string]string{"SOURCE_BRANCH": "from-build-args", "PLAIN": "p"},
		SecretBuildArgs: map[string]config.Secret{"TOKEN": "t"},
		BuildEnv:        map[string]string{"NODE_ENV": "production", "UNDECLARED": "u"},
		SecretBuildEnv:  map[string]config.Secret{"NPM_TOKEN": "n", "PLAIN": "hidden"},
	}
	h := &hubRun{p: p, declared: map[string]bool{"SOURCE_BRANCH": true, "SOURCE_COMMIT": true, "NODE_ENV": true, "NPM_TOKEN": true, "PLAIN": true}}
	h.env.SourceBranch, h.env.SourceCommit = "main", "abc"
	plain, secret, err := h.buildArgs(p)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(plain, map[string]string{"SOURCE_BRANCH": "from-build-args", "SOURCE_COMMIT": "abc", "NODE_ENV": "production", "PLAIN": "p"}); diff != "" {
		t.Errorf("plain build args (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(secret, map[string]string{"TOKEN": "t", "NPM_TOKEN": "n"}); diff != "" {
		t.Errorf("secret build args (-got +want):\n%s", diff)
	}

	var none *hubRun
	plain, secret, err = none.buildArgs(p)
	if err != nil || !cmp.Equal(plain, p.BuildArgs) || !cmp.Equal(secret, map[string]string{"TOKEN": "t"}) {
		t.Errorf("a project without Hub's settings: %v %v %v, want its own build args", plain, secret, err)
	}
}

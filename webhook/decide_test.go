package webhook_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-github/v75/github"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/store"
	"github.com/slipwayci/slipway/webhook"
)

const (
	// recordedCommit is `after` of testdata/push-new-branch.json.
	recordedCommit = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
	otherCommit    = "0123456789abcdef0123456789abcdef01234567"
	tagObject      = "fedcba9876543210fedcba9876543210fedcba98"
)

// readPayload returns the bytes of a recorded payload in testdata.
func readPayload(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatalf("read payload: %v", err)
	}
	return b
}

// parsePayload parses a recorded payload as GitHub's event.
func parsePayload(tb testing.TB, event, name string) any {
	tb.Helper()
	v, err := github.ParseWebHook(event, readPayload(tb, name))
	if err != nil {
		tb.Fatalf("parse %s as %s: %v", name, event, err)
	}
	return v
}

// pushVariant parses push-new-branch.json and lets edit change it.
func pushVariant(tb testing.TB, name string, edit func(*github.PushEvent)) any {
	tb.Helper()
	p := parsePayload(tb, "push", name).(*github.PushEvent)
	if edit != nil {
		edit(p)
	}
	return p
}

// helloProject tracks Codertocat/Hello-World by its GitHub name.
func helloProject() config.Project {
	return config.Project{
		Name:          "hello",
		Repo:          "file:///srv/git/hello.git",
		GitHub:        "codertocat/hello-world",
		DefaultBranch: "master",
		Branches:      []string{"master"},
		Image:         "registry.test/codertocat/hello",
	}
}

func withProject(edit func(*config.Project)) []config.Project {
	p := helloProject()
	edit(&p)
	return []config.Project{p}
}

func pushTrigger(project, ref, commit string) webhook.Trigger {
	return webhook.Trigger{
		Project: project,
		Trigger: store.TriggerPush,
		Ref:     ref,
		Commit:  commit,
		Message: "Initial commit",
		Pusher:  "Codertocat",
		// The recorded pushes create their branch or tag.
		Before: "0000000000000000000000000000000000000000",
	}
}

func TestDecide(t *testing.T) {
	masterTrigger := pushTrigger("hello", "refs/heads/master", recordedCommit)
	byRepo := func(repo string) []config.Project {
		return withProject(func(p *config.Project) { p.GitHub, p.Repo = "", repo })
	}
	tests := []struct {
		name     string
		projects []config.Project
		event    string
		payload  func(testing.TB) any
		want     webhook.Decision
	}{
		{
			name:     "push of a configured branch matched by github full_name",
			projects: []config.Project{helloProject()},
			event:    "push",
			payload:  func(tb testing.TB) any { return pushVariant(tb, "push-new-branch.json", nil) },
			want:     webhook.Decision{Triggers: []webhook.Trigger{masterTrigger}},
		},
		{
			name:     "branch name that reads as an option",
			projects: []config.Project{helloProject()},
			event:    "push",
			payload: func(tb testing.TB) any {
				return pushVariant(tb, "push-new-branch.json", func(p *github.PushEvent) { p.Ref = github.Ptr("refs/heads/--upload-pack=x") })
			},
			want: webhook.Decision{Invalid: `ref "refs/heads/--upload-pack=x" is not a valid git ref name: a branch or tag name cannot start with "-" ("--upload-pack=x")`},
		},
		{
			name:     "tag name that climbs out of refs",
			projects: []config.Project{helloProject()},
			event:    "push",
			payload: func(tb testing.TB) any {
				return pushVariant(tb, "push-new-branch.json", func(p *github.PushEvent) { p.Ref = github.Ptr("refs/tags/../../etc/passwd") })
			},
			want: webhook.Decision{Invalid: `ref "refs/tags/../../etc/passwd" is not a valid git ref name: it contains ".."`},
		},
		{
			name:     "rewritten after is the commit built",
			projects: []config.Project{helloProject()},
			event:    "push",
			payload: func(tb testing.TB) any {
				return pushVariant(tb, "push-new-branch.json", func(p *github.PushEvent) { p.After = github.Ptr(otherCommit) })
			},
			want: webhook.Decision{Triggers: []webhook.Trigger{pushTrigger("hello", "refs/heads/master", otherCommit)}},
		},
		{
			name:     "upper-case after is lower-cased",
			projects: []config.Project{helloProject()},
			event:    "push",
			payload: func(tb testing.TB) any {
				return pushVariant(tb, "push-new-branch.json", func(p *github.PushEvent) { p.After = github.Ptr("6113728F27AE82C7B1A177C8D03F9E96E0ADF246") })
			},
			want: webhook.Decision{Triggers: []webhook.Trigger{masterTrigger}},
		},
		{
			name:     "matched by clone_url",
			projects: byRepo("https://github.com/Codertocat/Hello-World.git"),
			event:    "push",
			payload:  func(tb testing.TB) any { return pushVariant(tb, "push-new-branch.json", nil) },
			want:     webhook.Decision{Triggers: []webhook.Trigger{masterTrigger}},
		},
		{
			name:     "matched by clone_url spelled differently",
			projects: byRepo("HTTPS://GitHub.COM/codertocat/hello-world/"),
			event:    "push",
			payload:  func(tb testing.TB) any { return pushVariant(tb, "push-new-branch.json", nil) },
			want:     webhook.Decision{Triggers: []webhook.Trigger{masterTrigger}},
		},
		{
			name:     "matched by scp-like ssh_url",
			projects: byRepo("git@github.com:Codertocat/Hello-World.git"),
			event:    "push",
			payload:  func(tb testing.TB) any { return pushVariant(tb, "push-new-branch.json", nil) },
			want:     webhook.Decision{Triggers: []webhook.Trigger{masterTrigger}},
		},
		{
			name:     "matched by ssh:// form of ssh_url",
			projects: byRepo("ssh://git@github.com/Codertocat/Hello-World.git"),
			event:    "push",
			payload:  func(tb testing.TB) any { return pushVariant(tb, "push-new-branch.json", nil) },
			want:     webhook.Decision{Triggers: []webhook.Trigger{masterTrigger}},
		},
		{
			name:     "matched by html_url",
			projects: byRepo("https://github.com/Codertocat/Hello-World"),
			event:    "push",
			payload:  func(tb testing.TB) any { return pushVariant(tb, "push-new-branch.json", nil) },
			want:     webhook.Decision{Triggers: []webhook.Trigger{masterTrigger}},
		},
		{
			name:     "repo URL of another repository with the same prefix",
			projects: byRepo("https://github.com/Codertocat/Hello-World-2.git"),
			event:    "push",
			payload:  func(tb testing.TB) any { return pushVariant(tb, "push-new-branch.json", nil) },
			want:     webhook.Decision{Ignored: "no project is configured for repository Codertocat/Hello-World"},
		},
		{
			name:     "repo URL on another host",
			projects: byRepo("https://git.example.com/Codertocat/Hello-World.git"),
			event:    "push",
			payload:  func(tb testing.TB) any { return pushVariant(tb, "push-new-branch.json", nil) },
			want:     webhook.Decision{Ignored: "no project is configured for repository Codertocat/Hello-World"},
		},
		{
			name:     "local repo URL never matches",
			projects: byRepo("/srv/git/Hello-World.git"),
			event:    "push",
			payload:  func(tb testing.TB) any { return pushVariant(tb, "push-new-branch.json", nil) },
			want:     webhook.Decision{Ignored: "no project is configured for repository Codertocat/Hello-World"},
		},
		{
			name:     "no project for the repository",
			projects: withProject(func(p *config.Project) { p.GitHub = "acme/web" }),
			event:    "push",
			payload:  func(tb testing.TB) any { return pushVariant(tb, "push-new-branch.json", nil) },
			want:     webhook.Decision{Ignored: "no project is configured for repository Codertocat/Hello-World"},
		},
		{
			name:     "no projects at all",
			projects: nil,
			event:    "push",
			payload:  func(tb testing.TB) any { return pushVariant(tb, "push-new-branch.json", nil) },
			want:     webhook.Decision{Ignored: "no project is configured for repository Codertocat/Hello-World"},
		},
		{
			name:     "push without repository",
			projects: []config.Project{helloProject()},
			event:    "push",
			payload: func(tb testing.TB) any {
				return pushVariant(tb, "push-new-branch.json", func(p *github.PushEvent) { p.Repo = nil })
			},
			want: webhook.Decision{Ignored: "push names no repository"},
		},
		{
			name:     "branch not configured",
			projects: withProject(func(p *config.Project) { p.Branches = []string{"main", "release/*"} }),
			event:    "push",
			payload:  func(tb testing.TB) any { return pushVariant(tb, "push-new-branch.json", nil) },
			want:     webhook.Decision{Ignored: "branch master is not configured to build (projects[0].branches)"},
		},
		{
			name:     "branch pattern",
			projects: withProject(func(p *config.Project) { p.Branches = []string{"main", "release/*"} }),
			event:    "push",
			payload: func(tb testing.TB) any {
				return pushVariant(tb, "push-new-branch.json", func(p *github.PushEvent) { p.Ref = github.Ptr("refs/heads/release/1.x") })
			},
			want: webhook.Decision{Triggers: []webhook.Trigger{pushTrigger("hello", "refs/heads/release/1.x", recordedCommit)}},
		},
		{
			name:     "branch pattern does not cross a slash",
			projects: withProject(func(p *config.Project) { p.Branches = []string{"release/*"} }),
			event:    "push",
			payload: func(tb testing.TB) any {
				return pushVariant(tb, "push-new-branch.json", func(p *github.PushEvent) { p.Ref = github.Ptr("refs/heads/release/1/x") })
			},
			want: webhook.Decision{Ignored: "branch release/1/x is not configured to build (projects[0].branches)"},
		},
		{
			name:     "malformed pattern matches nothing",
			projects: withProject(func(p *config.Project) { p.Branches = []string{"[master"} }),
			event:    "push",
			payload:  func(tb testing.TB) any { return pushVariant(tb, "push-new-branch.json", nil) },
			want:     webhook.Decision{Ignored: "branch master is not configured to build (projects[0].branches)"},
		},
		{
			name:     "empty branches fall back to default_branch",
			projects: withProject(func(p *config.Project) { p.Branches = nil }),
			event:    "push",
			payload:  func(tb testing.TB) any { return pushVariant(tb, "push-new-branch.json", nil) },
			want:     webhook.Decision{Triggers: []webhook.Trigger{masterTrigger}},
		},
		{
			name:     "empty branches and another default_branch",
			projects: withProject(func(p *config.Project) { p.Branches, p.DefaultBranch = nil, "main" }),
			event:    "push",
			payload:  func(tb testing.TB) any { return pushVariant(tb, "push-new-branch.json", nil) },
			want:     webhook.Decision{Ignored: "branch master is not configured to build (projects[0].branches)"},
		},
		{
			name:     "recorded tag deletion",
			projects: []config.Project{helloProject()},
			event:    "push",
			payload:  func(tb testing.TB) any { return pushVariant(tb, "push-tag-deleted.json", nil) },
			want:     webhook.Decision{Ignored: webhook.ReasonRefDeleted},
		},
		{
			name:     "branch deleted",
			projects: []config.Project{helloProject()},
			event:    "push",
			payload: func(tb testing.TB) any {
				return pushVariant(tb, "push-new-branch.json", func(p *github.PushEvent) { p.Deleted = github.Ptr(true) })
			},
			want: webhook.Decision{Ignored: webhook.ReasonRefDeleted},
		},
		{
			name:     "after all zeros without deleted",
			projects: []config.Project{helloProject()},
			event:    "push",
			payload: func(tb testing.TB) any {
				return pushVariant(tb, "push-new-branch.json", func(p *github.PushEvent) {
					p.After = github.Ptr("0000000000000000000000000000000000000000")
				})
			},
			want: webhook.Decision{Ignored: webhook.ReasonRefDeleted},
		},
		{
			name:     "skip ci",
			projects: []config.Project{helloProject()},
			event:    "push",
			payload: func(tb testing.TB) any {
				return pushVariant(tb, "push-new-branch.json", func(p *github.PushEvent) {
					p.HeadCommit.Message = github.Ptr("docs: typo\n\n[Skip CI]")
				})
			},
			want: webhook.Decision{Ignored: webhook.ReasonSkipCI},
		},
		{
			name:     "ci skip",
			projects: []config.Project{helloProject()},
			event:    "push",
			payload: func(tb testing.TB) any {
				return pushVariant(tb, "push-new-branch.json", func(p *github.PushEvent) {
					p.HeadCommit.Message = github.Ptr("[ci skip] docs")
				})
			},
			want: webhook.Decision{Ignored: webhook.ReasonSkipCI},
		},
		{
			name:     "skip ci in another commit than the head does not skip",
			projects: []config.Project{helloProject()},
			event:    "push",
			payload: func(tb testing.TB) any {
				return pushVariant(tb, "push-new-branch.json", func(p *github.PushEvent) {
					p.Commits[0].Message = github.Ptr("[skip ci]")
				})
			},
			want: webhook.Decision{Triggers: []webhook.Trigger{masterTrigger}},
		},
		{
			name:     "after not 40 hex",
			projects: []config.Project{helloProject()},
			event:    "push",
			payload: func(tb testing.TB) any {
				return pushVariant(tb, "push-new-branch.json", func(p *github.PushEvent) { p.After = github.Ptr("6113728f") })
			},
			want: webhook.Decision{Ignored: `pushed commit "6113728f" is not 40 hex`},
		},
		{
			name:     "after missing",
			projects: []config.Project{helloProject()},
			event:    "push",
			payload: func(tb testing.TB) any {
				return pushVariant(tb, "push-new-branch.json", func(p *github.PushEvent) { p.After = nil })
			},
			want: webhook.Decision{Ignored: `pushed commit "" is not 40 hex`},
		},
		{
			name:     "ref neither branch nor tag",
			projects: []config.Project{helloProject()},
			event:    "push",
			payload: func(tb testing.TB) any {
				return pushVariant(tb, "push-new-branch.json", func(p *github.PushEvent) { p.Ref = github.Ptr("refs/notes/commits") })
			},
			want: webhook.Decision{Ignored: `ref "refs/notes/commits" is neither a branch nor a tag`},
		},
		{
			name:     "lightweight tag push builds whatever the branches",
			projects: withProject(func(p *config.Project) { p.Branches = []string{"main"} }),
			event:    "push",
			payload: func(tb testing.TB) any {
				return pushVariant(tb, "push-new-branch.json", func(p *github.PushEvent) { p.Ref = github.Ptr("refs/tags/v1.2.3") })
			},
			want: webhook.Decision{Triggers: []webhook.Trigger{{
				Project: "hello", Trigger: store.TriggerTag, Ref: "refs/tags/v1.2.3", Commit: recordedCommit,
				Message: "Initial commit", Pusher: "Codertocat",
			}}},
		},
		{
			name:     "annotated tag push builds the tagged commit",
			projects: []config.Project{helloProject()},
			event:    "push",
			payload: func(tb testing.TB) any {
				return pushVariant(tb, "push-new-branch.json", func(p *github.PushEvent) {
					p.Ref, p.After = github.Ptr("refs/tags/v1.2.3"), github.Ptr(tagObject)
				})
			},
			want: webhook.Decision{Triggers: []webhook.Trigger{{
				Project: "hello", Trigger: store.TriggerTag, Ref: "refs/tags/v1.2.3", Commit: recordedCommit,
				Message: "Initial commit", Pusher: "Codertocat",
			}}},
		},
		{
			name:     "tag push without head commit builds after",
			projects: []config.Project{helloProject()},
			event:    "push",
			payload: func(tb testing.TB) any {
				return pushVariant(tb, "push-new-branch.json", func(p *github.PushEvent) {
					p.Ref, p.After, p.HeadCommit = github.Ptr("refs/tags/v1.2.3"), github.Ptr(otherCommit), nil
				})
			},
			want: webhook.Decision{Triggers: []webhook.Trigger{{
				Project: "hello", Trigger: store.TriggerTag, Ref: "refs/tags/v1.2.3", Commit: otherCommit,
				Pusher: "Codertocat",
			}}},
		},
		{
			name:     "branch push builds after, not head_commit",
			projects: []config.Project{helloProject()},
			event:    "push",
			payload: func(tb testing.TB) any {
				return pushVariant(tb, "push-new-branch.json", func(p *github.PushEvent) { p.HeadCommit.ID = github.Ptr(otherCommit) })
			},
			want: webhook.Decision{Triggers: []webhook.Trigger{masterTrigger}},
		},
		{
			name:     "pusher falls back to the sender",
			projects: []config.Project{helloProject()},
			event:    "push",
			payload: func(tb testing.TB) any {
				return pushVariant(tb, "push-new-branch.json", func(p *github.PushEvent) { p.Pusher = nil })
			},
			want: webhook.Decision{Triggers: []webhook.Trigger{masterTrigger}},
		},
		{
			name: "monorepo: one trigger per matching project in config order",
			projects: []config.Project{
				{Name: "api", GitHub: "Codertocat/Hello-World", Branches: []string{"master"}},
				{Name: "web", GitHub: "acme/web", Branches: []string{"master"}},
				{Name: "docs", Repo: "git@github.com:Codertocat/Hello-World.git", Branches: []string{"main"}},
				{Name: "worker", Repo: "https://github.com/Codertocat/Hello-World.git", Branches: []string{"*"}},
			},
			event:   "push",
			payload: func(tb testing.TB) any { return pushVariant(tb, "push-new-branch.json", nil) },
			want: webhook.Decision{Triggers: []webhook.Trigger{
				pushTrigger("api", "refs/heads/master", recordedCommit),
				pushTrigger("worker", "refs/heads/master", recordedCommit),
			}},
		},
		{
			name: "monorepo: reason names every project refusing the branch",
			projects: []config.Project{
				{Name: "web", GitHub: "acme/web", Branches: []string{"master"}},
				{Name: "api", GitHub: "Codertocat/Hello-World", Branches: []string{"main"}},
				{Name: "docs", GitHub: "Codertocat/Hello-World", DefaultBranch: "trunk"},
			},
			event:   "push",
			payload: func(tb testing.TB) any { return pushVariant(tb, "push-new-branch.json", nil) },
			want:    webhook.Decision{Ignored: "branch master is not configured to build (projects[1].branches, projects[2].branches)"},
		},
		{
			name: "a project matching by name and URL builds once",
			projects: withProject(func(p *config.Project) {
				p.Repo = "https://github.com/Codertocat/Hello-World.git"
			}),
			event:   "push",
			payload: func(tb testing.TB) any { return pushVariant(tb, "push-new-branch.json", nil) },
			want:    webhook.Decision{Triggers: []webhook.Trigger{masterTrigger}},
		},
		{
			name:     "ping",
			projects: []config.Project{helloProject()},
			event:    "ping",
			payload:  func(tb testing.TB) any { return parsePayload(tb, "ping", "ping.json") },
			want:     webhook.Decision{Ignored: webhook.ReasonPing},
		},
		{
			name:     "create tag",
			projects: []config.Project{helloProject()},
			event:    "create",
			payload:  func(tb testing.TB) any { return parsePayload(tb, "create", "create-tag.json") },
			want:     webhook.Decision{Ignored: webhook.ReasonCreateDelete},
		},
		{
			name:     "delete tag",
			projects: []config.Project{helloProject()},
			event:    "delete",
			payload:  func(tb testing.TB) any { return parsePayload(tb, "delete", "delete-tag.json") },
			want:     webhook.Decision{Ignored: webhook.ReasonCreateDelete},
		},
		{
			name:     "other event",
			projects: []config.Project{helloProject()},
			event:    "issues",
			payload: func(tb testing.TB) any {
				v, err := github.ParseWebHook("issues", []byte(`{"action":"opened"}`))
				if err != nil {
					tb.Fatalf("parse: %v", err)
				}
				return v
			},
			want: webhook.Decision{Ignored: "event issues is not handled"},
		},
		{
			name:     "nil payload",
			projects: []config.Project{helloProject()},
			event:    "push",
			payload:  func(testing.TB) any { return nil },
			want:     webhook.Decision{Ignored: "event push is not handled"},
		},
		{
			name:     "typed nil push",
			projects: []config.Project{helloProject()},
			event:    "push",
			payload:  func(testing.TB) any { return (*github.PushEvent)(nil) },
			want:     webhook.Decision{Ignored: "event push is not handled"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := webhook.Decide(tt.projects, tt.event, tt.payload(t))
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("Decide() mismatch (-got +want):\n%s", diff)
			}
		})
	}
}

// TestDecideDoesNotModifyProjects guards the promise that Decide is pure.
func TestDecideDoesNotModifyProjects(t *testing.T) {
	projects := withProject(func(p *config.Project) { p.Branches = nil })
	before := []config.Project{projects[0]}
	webhook.Decide(projects, "push", pushVariant(t, "push-new-branch.json", nil))
	if diff := cmp.Diff(projects, before); diff != "" {
		t.Errorf("projects changed (-got +want):\n%s", diff)
	}
}

// TestDecideBuildRules covers projects with Docker Hub build rules: a push
// builds when a rule with autobuild matches its branch or tag, whatever the
// project's branches.
func TestDecideBuildRules(t *testing.T) {
	no := false
	hubRules := func(rules ...config.BuildRule) []config.Project {
		return withProject(func(p *config.Project) {
			p.Branches = []string{"master"}
			p.BuildRules = rules
		})
	}
	branchPush := func(branch string) func(testing.TB) any {
		return func(tb testing.TB) any {
			return pushVariant(tb, "push-new-branch.json", func(p *github.PushEvent) { p.Ref = github.Ptr("refs/heads/" + branch) })
		}
	}
	tagPush := func(tag string) func(testing.TB) any {
		return func(tb testing.TB) any {
			return pushVariant(tb, "push-new-branch.json", func(p *github.PushEvent) { p.Ref = github.Ptr("refs/tags/" + tag) })
		}
	}
	tagTrigger := func(tag string) webhook.Trigger {
		return webhook.Trigger{Project: "hello", Trigger: store.TriggerTag, Ref: "refs/tags/" + tag, Commit: recordedCommit, Message: "Initial commit", Pusher: "Codertocat"}
	}
	mainRule := config.BuildRule{SourceType: "branch", Source: "main", DockerTag: "{sourceref},latest"}
	versionRule := config.BuildRule{SourceType: "tag", Source: `/^v([0-9.]+)$/`, DockerTag: `release-{\1}`}
	previewRule := config.BuildRule{SourceType: "Branch", Source: `/^feature-(.*)$/`, DockerTag: `preview-{\1}`, Autobuild: &no}

	tests := []struct {
		name     string
		projects []config.Project
		payload  func(testing.TB) any
		want     webhook.Decision
	}{
		{
			name:     "branch rule builds a branch that branches does not name",
			projects: hubRules(mainRule, versionRule),
			payload:  branchPush("main"),
			want:     webhook.Decision{Triggers: []webhook.Trigger{pushTrigger("hello", "refs/heads/main", recordedCommit)}},
		},
		{
			name:     "branches is not used with build rules",
			projects: hubRules(mainRule, versionRule),
			payload:  branchPush("master"),
			want:     webhook.Decision{Ignored: "no build rule matches branch master (projects[0].build_rules)"},
		},
		{
			name:     "regex tag rule",
			projects: hubRules(mainRule, versionRule),
			payload:  tagPush("v1.4.2"),
			want:     webhook.Decision{Triggers: []webhook.Trigger{tagTrigger("v1.4.2")}},
		},
		{
			name:     "tag no rule matches",
			projects: hubRules(mainRule, versionRule),
			payload:  tagPush("nightly"),
			want:     webhook.Decision{Ignored: "no build rule matches tag nightly (projects[0].build_rules)"},
		},
		{
			name:     "a branch rule does not match a tag of the same name",
			projects: hubRules(config.BuildRule{SourceType: "branch", Source: "v1.4.2", DockerTag: "x"}),
			payload:  tagPush("v1.4.2"),
			want:     webhook.Decision{Ignored: "no build rule matches tag v1.4.2 (projects[0].build_rules)"},
		},
		{
			name:     "rule without autobuild is for builds by hand",
			projects: hubRules(mainRule, previewRule),
			payload:  branchPush("feature-login"),
			want:     webhook.Decision{Ignored: "no build rule matches branch feature-login (projects[0].build_rules)"},
		},
		{
			name:     "invalid rule matches nothing",
			projects: hubRules(config.BuildRule{SourceType: "branch", Source: "/(/", DockerTag: "x"}),
			payload:  branchPush("main"),
			want:     webhook.Decision{Ignored: "no build rule matches branch main (projects[0].build_rules)"},
		},
		{
			name: "reasons of projects with and without rules",
			projects: []config.Project{
				{Name: "a", GitHub: "Codertocat/Hello-World", Branches: []string{"main"}},
				{Name: "b", GitHub: "Codertocat/Hello-World", BuildRules: []config.BuildRule{versionRule}},
			},
			payload: branchPush("master"),
			want:    webhook.Decision{Ignored: "branch master is not configured to build (projects[0].branches); no build rule matches branch master (projects[1].build_rules)"},
		},
		{
			name: "monorepo: a project with rules and one without",
			projects: []config.Project{
				{Name: "a", GitHub: "Codertocat/Hello-World", Branches: []string{"main"}},
				{Name: "b", GitHub: "Codertocat/Hello-World", BuildRules: []config.BuildRule{versionRule}},
				{Name: "c", GitHub: "Codertocat/Hello-World", BuildRules: []config.BuildRule{mainRule}},
			},
			payload: tagPush("v2.0"),
			want: webhook.Decision{Triggers: []webhook.Trigger{
				{Project: "a", Trigger: store.TriggerTag, Ref: "refs/tags/v2.0", Commit: recordedCommit, Message: "Initial commit", Pusher: "Codertocat"},
				{Project: "b", Trigger: store.TriggerTag, Ref: "refs/tags/v2.0", Commit: recordedCommit, Message: "Initial commit", Pusher: "Codertocat"},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := webhook.Decide(tt.projects, "push", tt.payload(t))
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("Decide() mismatch (-got +want):\n%s", diff)
			}
		})
	}
}

package pipeline

import (
	"cmp"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/hub"
	"github.com/slipwayci/slipway/internal/gitref"
	"github.com/slipwayci/slipway/registry"
	"github.com/slipwayci/slipway/store"
)

// ErrNoBuildRule fails a build of a project with build_rules when no rule
// matches its branch or tag: for pushes, no rule with autobuild.
var ErrNoBuildRule = errors.New("no build rule matches")

// Trigger is what starts a build: a push, a git tag, a schedule's release
// or a request by hand. Every way into the queue (webhook, API, schedules,
// `slipway build`) describes its build as a Trigger.
type Trigger struct {
	// Kind is store.TriggerPush, TriggerTag, TriggerSchedule or
	// TriggerManual.
	Kind string
	// Project names the project built.
	Project string
	// Ref is the full ref built; "" means the project's default branch
	// (for a schedule's release: the schedule's branch).
	Ref plumbing.ReferenceName
	// Commit is the exact commit, "" for the ref's head.
	Commit string
	// Schedule names the released schedule of a release (Kind schedule, or
	// manual for `slipway build --schedule`).
	Schedule string
	// Due dates a release's tags; zero means now.
	Due time.Time
	// RepoTags are the repository's git tags, for a build of a git tag:
	// latest and the X, X.Y tags stay on the highest release. nil means
	// unknown (the tag counts as the highest).
	RepoTags []string
	// NoPush and NoDeploy stop the build after its test and push.
	NoPush, NoDeploy bool
	// Late marks the requeue of a newer commit after a late push of an
	// older one: it supersedes nothing.
	Late bool
	// Reason says why the build runs (the build result's reason); ""
	// means the trigger's kind ("push", "schedule weekly").
	Reason string
	// Untrusted marks a pull request from a fork: see BuildPlan.Untrusted.
	Untrusted bool
}

// BuildPlan is what a build will do, worked out from the config and its
// trigger before any engine work: the event the tag rules see, the tags in
// push order, the context and Dockerfile, and which of Docker Hub's
// settings apply. Plan makes it.
type BuildPlan struct {
	// Project is the project built.
	Project *config.Project
	// Trigger is the plan's trigger with the defaults filled in (full ref,
	// due time of a release).
	Trigger Trigger
	// Event is what the tag rules are computed for.
	Event registry.Event
	// Schedule is the released schedule; nil unless a release.
	Schedule *config.Schedule
	// Tags are the build's tags in push order (immutable first).
	Tags []registry.Tag
	// Context is the build context relative to the checkout, Dockerfile
	// the Dockerfile relative to the context.
	Context, Dockerfile string
	// NoCache is set when a matched build rule has build_cache: false.
	NoCache bool
	// Rebuild is set for the release of a schedule with rebuild: true: a
	// fresh build (no cache, base images pulled), never a re-tag.
	Rebuild bool
	// BuildKey identifies the inputs besides the commit (BuildKey of the
	// project with the plan's context and Dockerfile).
	BuildKey string
	// Rules are the build rules the build goes by and those left out.
	Rules RuleMatch
	// DockerTag is Docker Hub's DOCKER_TAG: the first tag of the first
	// matched rule, else the first tag as the build result lists them.
	DockerTag string
	// Hub is set when the project uses Docker Hub's settings: Hub's
	// variables become build args, and with Hooks its hooks run; with
	// Autotest its autotests run in the test stage.
	Hub, Hooks, Autotest bool
	// Untrusted marks a pull request from a fork: built without secrets,
	// ssh, secret build args or hooks.
	Untrusted bool
}

// RuleMatch is what a project's build rules make of one build.
type RuleMatch struct {
	// Matched are the rules built, in rule order; empty when the build does
	// not go by build rules (none configured, or a schedule's release).
	Matched []hub.Match
	// Skipped are rules that matched too but build another context or
	// Dockerfile: one build makes one image.
	Skipped []SkippedRule
}

// SkippedRule is a matching build rule left out of a build, with the
// context and Dockerfile it would have built.
type SkippedRule struct {
	Rule                int
	Context, Dockerfile string
}

// Plan works out the build of t from cfg, dated now: pure, no engine, git
// or registry call. A project with build_rules goes by the rules that match
// (only those with autobuild unless built by hand); a release or any other
// project by its tags: rules and the defaults.
func Plan(cfg *config.Config, t Trigger, now time.Time) (BuildPlan, error) {
	p, t, err := resolve(cfg, t, now)
	if err != nil {
		return BuildPlan{}, err
	}
	pl := BuildPlan{Project: p, Trigger: t, Context: p.Context, Dockerfile: p.Dockerfile,
		Hub: hubProject(p), Hooks: p.Hooks && !t.Untrusted, Autotest: p.Autotest, Untrusted: t.Untrusted}
	pl.event(now)
	if err := pl.tags(); err != nil {
		return BuildPlan{}, err
	}
	q := *p
	q.Context, q.Dockerfile = pl.Context, pl.Dockerfile
	pl.BuildKey = BuildKey(&q, t.Ref)
	if t.Untrusted {
		// Never re-tagged for a trusted build of the same commit.
		pl.BuildKey += untrustedKey
	}
	return pl, nil
}

// resolve finds t's project and fills in the trigger's defaults: the
// default branch, a release's branch and due time (now when unset).
func resolve(cfg *config.Config, t Trigger, now time.Time) (*config.Project, Trigger, error) {
	p, err := cfg.Project(t.Project)
	if err != nil {
		return nil, t, err
	}
	if t.Ref == "" {
		t.Ref = gitref.Branch(p.DefaultBranch)
	}
	if _, pull := gitref.PullNumber(t.Ref); pull && t.Kind != store.TriggerPullRequest {
		// A pull request's head built by hand: slipway cannot tell a
		// fork's from the repository's own, so it builds it untrusted.
		t.Untrusted = true
	}
	if t.Schedule == "" && t.Kind != store.TriggerSchedule {
		return p, t, nil
	}
	sched := p.ScheduleNamed(t.Schedule)
	if sched == nil {
		return nil, t, fmt.Errorf("project %s has no schedule %q (known: %s)", p.Name, t.Schedule, scheduleNames(p))
	}
	if t.Due.IsZero() {
		t.Due = now
	}
	t.Ref, t.Due = gitref.Branch(cmp.Or(sched.Branch, p.DefaultBranch)), t.Due.UTC()
	return p, t, nil
}

// untrustedKey marks the BuildKey of an untrusted build.
const untrustedKey = "+untrusted"

// newBuild is the record of a build of t, queued or run at once.
func newBuild(cfg *config.Config, t Trigger, now time.Time) (store.Build, error) {
	p, t, err := resolve(cfg, t, now)
	if err != nil {
		return store.Build{}, err
	}
	b := store.Build{Project: p.Name, Trigger: t.Kind, Ref: t.Ref.String(), Commit: t.Commit, Schedule: t.Schedule,
		Image: p.Image, NoPush: t.NoPush, NoDeploy: t.NoDeploy, Reason: reasonOf(t), Untrusted: t.Untrusted}
	if _, pull := gitref.PullNumber(t.Ref); pull {
		// A pull request's image is pushed only as pr-N, with push: true,
		// and never deployed (also when built by hand).
		b.NoPush, b.NoDeploy = b.NoPush || !p.PullRequests.Push, true
	}
	if t.Schedule != "" {
		due := t.Due
		b.DueAt = &due
	}
	return b, nil
}

// reasonOf is the build result's reason of t: its Reason, else its kind
// and, for a release, the schedule, for a pull request its number
// ("pull_request #12").
func reasonOf(t Trigger) string {
	n, pull := gitref.PullNumber(t.Ref)
	switch {
	case t.Reason != "":
		return t.Reason
	case t.Schedule != "":
		return t.Kind + " " + t.Schedule
	case t.Kind == store.TriggerPullRequest && pull:
		return fmt.Sprintf("%s #%d", t.Kind, n)
	}
	return t.Kind
}

// event sets the event the tag rules see.
func (pl *BuildPlan) event(now time.Time) {
	p, t := pl.Project, pl.Trigger
	ev := registry.Event{Ref: t.Ref.String(), Commit: t.Commit, DefaultBranch: p.DefaultBranch, Now: now.UTC()}
	switch {
	case t.Schedule != "" || t.Kind == store.TriggerSchedule:
		sched := p.ScheduleNamed(t.Schedule)
		ev.Kind, ev.Schedule = registry.KindSchedule, sched.Name
		ev.Due = t.Due.In(ScheduleLocation(sched))
		pl.Schedule, pl.Rebuild = sched, sched.Rebuild
	case gitref.IsTag(t.Ref):
		ev.Kind, ev.RepoTags = registry.KindTag, t.RepoTags
	default:
		ev.Kind = registry.KindBranch
	}
	pl.Event = ev
}

// tags computes the tags, context and Dockerfile. A project without
// build_rules, and any schedule's release, gets registry.Tags of its tags:
// rules. Otherwise the build rules that match the branch or tag decide:
// their tags replace the default tags, those of tag rules immutable (latest
// excepted), those of branch rules moving; the tags of the project's tags:
// rules that apply are added. When the matching rules differ in context or
// Dockerfile, only the first rule's group is built.
func (pl *BuildPlan) tags() error {
	p, ev := pl.Project, pl.Event
	if n, ok := gitref.PullNumber(pl.Trigger.Ref); ok {
		// Never latest or a branch tag: only pr-N (pushed with
		// pull_requests.push).
		pl.Tags = []registry.Tag{{Name: fmt.Sprintf("pr-%d", n), Moving: true}}
		pl.DockerTag = pl.Tags[0].Name
		return nil
	}
	if len(p.BuildRules) == 0 || ev.Kind != registry.KindBranch && ev.Kind != registry.KindTag {
		tags, err := registry.Tags(ev, p.Tags)
		if err != nil {
			return err
		}
		pl.Tags = tags
		if shown := displayOrder(tags); len(shown) > 0 {
			pl.DockerTag = shown[0]
		}
		return nil
	}
	matches, err := pl.matchRules()
	if err != nil {
		return err
	}
	ruleTags := pl.group(matches)
	var own []registry.Tag
	if len(p.Tags) > 0 {
		if own, err = registry.Tags(ev, append(slices.Clone(p.Tags), rulesOnly())); err != nil {
			return err
		}
	}
	pl.Tags = registry.Merge(ruleTags, own)
	return nil
}

// matchRules returns the build rules that build the event.
func (pl *BuildPlan) matchRules() ([]hub.Match, error) {
	p, ev := pl.Project, pl.Event
	refName := gitref.Short(ev.Ref)
	manual := pl.Trigger.Kind == store.TriggerManual
	var matches []hub.Match
	for _, m := range hub.MatchRules(hubRules(p), ev.Kind, refName) {
		if m.Autobuild || manual {
			matches = append(matches, m)
		}
	}
	if len(matches) == 0 {
		hint := ""
		if !manual {
			hint = "; pushes build only through rules with autobuild: true"
		}
		return nil, fmt.Errorf("%w %s %s (build_rules of project %s%s)", ErrNoBuildRule, ev.Kind, refName, p.Name, hint)
	}
	return matches, nil
}

// group keeps the matches that build the first match's context and
// Dockerfile and returns their tags.
func (pl *BuildPlan) group(matches []hub.Match) []registry.Tag {
	p := pl.Project
	contextOf := func(m hub.Match) string { return path.Clean(cmp.Or(m.Context, p.Context)) }
	dockerfileOf := func(m hub.Match) string { return path.Clean(cmp.Or(m.Dockerfile, p.Dockerfile)) }
	first := matches[0]
	pl.Context, pl.Dockerfile, pl.DockerTag = contextOf(first), dockerfileOf(first), first.Tags[0]
	var tags []registry.Tag
	for _, m := range matches {
		if contextOf(m) != pl.Context || dockerfileOf(m) != pl.Dockerfile {
			pl.Rules.Skipped = append(pl.Rules.Skipped, SkippedRule{m.Rule, contextOf(m), dockerfileOf(m)})
			continue
		}
		pl.Rules.Matched = append(pl.Rules.Matched, m)
		pl.NoCache = pl.NoCache || m.NoCache
		for _, t := range m.Tags {
			tags = append(tags, registry.Tag{Name: t, Moving: pl.Event.Kind == registry.KindBranch || t == registry.Latest})
		}
	}
	return tags
}

// Refs are the image references of the plan's tags, in push order.
func (pl BuildPlan) Refs() []string {
	refs := make([]string, len(pl.Tags))
	for i, t := range pl.Tags {
		refs[i] = pl.Project.Image + ":" + t.Name
	}
	return refs
}

// TagNames are the plan's tags as the build result lists them (["main",
// "main-1a2b3c4", "latest"]).
func (pl BuildPlan) TagNames() []string { return displayOrder(pl.Tags) }

// rulesOnly is a tags: rule that applies to every branch and tag push and
// renders no tag. Appended to a project's tags: rules, it makes
// registry.Tags drop the default tags (the rules that apply to an event
// replace its defaults, see the registry package), so that only the tags of
// the project's own rules remain.
func rulesOnly() config.TagRule {
	return config.TagRule{Type: registry.RuleRef, Pattern: `{{""}}`}
}

// hubProject reports whether p uses any of Docker Hub's build settings.
// Only such projects get Hub's variables as build args, hooks and
// autotests; every other project builds exactly as before.
func hubProject(p *config.Project) bool {
	return len(p.BuildRules) > 0 || p.Autotest || p.Hooks || len(p.BuildEnv) > 0 || len(p.SecretBuildEnv) > 0
}

// hubRules converts the project's build rules.
func hubRules(p *config.Project) []hub.BuildRule {
	rules := make([]hub.BuildRule, len(p.BuildRules))
	for i, r := range p.BuildRules {
		rules[i] = hub.BuildRule(r)
	}
	return rules
}

func scheduleNames(p *config.Project) string {
	names := make([]string, len(p.Schedules))
	for i, s := range p.Schedules {
		names[i] = s.Name
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// displayOrder lists tags as the build result shows them: moving branch tag
// first, then the immutable ones, then latest (["main", "main-1a2b3c4",
// "latest"]).
func displayOrder(tags []registry.Tag) []string {
	var first, mid, last []string
	for _, t := range tags {
		switch {
		case t.Name == registry.Latest:
			last = append(last, t.Name)
		case t.Moving:
			first = append(first, t.Name)
		default:
			mid = append(mid, t.Name)
		}
	}
	return append(append(first, mid...), last...)
}

// Package webhook turns GitHub webhook deliveries into build triggers, or
// into a reason to ignore them, and serves `POST /hooks/github`.
//
// The package has two halves. Decide is a pure function from the configured
// projects and a parsed event to the builds that event asks for; it never
// touches the network, the disk or a clock. Handler is the HTTP boundary: it
// bounds the body, checks the HMAC-SHA256 signature before anything else,
// parses the event with go-github, calls Decide and hands the delivery and
// its builds to a Queue in one atomic call. It answers before any git or
// engine work starts.
package webhook

import (
	"fmt"
	"net/url"
	"path"
	"strings"

	"github.com/google/go-github/v75/github"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/hub"
	"github.com/slipwayci/slipway/internal/gitref"
	"github.com/slipwayci/slipway/source"
	"github.com/slipwayci/slipway/store"
)

// Trigger is what a delivery asks for: one build of a configured project.
type Trigger struct {
	// Project is the configured project's name.
	Project string
	// Trigger is store.TriggerPush for a branch push, store.TriggerTag
	// for a tag push, store.TriggerPullRequest for a pull request.
	Trigger string
	// Ref is the full ref pushed: refs/heads/B or refs/tags/T; for a pull
	// request refs/pull/N/head.
	Ref string
	// Commit is the 40-hex (lower-case) commit to build: the push's
	// `after`. For a tag push it is head_commit.id when that is a commit,
	// because `after` names the tag object of an annotated tag, which is
	// not a commit.
	Commit string
	// Message is the head commit's message (may be empty); a pull
	// request's title.
	Message string
	// Pusher is the name of whoever pushed (may be empty); for a pull
	// request, who sent the event.
	Pusher string
	// Untrusted marks a pull request from a fork (projects[].pull_requests.
	// forks): built without secrets, ssh, secret build args or hooks.
	Untrusted bool
	// Before is a branch push's `before` (all zeros for a new branch) and
	// Forced its `forced`: what a path filter compares Commit with. Unset
	// for a tag push.
	Before string
	Forced bool
}

// Decision is what a delivery asks for: the builds to queue, the reason it
// builds nothing, or why it is malformed. Exactly one of Triggers, Ignored
// and Invalid is set; Cancels comes with Ignored.
type Decision struct {
	// Triggers holds one Trigger per matching project, in config order.
	Triggers []Trigger
	// Cancels are the refs whose queued and running builds the delivery
	// ends: a closed pull request's, per project building pull requests.
	Cancels []Cancel
	// Ignored is why nothing builds; "" when Triggers is non-empty.
	Ignored string
	// Invalid is why the payload cannot be acted on (a pushed ref git
	// refuses as a ref name): Handler answers 400 with it and queues
	// nothing.
	Invalid string
}

// Cancel names the builds a delivery ends: the queued and running builds
// of Ref of Project.
type Cancel struct {
	Project string
	Ref     string
}

// Reasons Decide gives for events that never build.
const (
	// ReasonPing answers GitHub's ping event, sent when a hook is created.
	ReasonPing = "ping"
	// ReasonCreateDelete answers create and delete events: tag builds come
	// from the push event of the tag.
	ReasonCreateDelete = "create/delete events do not build; pushes do"
	// ReasonRefDeleted answers a push that deleted its ref.
	ReasonRefDeleted = "ref deleted"
	// ReasonSkipCI answers a push whose head commit asks not to build.
	ReasonSkipCI = "[skip ci] in the head commit message"
)

// Decide returns the builds that event (the X-GitHub-Event name) with
// payload (as returned by github.ParseWebHook) asks for, or the reason it
// asks for none. An ignored delivery is an expected outcome, not an error.
//
// A push builds every project whose `github` equals repository.full_name
// (case-insensitively) or whose `repo` URL equals the repository's
// clone_url, ssh_url or html_url once both are normalised (scheme and host
// lower-cased, user info, a trailing "/" and ".git" dropped, the path
// compared case-insensitively as GitHub does). A branch push builds only the
// projects whose `branches` patterns (path.Match; [default_branch] when
// empty) match the branch; a tag push builds every matching project. A
// project with `build_rules` (Docker Hub's) builds a branch or tag push
// instead when one of its rules with autobuild matches the branch or tag
// name, whatever its `branches`. URLs of the payload are used for matching
// and nothing else.
//
// Decide is pure and safe for concurrent use; it does not modify projects or
// payload.
func Decide(projects []config.Project, event string, payload any) Decision {
	switch p := payload.(type) {
	case *github.PushEvent:
		if p != nil {
			return decidePush(projects, p)
		}
	case *github.PullRequestEvent:
		if p != nil {
			return decidePullRequest(projects, p)
		}
	case *github.PingEvent:
		if p != nil {
			return ignore(ReasonPing)
		}
	case *github.CreateEvent:
		if p != nil {
			return ignore(ReasonCreateDelete)
		}
	case *github.DeleteEvent:
		if p != nil {
			return ignore(ReasonCreateDelete)
		}
	}
	return ignore(notHandled(event))
}

// notHandled is the reason given for an event slipway does not act on.
func notHandled(event string) string {
	return fmt.Sprintf("event %s is not handled", event)
}

func ignore(reason string) Decision { return Decision{Ignored: reason} }

func decidePush(projects []config.Project, p *github.PushEvent) Decision {
	repo := p.GetRepo()
	fullName := repo.GetFullName()
	if repo == nil || fullName == "" {
		return ignore("push names no repository")
	}
	matched := matchProjects(projects, fullName, repo.GetCloneURL(), repo.GetSSHURL(), repo.GetHTMLURL())
	if len(matched) == 0 {
		return ignore(fmt.Sprintf("no project is configured for repository %s", fullName))
	}

	after := p.GetAfter()
	if p.GetDeleted() || (after != "" && strings.Trim(after, "0") == "") {
		return ignore(ReasonRefDeleted)
	}

	ref := p.GetRef()
	if err := source.ValidateRef(ref); err != nil && (gitref.IsBranch(ref) || gitref.IsTag(ref)) {
		return Decision{Invalid: err.Error()}
	}
	branch, isBranch := gitref.BranchName(ref)
	tag, isTag := gitref.TagName(ref)
	var trigger string
	switch {
	case isBranch && branch != "":
		trigger = store.TriggerPush
	case isTag && tag != "":
		trigger = store.TriggerTag
	default:
		return ignore(fmt.Sprintf("ref %q is neither a branch nor a tag", ref))
	}

	kind, name := hub.SourceBranch, branch
	if trigger == store.TriggerTag {
		kind, name = hub.SourceTag, tag
	}
	var building []int
	var noBranch, noRule []string
	for _, i := range matched {
		switch pr := &projects[i]; {
		case len(pr.BuildRules) > 0:
			if autobuilds(pr, kind, name) {
				building = append(building, i)
			} else {
				noRule = append(noRule, fmt.Sprintf("projects[%d].build_rules", i))
			}
		case trigger == store.TriggerTag || buildsBranch(pr, branch):
			building = append(building, i)
		default:
			noBranch = append(noBranch, fmt.Sprintf("projects[%d].branches", i))
		}
	}
	if len(building) == 0 {
		var reasons []string
		if len(noBranch) > 0 {
			reasons = append(reasons, fmt.Sprintf("branch %s is not configured to build (%s)", branch, strings.Join(noBranch, ", ")))
		}
		if len(noRule) > 0 {
			reasons = append(reasons, fmt.Sprintf("no build rule matches %s %s (%s)", kind, name, strings.Join(noRule, ", ")))
		}
		return ignore(strings.Join(reasons, "; "))
	}
	matched = building

	head := p.GetHeadCommit()
	if skipCI(head.GetMessage()) {
		return ignore(ReasonSkipCI)
	}

	commit := strings.ToLower(after)
	if id := strings.ToLower(head.GetID()); trigger == store.TriggerTag && isCommit(id) {
		// A push of an annotated tag has the tag object in `after`;
		// head_commit is the commit it points to.
		commit = id
	}
	if !isCommit(commit) {
		return ignore(fmt.Sprintf("pushed commit %q is not 40 hex", after))
	}

	pusher := p.GetPusher().GetName()
	if pusher == "" {
		pusher = p.GetSender().GetLogin()
	}
	d := Decision{Triggers: make([]Trigger, 0, len(matched))}
	for _, i := range matched {
		d.Triggers = append(d.Triggers, Trigger{
			Project: projects[i].Name,
			Trigger: trigger,
			Ref:     ref,
			Commit:  commit,
			Message: head.GetMessage(),
			Pusher:  pusher,
		})
		if trigger == store.TriggerPush {
			last := &d.Triggers[len(d.Triggers)-1]
			last.Before, last.Forced = strings.ToLower(p.GetBefore()), p.GetForced()
		}
	}
	return d
}

// matchProjects returns the indexes of the projects that track the
// repository named fullName with the given URLs.
func matchProjects(projects []config.Project, fullName string, repoURLs ...string) []int {
	var urls []string
	for _, u := range repoURLs {
		if n := normalizeRepoURL(u); n != "" {
			urls = append(urls, n)
		}
	}
	var matched []int
	for i := range projects {
		p := &projects[i]
		if gh := strings.TrimSpace(p.GitHub); gh != "" && strings.EqualFold(gh, fullName) {
			matched = append(matched, i)
			continue
		}
		n := normalizeRepoURL(p.Repo)
		if n == "" {
			continue
		}
		for _, u := range urls {
			if strings.EqualFold(n, u) {
				matched = append(matched, i)
				break
			}
		}
	}
	return matched
}

// normalizeRepoURL reduces a git URL to scheme://host[:port]/path so that
// spellings of one repository compare equal: scp-like "git@host:path" becomes
// ssh://host/path, the scheme and host are lower-cased, user info, a trailing
// "/" and a trailing ".git" are dropped. It returns "" for URLs without a
// host (local paths, file://), which never match a GitHub repository.
func normalizeRepoURL(raw string) string {
	s := strings.TrimSpace(raw)
	if s == "" {
		return ""
	}
	if !strings.Contains(s, "://") {
		// scp-like syntax: [user@]host:path, where host has no "/".
		colon := strings.Index(s, ":")
		if colon <= 0 || strings.Contains(s[:colon], "/") {
			return ""
		}
		s = "ssh://" + s[:colon] + "/" + strings.TrimPrefix(s[colon+1:], "/")
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return ""
	}
	p := strings.TrimRight(u.Path, "/")
	p = strings.TrimRight(strings.TrimSuffix(p, ".git"), "/")
	if p == "" {
		return ""
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host) + p
}

// buildsBranch reports whether a push to branch builds p.
func buildsBranch(p *config.Project, branch string) bool {
	patterns := p.Branches
	if len(patterns) == 0 && p.DefaultBranch != "" {
		patterns = []string{p.DefaultBranch}
	}
	for _, pat := range patterns {
		// A malformed pattern matches nothing; config validation reports it.
		if ok, err := path.Match(pat, branch); err == nil && ok {
			return true
		}
	}
	return false
}

// autobuilds reports whether a push of the branch or tag (kind
// hub.SourceBranch or hub.SourceTag) builds p, a project with build rules:
// whether one of its rules with autobuild matches. Rules that autobuild:
// false leaves to builds started by hand never count; invalid rules match
// nothing (config validation reports them).
func autobuilds(p *config.Project, kind, name string) bool {
	rules := make([]hub.BuildRule, len(p.BuildRules))
	for i, r := range p.BuildRules {
		rules[i] = hub.BuildRule(r)
	}
	for _, m := range hub.MatchRules(rules, kind, name) {
		if m.Autobuild {
			return true
		}
	}
	return false
}

// skipCI reports whether a commit message asks not to build.
func skipCI(message string) bool {
	m := strings.ToLower(message)
	return strings.Contains(m, "[skip ci]") || strings.Contains(m, "[ci skip]")
}

// isCommit reports whether s is a 40-hex lower-case object id.
func isCommit(s string) bool {
	if len(s) != 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

package webhook

import (
	"fmt"
	"strings"

	"github.com/google/go-github/v75/github"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/internal/gitref"
	"github.com/slipwayci/slipway/store"
)

// Pull request actions that build the head, and the one that cancels.
var (
	pullRequestBuilds = map[string]bool{"opened": true, "synchronize": true, "reopened": true}
	pullRequestClosed = "closed"
)

// decidePullRequest is Decide for a pull_request event: opened,
// synchronize and reopened build refs/pull/N/head at the head commit in
// every project tracking the repository with pull_requests.enabled whose
// branches match the base branch; a pull request from a fork only with
// pull_requests.forks, then untrusted. closed cancels the pull request's
// builds.
func decidePullRequest(projects []config.Project, e *github.PullRequestEvent) Decision {
	repo := e.GetRepo()
	fullName := repo.GetFullName()
	if repo == nil || fullName == "" {
		return ignore("pull_request names no repository")
	}
	matched := matchProjects(projects, fullName, repo.GetCloneURL(), repo.GetSSHURL(), repo.GetHTMLURL())
	if len(matched) == 0 {
		return ignore(fmt.Sprintf("no project is configured for repository %s", fullName))
	}
	pr := e.GetPullRequest()
	n := e.GetNumber()
	if n == 0 {
		n = pr.GetNumber()
	}
	if n <= 0 || pr == nil {
		return ignore("pull_request names no pull request")
	}
	ref := gitref.Pull(n).String()
	name := fmt.Sprintf("pull request #%d", n)

	var enabled, disabled []int
	for _, i := range matched {
		if projects[i].PullRequests.Enabled {
			enabled = append(enabled, i)
		} else {
			disabled = append(disabled, i)
		}
	}
	if len(enabled) == 0 {
		return ignore(fmt.Sprintf("pull requests do not build (%s)", keys(disabled, "pull_requests.enabled")))
	}

	action := e.GetAction()
	if action == pullRequestClosed {
		d := ignore(name + " closed")
		for _, i := range enabled {
			d.Cancels = append(d.Cancels, Cancel{Project: projects[i].Name, Ref: ref})
		}
		return d
	}
	if !pullRequestBuilds[action] {
		return ignore(fmt.Sprintf("pull_request action %q does not build (opened, synchronize and reopened do)", action))
	}

	base := pr.GetBase().GetRef()
	fork := fromFork(repo, pr.GetHead().GetRepo())
	var building, noBranch, noFork []int
	for _, i := range enabled {
		p := &projects[i]
		switch {
		case !buildsBranch(p, base):
			noBranch = append(noBranch, i)
		case fork && !p.PullRequests.Forks:
			noFork = append(noFork, i)
		default:
			building = append(building, i)
		}
	}
	if len(building) == 0 {
		var reasons []string
		if len(noBranch) > 0 {
			reasons = append(reasons, fmt.Sprintf("%s targets branch %s, which is not configured to build (%s)", name, base, keys(noBranch, "branches")))
		}
		if len(noFork) > 0 {
			fork := "the fork " + pr.GetHead().GetRepo().GetFullName()
			if pr.GetHead().GetRepo().GetFullName() == "" {
				fork = "a deleted fork"
			}
			reasons = append(reasons, fmt.Sprintf("%s comes from %s; set %s: true to build it without secrets", name, fork, keys(noFork, "pull_requests.forks")))
		}
		return ignore(strings.Join(reasons, "; "))
	}

	head := strings.ToLower(pr.GetHead().GetSHA())
	if !isCommit(head) {
		return ignore(fmt.Sprintf("%s head commit %q is not 40 hex", name, pr.GetHead().GetSHA()))
	}
	d := Decision{Triggers: make([]Trigger, 0, len(building))}
	for _, i := range building {
		d.Triggers = append(d.Triggers, Trigger{
			Project:   projects[i].Name,
			Trigger:   store.TriggerPullRequest,
			Ref:       ref,
			Commit:    head,
			Message:   pr.GetTitle(),
			Pusher:    e.GetSender().GetLogin(),
			Untrusted: fork,
		})
	}
	return d
}

// fromFork reports whether a pull request's head repository is another
// than the base repository. A head repository GitHub no longer names (the
// fork was deleted) counts as a fork.
func fromFork(base, head *github.Repository) bool {
	if head == nil {
		return true
	}
	if base.GetID() != 0 && head.GetID() != 0 {
		return base.GetID() != head.GetID()
	}
	return !strings.EqualFold(base.GetFullName(), head.GetFullName()) || head.GetFullName() == ""
}

// keys lists the config keys projects[i].key of the indexes.
func keys(indexes []int, key string) string {
	ks := make([]string, len(indexes))
	for j, i := range indexes {
		ks[j] = fmt.Sprintf("projects[%d].%s", i, key)
	}
	return strings.Join(ks, ", ")
}

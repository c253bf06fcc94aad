// Package deploy rolls a pushed image out on Docker Swarm services: it
// connects to a swarm through the first manager endpoint that answers
// (Connect), finds the services a deploy binding names (Target.Services),
// updates each to the image pinned by digest and watches it until the swarm
// has converged on it or the update failed, rolling back on failure
// (Target.Rollout). In stack mode it deploys a whole stack from compose
// files as `docker stack deploy` does, with the new image substituted for
// the project's image (Target.DeployStack).
//
// Outcomes of a rollout are results (Result), not errors: a service that
// failed to converge and was rolled back is a Result with status
// "rolled_back". Errors are kept for what stops a deploy from being tried
// at all (no manager answers, a service that does not exist, a compose file
// that does not load).
//
// A Target is safe for concurrent use by several goroutines; each Rollout
// owns only its service.
package deploy

import (
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/deploy/probe"
	"github.com/slipwayci/slipway/internal/gitref"
)

// Statuses of a Result.
const (
	// StatusConverged: every task of the service runs the new spec and the
	// swarm reports the update completed.
	StatusConverged = "converged"
	// StatusFailed: the update failed or timed out and the service was not
	// rolled back (rollback off, impossible or itself failed).
	StatusFailed = "failed"
	// StatusRolledBack: the update failed and the service is back on its
	// previous spec, rolled back by slipway or by the service's own
	// `failure_action: rollback`. A failed deploy.
	StatusRolledBack = "rolled_back"
	// StatusUnchanged: the service already ran the image; nothing was done.
	StatusUnchanged = "unchanged"
)

// Defaults of RolloutOptions.
const (
	// DefaultTimeout is the wait for a service to converge (and, separately,
	// for its rollback) when RolloutOptions.Timeout is zero.
	DefaultTimeout = 5 * time.Minute
	// DefaultPoll is the interval the swarm is polled at while watching.
	DefaultPoll = 250 * time.Millisecond
)

// Image is a pushed image: its repository (with registry host, without tag
// or digest, e.g. docker.io/acme/web), one of its tags and its manifest
// digest ("sha256:<64 hex>").
type Image struct {
	Repo, Tag, Digest string
}

// Ref returns the reference services are pinned to, repo:tag@digest
// (repo@digest without a tag). The tag is only informative: the engine
// pulls by digest, so every node runs the same bytes.
func (i Image) Ref() string {
	ref := i.Repo
	if i.Tag != "" {
		ref += ":" + i.Tag
	}
	if i.Digest != "" {
		ref += "@" + i.Digest
	}
	return ref
}

// validate checks that the image can pin a service: a repository and a
// valid digest are required.
func (i Image) validate() error {
	if i.Repo == "" {
		return fmt.Errorf("image has no repository")
	}
	if _, err := digest.Parse(i.Digest); err != nil {
		return fmt.Errorf("image %s: digest %q: %w", i.Repo, i.Digest, err)
	}
	if _, err := reference.ParseNormalizedNamed(i.Ref()); err != nil {
		return fmt.Errorf("image reference %q: %w", i.Ref(), err)
	}
	return nil
}

// repoName returns the normalized repository of an image reference
// ("acme/web:1" → "docker.io/acme/web"), "" when ref does not parse. The
// engine stores docker.io references in their short form, so references
// are compared through it.
func repoName(ref string) string {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ""
	}
	return named.Name()
}

// digestOf returns the digest an image reference is pinned to, "" when it
// is not pinned.
func digestOf(ref string) string {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ""
	}
	if d, ok := named.(reference.Digested); ok {
		return d.Digest().String()
	}
	return ""
}

// sameImage reports whether two references name the same repository and
// digest (tags and spelling aside).
func sameImage(a, b string) bool {
	da := digestOf(a)
	return da != "" && da == digestOf(b) && repoName(a) == repoName(b)
}

// Matches reports whether a build deploys under a binding's `on` list. It
// is pure. trigger is the build's trigger ("push", "tag", "schedule",
// "manual", or "reconcile", which matches as "push"); refOrSchedule is the full git ref built ("refs/heads/main",
// "refs/tags/v1.2.3") or, for a schedule build, the schedule's name.
//
// Each entry is "kind:pattern" with pattern in path.Match syntax ("*" does
// not cross "/"):
//
//   - "branch:P" matches push builds of refs/heads/B with B matching P;
//   - "tag:P" matches tag builds of refs/tags/T with T matching P;
//   - "schedule:P" matches schedule builds of a schedule whose name matches P;
//   - "manual:P" matches manual builds whose branch or tag name matches P,
//     and "manual" alone any manual build;
//   - "base_image" alone matches the rebuilds on a new base image digest
//     (trigger base_image), which no other entry matches.
//
// A manual build also deploys as its ref would when pushed: a manual build
// of refs/heads/main matches "branch:main", one of refs/tags/v1.0.0 matches
// "tag:v*" (as for tags, "manual: as for the ref asked for"). A push or tag
// ref given without "refs/" is taken as the branch or tag name. A malformed
// pattern or an unknown kind matches nothing (config validation reports
// them).
func Matches(on []string, trigger, refOrSchedule string) bool {
	for _, entry := range on {
		if matchOne(entry, trigger, refOrSchedule) {
			return true
		}
	}
	return false
}

func matchOne(entry, trigger, ref string) bool {
	if entry == "base_image" {
		// A rebuild on a new base image digest deploys only where asked.
		return trigger == "base_image"
	}
	kind, pattern, hasPattern := strings.Cut(entry, ":")
	if !hasPattern {
		if kind != "manual" {
			return false
		}
		pattern = "*"
	}
	var name string
	switch {
	case kind == "schedule" && trigger == "schedule":
		name = ref
	case kind == "branch" && (trigger == "push" || trigger == "reconcile" || trigger == "manual"):
		b, ok := refName(ref, gitref.BranchName[string], trigger != "manual")
		if !ok {
			return false
		}
		name = b
	case kind == "tag" && (trigger == "tag" || trigger == "manual"):
		tg, ok := refName(ref, gitref.TagName[string], trigger == "tag")
		if !ok {
			return false
		}
		name = tg
	case kind == "manual" && trigger == "manual":
		if !hasPattern {
			return true
		}
		if b, ok := refName(ref, gitref.BranchName[string], true); ok {
			name = b
		} else if tg, ok := refName(ref, gitref.TagName[string], false); ok {
			name = tg
		} else {
			return false
		}
	default:
		return false
	}
	if name == "" {
		return false
	}
	ok, err := path.Match(pattern, name)
	return err == nil && ok
}

// refName strips prefix from ref; a ref without "refs/" is taken as the
// name itself when bare is true.
func refName(ref string, cut func(string) (string, bool), bare bool) (string, bool) {
	if name, ok := cut(ref); ok {
		return name, true
	}
	if bare && !strings.HasPrefix(ref, "refs/") {
		return ref, true
	}
	return "", false
}

// Result is the outcome of deploying one service, as recorded in the build
// result's "deploys".
type Result struct {
	// Service is the service's name.
	Service string
	// Previous is the image the service ran before the deploy ("" for a
	// service the deploy created, or when unknown).
	Previous string
	// OfImage is set when the service runs the deployed image (false for
	// the other services of a stack deployed from compose files).
	OfImage bool
	// Status is StatusConverged, StatusFailed, StatusRolledBack or
	// StatusUnchanged.
	Status string
	// Error says why a deploy failed or was rolled back; "" otherwise.
	Error string
	// Duration is the time from the start of the deploy (of the whole stack,
	// for DeployStack) to the service's outcome.
	Duration time.Duration
}

// Succeeded reports whether the service runs the new image: converged or
// unchanged.
func (r Result) Succeeded() bool {
	return r.Status == StatusConverged || r.Status == StatusUnchanged
}

// RolloutOptions configure Rollout (and each service of DeployStack). The
// zero value is usable: defaults are stated per field.
type RolloutOptions struct {
	// Timeout bounds the wait for the service to converge, counted from the
	// update. Default DefaultTimeout (5m).
	Timeout time.Duration
	// RollbackTimeout bounds the wait for a rollback to complete, whether
	// slipway or the swarm started it. Default: Timeout.
	RollbackTimeout time.Duration
	// Rollback rolls the service back to its previous spec when the update
	// fails or times out. The zero value is false; a binding's default
	// (true) is applied by BindingOptions.
	Rollback bool
	// RegistryAuth is the base64url X-Registry-Auth of the image's registry
	// (registry.EncodeAuthConfig), forwarded to the swarm agents as
	// `--with-registry-auth` does. Default "": the agents keep the
	// credentials the service already had. It never appears in a log, an
	// error or a Result.
	RegistryAuth string
	// StableFor is how long the new tasks must keep running after the
	// swarm converged (no exit, no restart, healthy when the image has a
	// HEALTHCHECK) before the deploy counts as converged; otherwise it
	// fails and is rolled back as a failed update is. StableForMonitor
	// means the service's update monitor period, at least MinStableFor.
	// The zero value is 0: nothing is watched beyond the swarm's monitor;
	// a binding's default (StableForMonitor) is applied by BindingOptions.
	StableFor time.Duration
	// Probe, when set, is an HTTP check run once the service converged
	// (before the StableFor watch); a failing probe fails the deploy,
	// which is rolled back as a failed update is. A service without an
	// attachable network is refused before it is touched. Default nil: no
	// probe.
	Probe *Probe
	// Poll is the interval the service and its tasks are polled at while
	// watching. Default DefaultPoll (250ms).
	Poll time.Duration
	// Log receives one line per change of a rollout's progress. Default:
	// nothing is written.
	Log io.Writer

	// engineFaults adds task errors that count as faults of the engine
	// (see engineFaults in rollout.go); for tests, which cannot make the
	// engine fail at will.
	engineFaults []string
}

// BindingOptions returns the RolloutOptions of a deploy binding with its
// defaults applied: deploy_timeout 5m (for the rollout and for a
// rollback), rollback true, stable_for the service's monitor period (at
// least MinStableFor), the binding's probe if any. RegistryAuth, Log and
// the probe's Executable are left for the caller.
func BindingOptions(b config.DeployBinding) RolloutOptions {
	stable := b.StableFor.D()
	if stable <= 0 {
		stable = StableForMonitor
	}
	o := RolloutOptions{
		Timeout:   b.Timeout.D(),
		Rollback:  b.Rollback == nil || *b.Rollback,
		StableFor: stable,
	}
	if p := b.Probe; p != nil {
		o.Probe = &Probe{Check: probe.Check{URL: p.URL, Status: p.Status, Timeout: p.Timeout.D()}}
	}
	return o
}

// withDefaults fills the zero fields of o.
func (o RolloutOptions) withDefaults() RolloutOptions {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.RollbackTimeout <= 0 {
		o.RollbackTimeout = o.Timeout
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return o
}

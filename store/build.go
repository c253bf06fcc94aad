package store

import "time"

// Status is a build's or a stage's status, as in the build result of
// DESIGN.md.
type Status string

// Build statuses, as in the build result of DESIGN.md.
const (
	StatusQueued     Status = "queued"
	StatusRunning           = "running"
	StatusSucceeded         = "succeeded"
	StatusFailed            = "failed"
	StatusCanceled          = "canceled"
	StatusSuperseded        = "superseded"
	// StatusSkipped marks a stage that did not run (--no-push, a failed
	// earlier stage).
	StatusSkipped Status = "skipped"
)

// Triggers of a build.
const (
	TriggerPush     = "push"
	TriggerTag      = "tag"
	TriggerSchedule = "schedule"
	TriggerManual   = "manual"
	// TriggerReconcile is a branch head found by reconcile (a push missed
	// while no replica was up); it builds as a push would.
	TriggerReconcile = "reconcile"
	// TriggerBaseImage rebuilds a branch's newest built commit because an
	// image it is built FROM got a new digest (base_images:, POST
	// /hooks/registry, or an upstream project's push); it pulls its bases
	// and pushes the branch's tags.
	TriggerBaseImage = "base_image"
	// TriggerPullRequest is a pull request's head (refs/pull/N/head),
	// opened, pushed to or reopened.
	TriggerPullRequest = "pull_request"
)

// Build is one build's record and the build result of DESIGN.md: its JSON
// form is what the API and `slipway build --json` print.
type Build struct {
	ID      int64  `json:"id"`
	Project string `json:"project"`
	Trigger string `json:"trigger"`
	// Ref is the full git ref, e.g. refs/heads/main or refs/tags/v1.2.3.
	Ref string `json:"ref"`
	// Commit is the 40-hex commit built ("" until resolved for a manual
	// build of a branch).
	Commit string `json:"commit"`
	// Schedule names the schedule of a schedule build.
	Schedule string `json:"schedule,omitempty"`
	// DueAt is the schedule's due time that dates a release's tags.
	DueAt      *time.Time `json:"due_at,omitempty"`
	Status     Status     `json:"status"`
	Image      string     `json:"image"`
	Digest     string     `json:"digest"`
	Tags       []string   `json:"tags"`
	Stages     []Stage    `json:"stages"`
	Deploys    []Deploy   `json:"deploys"`
	Error      string     `json:"error"`
	CreatedAt  time.Time  `json:"created_at"`
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	// Builder is the builder (config builders:, "local" without it) the
	// build ran on, BuilderReason why placement chose it (sticky, or the
	// least loaded one and why not the sticky one). "" until placed.
	Builder       string `json:"builder"`
	BuilderReason string `json:"builder_reason,omitempty"`
	// Platforms are the images of a multi-platform build, one per
	// platform, in the project's order; Digest is then their index's.
	Platforms []PlatformImage `json:"platforms,omitempty"`
	// StartedBy is who queued the build: an API token's name (config
	// APIToken), "dashboard:<token name>", "webhook", "schedule",
	// "reconcile", "cli"; "" for builds recorded before it was kept.
	StartedBy string `json:"started_by"`
	// CanceledBy is who asked to cancel the build, in StartedBy's terms;
	// "" when nobody did.
	CanceledBy string `json:"canceled_by"`
	// Reason says why the build ran, for people: "push", "manual",
	// "schedule weekly", or for a base image rebuild "base_image REF
	// sha256:old… → sha256:new…" (one such clause per changed base, joined
	// with "; "). "" for builds recorded before reasons existed.
	Reason string `json:"reason"`
	// Bases are the images the build's Dockerfile builds FROM (the stages
	// that reach the target), each with the digest the build used; none
	// until the build has read its Dockerfile.
	Bases []BaseImage `json:"bases,omitempty"`
	// Untrusted marks a pull request from a fork (projects[].pull_requests.
	// forks): built without secrets, ssh, secret build args or hooks.
	Untrusted bool `json:"untrusted,omitempty"`
	// Cache is how much of a BuildKit build came from a layer cache; nil
	// when unknown (classic builder, a re-tag, not built yet).
	Cache *CacheUse `json:"cache,omitempty"`
	// Attempts counts how often a worker started this build (restart
	// recovery runs a build at most once more).
	Attempts int `json:"attempts,omitempty"`
	// NoPush and NoDeploy carry the CLI flags into the pipeline.
	NoPush   bool `json:"-"`
	NoDeploy bool `json:"-"`
	// BuildKey is an opaque key the pipeline computes from what decides the
	// image besides the commit (dockerfile, target, build args): a
	// succeeded build of the same commit and key can be re-tagged instead
	// of rebuilt (Store.FindPushed).
	BuildKey string `json:"-"`
}

// CacheUse counts the Dockerfile steps of a BuildKit build (all platforms
// of a multi-platform build together).
type CacheUse struct {
	// CachedSteps were taken from a cache: the engine's own, or an image
	// of projects[].cache.from.
	CachedSteps int `json:"cached_steps"`
	// TotalSteps ran or were taken from a cache.
	TotalSteps int `json:"total_steps"`
}

// counts returns the cached and total steps; 0 and 0 for a nil c.
func (c *CacheUse) counts() (cached, total int) {
	if c == nil {
		return 0, 0
	}
	return c.CachedSteps, c.TotalSteps
}

// PlatformImage is the image of one platform of a multi-platform build.
type PlatformImage struct {
	// Platform is os/arch[/variant], as in projects[].platforms.
	Platform string `json:"platform"`
	// Digest is the image's manifest digest in the registry ("" until
	// pushed).
	Digest string `json:"digest"`
	// Builder is the builder that built and tested it.
	Builder string `json:"builder"`
}

// BaseImage is an image a build was built FROM.
type BaseImage struct {
	// Ref is the image reference as the Dockerfile names it once its
	// build args are substituted, in the docker CLI's short form
	// ("debian:bookworm", "127.0.0.1:5000/base:1").
	Ref string `json:"ref"`
	// Digest is the manifest (or index) digest the registry served for Ref
	// when the build ran, "sha256:<64 hex>"; "" when it could not be read.
	Digest string `json:"digest"`
	// Platform is the FROM's --platform when it gives one ("" = the
	// build's own platform).
	Platform string `json:"platform,omitempty"`
}

// Stage is one stage of a build.
type Stage struct {
	Name       string     `json:"name"`
	Status     Status     `json:"status"`
	StartedAt  *time.Time `json:"started_at"`
	DurationMS int64      `json:"duration_ms"`
	Error      string     `json:"error"`
}

// Deploy is the outcome of one service rollout.
type Deploy struct {
	Target  string `json:"target"`
	Service string `json:"service"`
	Status  string `json:"status"`
	Error   string `json:"error"`
}

// Finished reports whether status is final.
func Finished(status Status) bool {
	switch status {
	case StatusSucceeded, StatusFailed, StatusCanceled, StatusSuperseded:
		return true
	}
	return false
}

package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/slipwayci/slipway/builder"
	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/registry"
	"github.com/slipwayci/slipway/source"
	"github.com/slipwayci/slipway/store"
)

// event describes build b for the tag rules: its kind, ref, commit, the
// schedule's due time in the schedule's time zone, and for git tags every
// tag of the repository (so latest never moves backwards).
func (r *Runner) event(ctx context.Context, p *config.Project, b *store.Build, sched *config.Schedule) (registry.Event, error) {
	ev := registry.Event{Ref: b.Ref, Commit: b.Commit, DefaultBranch: p.DefaultBranch, Now: r.now().UTC()}
	switch {
	case b.Trigger == store.TriggerSchedule || sched != nil:
		if sched == nil {
			return ev, fmt.Errorf("build %d names schedule %q, which projects[%s].schedules no longer has", b.ID, b.Schedule, p.Name)
		}
		ev.Kind, ev.Schedule = registry.KindSchedule, sched.Name
		due := r.now()
		if b.DueAt != nil {
			due = *b.DueAt
		}
		ev.Due = due.In(ScheduleLocation(sched))
	case strings.HasPrefix(b.Ref, "refs/tags/"):
		ev.Kind = registry.KindTag
		tags, err := source.ListTags(ctx, p.Repo, gitAuth(r.cfg, p))
		if err != nil {
			return ev, fmt.Errorf("list the repository's tags (to keep latest on the highest release): %w", err)
		}
		ev.RepoTags = tags
	default:
		ev.Kind = registry.KindBranch
	}
	return ev, nil
}

// ScheduleLocation returns the time zone of a schedule: its timezone, UTC
// when unset or unknown (config validation rejects unknown zones).
func ScheduleLocation(s *config.Schedule) *time.Location {
	loc, err := s.Location()
	if err != nil {
		return time.UTC
	}
	return loc
}

// BuildKey identifies the inputs of an image besides the commit: the
// context, Dockerfile, target and build args (secret ones hashed in with
// their values, which the key never reveals). Two builds of one commit with
// the same key make the same image, so a release may re-tag the first.
func BuildKey(p *config.Project) string {
	h := sha256.New()
	fmt.Fprintf(h, "context=%s\ndockerfile=%s\ntarget=%s\n", p.Context, p.Dockerfile, p.Target)
	keys := make([]string, 0, len(p.BuildArgs))
	for k := range p.BuildArgs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(h, "arg %s=%s\n", k, p.BuildArgs[k])
	}
	keys = keys[:0]
	for k := range p.SecretBuildArgs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(h, "secret %s=%s\n", k, p.SecretBuildArgs[k].Value())
	}
	return hex.EncodeToString(h.Sum(nil))
}

// olderThanBuilt reports a newer commit pushed to b's branch when b's
// commit is its ancestor: a replayed or late push that must not move the
// branch's tags backwards. When the build of that newer commit was
// superseded (by b, which arrived late), the newer commit is queued again so
// the branch still ends on its newest commit.
func (r *Runner) olderThanBuilt(ctx context.Context, b *store.Build) (string, bool) {
	if r.history == nil || b.Trigger != store.TriggerPush || !strings.HasPrefix(b.Ref, "refs/heads/") {
		return "", false
	}
	recent, err := r.history.ListBuilds(ctx, store.Filter{Project: b.Project, Ref: b.Ref, Limit: 100})
	if err != nil {
		return "", false
	}
	var newer *store.Build
	for i := range recent {
		o := &recent[i]
		if o.ID == b.ID || o.Commit == "" || o.Commit == b.Commit || o.Trigger != store.TriggerPush {
			continue
		}
		if ok, err := r.sources.IsAncestor(ctx, b.Project, b.Commit, o.Commit); err == nil && ok {
			newer = o // recent is newest first: the newest descendant wins
			break
		}
	}
	if newer == nil {
		return "", false
	}
	alive := false
	for _, o := range recent {
		if o.Commit == newer.Commit && (o.Status == store.StatusQueued || o.Status == store.StatusRunning || o.Status == store.StatusSucceeded) {
			alive = true
		}
	}
	if !alive {
		again := store.Build{Project: b.Project, Trigger: store.TriggerPush, Ref: b.Ref, Commit: newer.Commit, Image: b.Image}
		if got, _, _, err := r.history.Enqueue(ctx, again, store.EnqueueOptions{Dedup: true}); err == nil {
			zerolog.Ctx(ctx).Info().Int64("requeued", got.ID).Str("newer", newer.Commit).Msg("late push of an older commit: the newer commit is queued again")
		}
	}
	return newer.Commit, true
}

// reusable finds an image already pushed for b's commit and inputs that is
// still in the registry.
func (r *Runner) reusable(ctx context.Context, p *config.Project, b *store.Build, log *Log) (store.Build, bool) {
	if r.history == nil {
		return store.Build{}, false
	}
	prev, err := r.history.FindPushed(ctx, p.Name, b.Commit, b.BuildKey)
	if err != nil || prev.Digest == "" {
		return store.Build{}, false
	}
	if _, err := r.pusher.Resolve(ctx, p.Image+"@"+prev.Digest); err != nil {
		log.Printf("build %d pushed %s@%s, but the registry no longer has it (%v): building again", prev.ID, p.Image, prev.Digest, err)
		return store.Build{}, false
	}
	return prev, true
}

// retention deletes the schedule's versioned tags beyond the newest
// retention.keep after a successful release. Its failures are logged: the
// release itself succeeded.
func (r *Runner) retention(ctx context.Context, p *config.Project, sched *config.Schedule, log *Log) {
	if sched == nil || sched.Retention.Keep <= 0 {
		return
	}
	versioned, err := registry.ScheduleVersioned(*sched, p.Tags)
	if err != nil {
		log.Printf("retention: %v", err)
		return
	}
	deleted, err := registry.Prune(ctx, p.Image, r.keys, versioned, sched.Retention.Keep, log)
	if err != nil {
		log.Printf("retention: %v", err)
		zerolog.Ctx(ctx).Warn().Err(err).Str("schedule", sched.Name).Msg("retention")
		return
	}
	if len(deleted) > 0 {
		log.Printf("retention: deleted %s (keep %d of schedule %s)", strings.Join(deleted, ", "), sched.Retention.Keep, sched.Name)
	}
}

// clean is the engine hygiene pass after a build: the project's dangling
// images go, and the build cache is pruned past engine_gc.max_build_cache.
func (r *Runner) clean(ctx context.Context, p *config.Project, log *Log) {
	if r.engine == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	rep, err := builder.Clean(ctx, r.engine, p.Name, int64(r.cfg.EngineGC.MaxBuildCache))
	if err != nil {
		log.Printf("engine hygiene: %v", err)
		return
	}
	if rep.ImagesDeleted > 0 || rep.BuildCacheBytes > 0 {
		log.Printf("engine hygiene: removed %d dangling images (%d bytes), %d bytes of build cache", rep.ImagesDeleted, rep.ImageBytes, rep.BuildCacheBytes)
	}
}

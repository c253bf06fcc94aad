package pipeline

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/slipwayci/slipway/builder"
	"github.com/slipwayci/slipway/internal/gitref"
	"github.com/slipwayci/slipway/registry"
	"github.com/slipwayci/slipway/source"
	"github.com/slipwayci/slipway/store"
)

// Stage names, as in the build result of DESIGN.md.
const (
	StageSource = "source"
	StageBuild  = "build"
	StageTest   = "test"
	StagePush   = "push"
	StageDeploy = "deploy"
)

// sourceStage checks out the build's commit and resolves its ref and
// commit; the checkout is removed when the build ends.
type sourceStage struct{}

func (sourceStage) Exec(ctx context.Context, r *run) error {
	b := r.b
	co, err := r.sources.Checkout(ctx, sourceRequest(r.cfg, r.p, b.Ref, b.Commit))
	if err != nil {
		return err
	}
	r.co = co
	r.onEnd(func() { co.Close() })
	resolved := b.Commit == ""
	b.Commit, b.Ref = co.Commit, co.Ref
	how := "fetched"
	if co.Cloned {
		how = "cloned"
	}
	r.log.Printf("%s %s at %s: %s", how, co.Ref, co.Commit, firstLine(co.Message))
	if resolved {
		// Every log line of a build carries its commit from here on.
		zerolog.Ctx(ctx).UpdateContext(func(c zerolog.Context) zerolog.Context { return c.Str("commit", b.Commit) })
	}
	return nil
}

// lateStage ends a push build whose commit is older than one already pushed
// to its branch (a replayed or late delivery): building it would move the
// branch's tags backwards.
type lateStage struct{}

func (lateStage) Exec(ctx context.Context, r *run) error {
	if newer, ok := r.olderThanBuilt(ctx); ok {
		b := r.b
		return fmt.Errorf("%w: %s is an ancestor of %s, pushed to %s after it", ErrOlderCommit, b.Commit, newer, b.Ref)
	}
	return nil
}

// olderThanBuilt reports a newer commit pushed to the build's branch when
// the build's commit is its ancestor. When the build of that newer commit
// was superseded (by this one, which arrived late), the newer commit is
// queued again so the branch still ends on its newest commit.
func (r *run) olderThanBuilt(ctx context.Context) (string, bool) {
	b := r.b
	if r.history == nil || !pushLike(b.Trigger) || !gitref.IsBranch(b.Ref) {
		return "", false
	}
	recent, err := r.history.ListBuilds(ctx, store.Filter{Project: b.Project, Ref: b.Ref, Limit: 100})
	if err != nil {
		return "", false
	}
	var candidates []*store.Build
	var commits []string
	for i := range recent {
		o := &recent[i]
		if o.ID == b.ID || o.Commit == "" || o.Commit == b.Commit || !pushLike(o.Trigger) {
			continue
		}
		candidates = append(candidates, o)
		commits = append(commits, o.Commit)
	}
	// recent is newest first: the newest descendant wins. One walk of the
	// history answers for all of them.
	commit, ok, err := r.sources.NewestDescendant(ctx, b.Project, b.Commit, commits)
	if err != nil || !ok {
		return "", false
	}
	var newer *store.Build
	for _, o := range candidates {
		if o.Commit == commit {
			newer = o
			break
		}
	}
	for _, o := range recent {
		if o.Commit == newer.Commit && (o.Status == store.StatusQueued || o.Status == store.StatusRunning || o.Status == store.StatusSucceeded) {
			return newer.Commit, true
		}
	}
	r.requeue(ctx, newer.Commit)
	return newer.Commit, true
}

// pushLike reports whether trigger builds a branch head as a push does
// (push, or reconcile: a push seen late).
func pushLike(trigger string) bool {
	return trigger == store.TriggerPush || trigger == store.TriggerReconcile
}

// requeue queues commit of the build's branch again, through the queue
// like any other build; it supersedes nothing.
func (r *run) requeue(ctx context.Context, commit string) {
	if r.queue == nil {
		return
	}
	again := Trigger{Kind: store.TriggerPush, Project: r.b.Project, Ref: gitref.Parse(r.b.Ref), Commit: commit, Late: true}
	if got, err := r.queue.Enqueue(ctx, Request{Triggers: []Trigger{again}, StartedBy: r.b.StartedBy}); err == nil {
		zerolog.Ctx(ctx).Info().Int64("requeued", got.First().ID).Str("newer", commit).Msg("late push of an older commit: the newer commit is queued again")
	}
}

// planStage plans the build (Plan) now that its commit is known: its tags,
// context, Dockerfile and build args.
type planStage struct{}

func (planStage) Exec(ctx context.Context, r *run) error {
	t := triggerOf(*r.b)
	if err := withRepoTags(ctx, r.cfg, r.p, &t); err != nil {
		return err
	}
	plan, err := Plan(r.cfg, t, r.now())
	if err != nil {
		return err
	}
	if len(plan.Tags) == 0 {
		return fmt.Errorf("no tags for %s: the project's tags: rules that apply render nothing (check projects[].tags)", plan.Event)
	}
	r.plan = plan
	r.args, r.secrets = projectArgs(r.p)
	r.buildKey, r.canReuse = plan.BuildKey, !plan.NoCache
	logPlan(plan, r.log)
	return r.prepareBuildKit()
}

// reuseStage finds an image pushed for the same commit and inputs, for a
// release or a git tag: the build then re-tags it instead of building.
type reuseStage struct{}

func (reuseStage) Exec(ctx context.Context, r *run) error {
	r.b.BuildKey = r.buildKey
	kind := r.plan.Event.Kind
	if !r.canReuse || r.plan.Rebuild || r.b.NoPush || r.history == nil || kind != registry.KindSchedule && kind != registry.KindTag {
		return nil
	}
	prev, err := r.history.FindPushed(ctx, r.p.Name, r.b.Commit, r.b.BuildKey)
	if err != nil || prev.Digest == "" {
		return nil
	}
	if _, err := r.pusher.Resolve(ctx, r.p.Image+"@"+prev.Digest); err != nil {
		r.log.Printf("build %d pushed %s@%s, but the registry no longer has it (%v): building again", prev.ID, r.p.Image, prev.Digest, err)
		return nil
	}
	r.prev = &prev
	return nil
}

// retagStage adds the build's tags to the image of the reused build.
type retagStage struct{}

func (retagStage) skip(r *run) bool { return !r.reused() }

func (retagStage) Exec(ctx context.Context, r *run) error {
	p, prev := r.p, r.prev
	r.log.Printf("%s@%s was built from the same commit and inputs by build %d: adding tags without a rebuild", p.Image, prev.Digest, prev.ID)
	if err := r.pusher.Retag(ctx, p.Image, prev.Digest, r.plan.Tags, r.log); err != nil {
		r.notePushed(err)
		return err
	}
	r.b.Digest, r.b.Tags = prev.Digest, r.plan.TagNames()
	return nil
}

// hygieneStage has the engine cleaned after a build: the project's
// dangling images go, and the build cache is pruned past
// engine_gc.max_build_cache. The cleaning starts as soon as the build stage
// has built and tagged the new image, beside the test and the push (it
// removes only untagged images, and they use the tagged new one), or when
// the stages end if they end before that; the build ends after it either
// way.
type hygieneStage struct{}

func (hygieneStage) skip(r *run) bool { return r.reused() || r.engine == nil }

func (hygieneStage) Exec(ctx context.Context, r *run) error {
	h := &hygiene{done: make(chan struct{})}
	r.hygiene = h
	r.onEnd(func() {
		h.start(func() { r.clean(ctx) })
		<-h.done
	})
	return nil
}

// hygiene is the engine cleaning of one build, run once in a goroutine the
// build awaits when its stages end.
type hygiene struct {
	once sync.Once
	done chan struct{}
}

// start runs clean in a goroutine unless it was started already.
func (h *hygiene) start(clean func()) {
	h.once.Do(func() {
		go func() {
			defer close(h.done)
			clean()
		}()
	})
}

// cleanEarly starts the build's engine hygiene now, when it has one.
func (r *run) cleanEarly(ctx context.Context) {
	if r.hygiene != nil {
		r.hygiene.start(func() { r.clean(ctx) })
	}
}

func (r *run) clean(ctx context.Context) { r.cleanOn(ctx, r.engine) }

// cleanOn cleans engine after the build.
func (r *run) cleanOn(ctx context.Context, engine builder.GCClient) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	rep, err := builder.Clean(ctx, engine, r.p.Name, int64(r.cfg.EngineGC.MaxBuildCache))
	if err != nil {
		r.log.Printf("engine hygiene: %v", err)
		return
	}
	if rep.ImagesDeleted > 0 || rep.BuildCacheBytes > 0 {
		r.log.Printf("engine hygiene: removed %d dangling images (%d bytes), %d bytes of build cache", rep.ImagesDeleted, rep.ImageBytes, rep.BuildCacheBytes)
	}
}

// buildStage builds the image with the engine, from the context and
// Dockerfile of the plan.
type buildStage struct{}

func (buildStage) skip(r *run) bool { return r.reused() }

func (buildStage) Exec(ctx context.Context, r *run) error {
	img, err := r.buildOn(ctx, r.builder, "", r.log)
	if err != nil {
		return err
	}
	r.built(img)
	r.cleanEarly(ctx)
	return nil
}

// buildOn builds the plan's image with b for platform ("" for the
// engine's own), logging to log.
func (r *run) buildOn(ctx context.Context, b *builder.Builder, platform string, log io.Writer) (builder.Image, error) {
	tarball, dockerfile, err := source.Context(ctx, r.co.Dir, r.plan.Context, r.plan.Dockerfile)
	if err != nil {
		return builder.Image{}, err
	}
	defer tarball.Close()
	args, err := r.withSourceDateEpoch()
	if err != nil {
		return builder.Image{}, err
	}
	opts := builder.BuildOptions{
		Context:    tarball,
		Dockerfile: dockerfile,
		Target:     r.p.Target,
		BuildArgs:  args,
		SecretArgs: r.secrets,
		Labels:     r.labels(),
		Tags:       r.plan.Refs(),
		NoCache:    r.plan.Rebuild || r.plan.NoCache,
		Pull:       r.plan.Rebuild || r.pullBases(ctx, b),
		Platform:   platform,
	}
	r.buildKitOptions(&opts)
	return b.Build(ctx, opts, log)
}

// built records the image the build stage made.
func (r *run) built(img builder.Image) {
	r.img = img
	r.log.Printf("built image %s%s", img.ID, r.noteCache(img))
}

// testStage runs the project's test command in the built image.
type testStage struct{}

func (testStage) skip(r *run) bool { return r.reused() || !projectTest(r) }

// projectTest reports whether the project has a test command.
func projectTest(r *run) bool {
	return r.p.Test != nil && (len(r.p.Test.Command) > 0 || len(r.p.Test.Entrypoint) > 0)
}

func (testStage) Exec(ctx context.Context, r *run) error {
	if !projectTest(r) {
		return nil
	}
	return r.builder.Test(ctx, r.testOptions(r.img.ID, ""), r.log)
}

// testOptions are the project's test of image for platform ("" for the
// engine's own).
func (r *run) testOptions(image, platform string) builder.TestOptions {
	return builder.TestOptions{
		Image:      image,
		Command:    r.p.Test.Command,
		Entrypoint: r.p.Test.Entrypoint,
		Timeout:    r.p.Test.Timeout.D(),
		Platform:   platform,
	}
}

// noPushStage ends a build started with --no-push after its test.
type noPushStage struct{}

func (noPushStage) skip(r *run) bool { return r.reused() || !r.b.NoPush }

func (noPushStage) Exec(_ context.Context, r *run) error {
	r.noPushNote()
	return errDone
}

// noPushNote logs that the build ends without a push.
func (r *run) noPushNote() {
	why := "--no-push"
	if _, pull := gitref.PullNumber(r.b.Ref); pull && !r.p.PullRequests.Push {
		why = "a pull request: pull_requests.push is off"
	}
	r.log.Printf("not pushing (%s); tagged locally as %s", why, strings.Join(r.plan.Refs(), ", "))
}

// pushStage pushes the built image under the build's tags.
type pushStage struct{}

func (pushStage) skip(r *run) bool { return r.reused() }

func (pushStage) Exec(ctx context.Context, r *run) error {
	digest, err := r.pusher.Push(ctx, r.img.ID, r.p.Image, r.plan.Tags, r.log)
	if err != nil {
		r.notePushed(err)
		return err
	}
	r.pushed(digest)
	return nil
}

// pushed records the digest the push stage pushed; the build result lists
// its tags from now on (b.Tags lists only what the registry holds).
func (r *run) pushed(digest string) {
	r.b.Digest, r.b.Tags = digest, r.plan.TagNames()
	r.log.Printf("pushed %s@%s as %s", r.p.Image, digest, strings.Join(r.b.Tags, ", "))
}

// notePushed records the tags a failed push or re-tag pushed and checked
// before it failed (none when it failed at the first), so that the result
// never lists a tag the registry does not hold.
func (r *run) notePushed(err error) {
	pushed, digest := registry.PushedTags(err)
	if len(pushed) > 0 {
		r.b.Digest, r.b.Tags = digest, displayOrder(pushed)
	}
}

// retentionStage deletes the schedule's versioned tags beyond the newest
// retention.keep after a successful release. Its failures are logged: the
// release itself succeeded.
type retentionStage struct{}

func (retentionStage) skip(r *run) bool {
	s := r.plan.Schedule
	return s == nil || s.Retention.Keep <= 0
}

func (retentionStage) Exec(ctx context.Context, r *run) error {
	sched, p, log := r.plan.Schedule, r.p, r.log
	versioned, err := registry.ScheduleVersioned(*sched, p.Tags)
	if err != nil {
		log.Printf("retention: %v", err)
		return nil
	}
	deleted, err := registry.Prune(ctx, p.Image, r.keys, versioned, sched.Retention.Keep, log)
	if err != nil {
		log.Printf("retention: %v", err)
		zerolog.Ctx(ctx).Warn().Err(err).Str("schedule", sched.Name).Msg("retention")
		return nil
	}
	if len(deleted) > 0 {
		log.Printf("retention: deleted %s (keep %d of schedule %s)", strings.Join(deleted, ", "), sched.Retention.Keep, sched.Name)
	}
	return nil
}

package pipeline

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/deploy"
	"github.com/slipwayci/slipway/registry"
	"github.com/slipwayci/slipway/store"
)

// Deploy statuses of the build result.
const (
	DeployConverged  = "converged"
	DeployFailed     = "failed"
	DeployRolledBack = "rolled_back"
)

// deployBindings returns the project's deploy bindings that b's trigger
// selects ("branch:main", "tag:v*", "schedule:weekly", "manual:*").
func deployBindings(p *config.Project, b *store.Build) []config.DeployBinding {
	trigger, ref := b.Trigger, b.Ref
	if b.Schedule != "" {
		trigger, ref = store.TriggerSchedule, b.Schedule
	}
	var out []config.DeployBinding
	for _, bind := range p.Deploy {
		if deploy.Matches(bind.On, trigger, ref) {
			out = append(out, bind)
		}
	}
	return out
}

// deployStage rolls the pushed image out to every binding the build's
// trigger selects and records each service's outcome in the build's
// Deploys. The image stays pushed whatever happens here; a failed or rolled
// back service fails the stage.
type deployStage struct{}

func (deployStage) skip(r *run) bool { return r.b.NoDeploy || len(deployBindings(r.p, r.b)) == 0 }

func (deployStage) Exec(ctx context.Context, r *run) error {
	return r.deploy(ctx, deployBindings(r.p, r.b), immutableTag(r.plan.Tags))
}

// deploy rolls the build's digest, pinned next to tag, out to bindings.
func (r *run) deploy(ctx context.Context, bindings []config.DeployBinding, tag string) error {
	p, b := r.p, r.b
	img := deploy.Image{Repo: p.Image, Tag: tag, Digest: b.Digest}
	auth := r.registryAuth()
	var failed []string
	for _, bind := range bindings {
		for _, res := range r.deployBinding(ctx, bind, img, auth) {
			b.Deploys = append(b.Deploys, res)
			if res.Status != DeployConverged {
				failed = append(failed, fmt.Sprintf("%s/%s %s: %s", res.Target, res.Service, res.Status, res.Error))
			}
		}
		r.record(ctx, *b)
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d services did not converge (the image %s@%s is pushed): %s",
			len(failed), len(b.Deploys), p.Image, b.Digest, strings.Join(failed, "; "))
	}
	return nil
}

// registryAuth is the encoded registry credentials of the image, for the
// swarm agents; "" when there are none.
func (r *run) registryAuth() string {
	ref, err := name.NewRepository(r.p.Image)
	if err != nil {
		return ""
	}
	auth, err := r.keys.RegistryAuth(ref.RegistryStr())
	if err != nil {
		r.log.Printf("deploy: registry credentials of %s: %v (the agents keep the credentials they have)", ref.RegistryStr(), err)
	}
	return auth
}

// deployBinding deploys one binding and returns one record per service; a
// target that cannot be reached or a stack that cannot be deployed is one
// failed record.
func (r *run) deployBinding(ctx context.Context, bind config.DeployBinding, img deploy.Image, auth string) []store.Deploy {
	fail := func(service string, err error) []store.Deploy {
		return []store.Deploy{{Target: bind.Target, Service: service, Status: DeployFailed, Error: err.Error()}}
	}
	what := bind.Stack
	if what == "" {
		what = strings.Join(bind.Services, ",")
	}
	target, ok := r.cfg.DeployTargets[bind.Target]
	if !ok {
		return fail(what, fmt.Errorf("deploy target %q is not in deploy_targets", bind.Target))
	}
	t, err := deploy.Connect(ctx, bind.Target, target)
	if err != nil {
		return fail(what, err)
	}
	defer t.Close()
	r.log.Printf("deploy: %s through %s", bind.Target, t.Host())
	opts := deploy.BindingOptions(bind)
	opts.RegistryAuth, opts.Log = auth, r.log
	if opts.Probe != nil {
		opts.Probe.Executable = r.cfg.ProbeExecutable
	}
	results, err := r.rollout(ctx, t, bind, img, opts)
	if err != nil {
		return fail(what, err)
	}
	out := make([]store.Deploy, 0, len(results))
	for _, res := range results {
		d := store.Deploy{Target: bind.Target, Service: res.Service, Status: deployStatus(res)}
		d.Error = res.Error
		r.log.Printf("deploy: %s/%s %s in %s %s", bind.Target, res.Service, res.Status, res.Duration.Round(1e6), res.Error)
		out = append(out, d)
		if !res.OfImage {
			continue // another service of the stack: not a deployment of the image
		}
		r.recordDeployment(ctx, store.Deployment{Project: r.p.Name, Target: bind.Target, Stack: bind.Stack, Service: res.Service,
			Image: img.Repo, PreviousDigest: deploy.DigestOf(res.Previous), Digest: img.Digest, Build: r.b.ID, Commit: r.b.Commit,
			Kind: r.deployKind, Status: d.Status, Error: res.Error})
	}
	return out
}

// deployStatus is a service's status in the build result: unchanged
// counts as converged (already running the digest: nothing restarted, and
// the service is where the build wants it).
func deployStatus(res deploy.Result) string {
	if res.Status == deploy.StatusUnchanged {
		return DeployConverged
	}
	return res.Status
}

// recordDeployment keeps d in the deployment history; a failure to record
// is logged, never fails the deploy.
func (r *run) recordDeployment(ctx context.Context, d store.Deployment) {
	if _, err := r.history.RecordDeployment(context.WithoutCancel(ctx), d); err != nil {
		r.log.Printf("deploy: %v", err)
	}
}

// rollout deploys the binding's stack from its compose files, or updates
// its services.
func (r *run) rollout(ctx context.Context, t *deploy.Target, bind config.DeployBinding, img deploy.Image, opts deploy.RolloutOptions) ([]deploy.Result, error) {
	if len(bind.ComposeFiles) > 0 {
		workDir := ""
		if r.co != nil {
			workDir = r.co.Dir
		}
		return t.DeployStack(ctx, bind.Stack, bind.ComposeFiles, workDir, img, deploy.StackOptions{Rollout: opts, Prune: bind.Prune})
	}
	services, err := t.Services(ctx, bind.Stack, bind.Services, r.p.Image)
	if err != nil {
		return nil, err
	}
	var results []deploy.Result
	for _, s := range services {
		results = append(results, t.Rollout(ctx, s, img, opts))
	}
	return results, nil
}

// immutableTag picks the tag a deploy pins next to the digest: the first
// immutable one (main-1a2b3c4, 2026-W47, 1.2.3), else the first.
func immutableTag(tags []registry.Tag) string {
	for _, t := range tags {
		if !t.Moving {
			return t.Name
		}
	}
	if len(tags) > 0 {
		return tags[0].Name
	}
	return ""
}

// Redeploy rolls an image already in the registry (p.Image:tag) out again,
// to every deploy binding of the project, or only those of target: the
// manual rollback of `slipway deploy`. Stack-mode compose files are read
// from a checkout of the project's default branch. b is recorded like a
// build with a single deploy stage.
func (r *Runner) Redeploy(ctx context.Context, b *store.Build, tag, target string, log *Log, record Recorder) error {
	if record == nil {
		record = func(context.Context, store.Build) {}
	}
	rn := r.newRun(b, log, record)
	started := r.now().UTC()
	b.Status, b.StartedAt, b.Tags = store.StatusRunning, &started, []string{tag}
	record(ctx, *b)
	err := rn.redeploy(ctx, tag, target)
	finished := r.now().UTC()
	b.FinishedAt = &finished
	b.Status = store.StatusSucceeded
	if err != nil {
		b.Status, b.Error = store.StatusFailed, err.Error()
	}
	record(context.WithoutCancel(ctx), *b)
	return err
}

// redeploy resolves tag and deploys its digest as a deploy stage.
func (r *run) redeploy(ctx context.Context, tag, target string) error {
	p, err := r.cfg.Project(r.b.Project)
	if err != nil {
		return err
	}
	r.p, r.b.Image = p, p.Image
	defer r.end()
	var bindings []config.DeployBinding
	compose := false
	for _, bind := range p.Deploy {
		if target == "" || bind.Target == target {
			bindings = append(bindings, bind)
			compose = compose || len(bind.ComposeFiles) > 0
		}
	}
	if len(bindings) == 0 {
		return fmt.Errorf("project %s has no deploy binding for target %q (projects[].deploy)", p.Name, target)
	}
	digest, err := r.pusher.Resolve(ctx, p.Image+":"+tag)
	if err != nil {
		return fmt.Errorf("resolve %s:%s in the registry: %w", p.Image, tag, err)
	}
	r.b.Digest = digest
	r.deployKind = store.DeploymentManual
	r.log.Printf("redeploying %s:%s@%s", p.Image, tag, digest)
	if compose {
		co, err := r.sources.Checkout(ctx, sourceRequest(r.cfg, p, p.DefaultBranch, ""))
		if err != nil {
			return fmt.Errorf("check out %s for its compose files: %w", p.DefaultBranch, err)
		}
		r.co, r.b.Commit = co, co.Commit
		r.onEnd(func() { co.Close() })
	}
	return r.stage(ctx, StageDeploy, func(ctx context.Context, r *run) error { return r.deploy(ctx, bindings, tag) })
}

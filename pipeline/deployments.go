package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/deploy"
	"github.com/slipwayci/slipway/store"
)

// historyLength is how many deployments of each service Deployments shows.
const historyLength = 20

// ServiceState is what runs on one service of a deploy binding, read from
// the swarm, with the service's deployment history.
type ServiceState struct {
	Project string `json:"project"`
	Target  string `json:"target"`
	Stack   string `json:"stack"`
	Service string `json:"service"`
	// Image is the service's image as its spec says now; Digest its
	// digest ("" when not pinned).
	Image  string `json:"image"`
	Digest string `json:"digest"`
	// Build, Commit and Since are those of the slipway deployment that
	// put Digest there (0, "" and the service's last change when none).
	Build  int64     `json:"build"`
	Commit string    `json:"commit"`
	Since  time.Time `json:"since"`
	// ChangedOutside is set when the service does not run what slipway
	// last left there (someone ran `docker service update` by hand).
	ChangedOutside bool `json:"changed_outside"`
	// Note says so in words, or why the swarm could not be read.
	Note    string             `json:"note,omitempty"`
	History []store.Deployment `json:"history"`
}

// targetReadTimeout bounds Deployments' read of one deploy target
// (connect when not connected, list the bindings' services, inspect each):
// a target that does not answer in time shows as unreachable instead of
// holding the answer.
const targetReadTimeout = 5 * time.Second

// Deployments reads, for each service of every deploy binding, what runs
// on it now (from the swarm) and its deployment history (from the store).
// The targets are read at once, each through its kept connection
// (deploy.Targets) and within 5s; a target or service that cannot be read
// is a ServiceState with a Note (an unreachable target's says what to
// check). Only a store failure is an error.
func (s *Service) Deployments(ctx context.Context) ([]ServiceState, error) {
	var reads []*bindingRead
	byTarget := map[string][]*bindingRead{}
	for i := range s.Config.Projects {
		p := &s.Config.Projects[i]
		for _, bind := range p.Deploy {
			r := &bindingRead{project: p, bind: bind}
			reads = append(reads, r)
			byTarget[bind.Target] = append(byTarget[bind.Target], r)
		}
	}
	var wg sync.WaitGroup
	for name, rs := range byTarget {
		wg.Go(func() { s.readTarget(ctx, name, rs) })
	}
	wg.Wait()

	var out []ServiceState
	seen := map[string]bool{}
	for _, r := range reads {
		p, bind := r.project, r.bind
		if r.err != nil {
			out = append(out, ServiceState{Project: p.Name, Target: bind.Target, Stack: bind.Stack, Note: r.err.Error(), History: []store.Deployment{}})
			continue
		}
		for _, svc := range r.services {
			if key := bind.Target + "\n" + svc; !seen[key] {
				seen[key] = true
				st, err := s.serviceState(ctx, p, bind, svc, r.running[svc])
				if err != nil {
					return nil, err
				}
				out = append(out, st)
			}
		}
	}
	return out, nil
}

// bindingRead is what Deployments read of one deploy binding on its
// target: the services it names and what each runs, or why they could
// not be read.
type bindingRead struct {
	project  *config.Project
	bind     config.DeployBinding
	err      error
	services []string
	running  map[string]running
}

// running is what a service's spec runs (deploy.Target.Running).
type running struct {
	image string
	since time.Time
	err   error
}

// readTarget reads the services of the bindings rs of one deploy target,
// within targetReadTimeout, through the target's kept connection.
func (s *Service) readTarget(ctx context.Context, name string, rs []*bindingRead) {
	ctx, cancel := context.WithTimeoutCause(ctx, targetReadTimeout, fmt.Errorf("no answer within %s", targetReadTimeout))
	defer cancel()
	t, err := s.targets.Get(ctx, name)
	if err != nil {
		for _, r := range rs {
			r.err = err
		}
		return
	}
	// unreachable says so when err is the target's, not the engine's answer.
	unreachable := func(err error) error {
		s.targets.Failed(t, err)
		switch {
		case ctx.Err() != nil:
			return &deploy.UnreachableError{Target: name, Err: context.Cause(ctx)}
		case deploy.LostConnection(err):
			return &deploy.UnreachableError{Target: name, Err: err}
		}
		return err
	}
	read := map[string]running{}
	for _, r := range rs {
		r.services, r.err = t.Services(ctx, r.bind.Stack, r.bind.Services, r.project.Image)
		if r.err != nil {
			r.err = unreachable(r.err)
			continue
		}
		r.running = map[string]running{}
		for _, svc := range r.services {
			run, ok := read[svc]
			if !ok {
				run.image, run.since, run.err = t.Running(ctx, svc)
				if run.err != nil {
					run.err = unreachable(run.err)
				}
				read[svc] = run
			}
			r.running[svc] = run
		}
	}
}

// target connects to a deploy target once per call of Rollback.
func (s *Service) target(ctx context.Context, targets map[string]*deploy.Target, name string) (*deploy.Target, error) {
	if t, ok := targets[name]; ok {
		return t, nil
	}
	cfg, ok := s.Config.DeployTargets[name]
	if !ok {
		return nil, fmt.Errorf("deploy target %q is not in deploy_targets", name)
	}
	t, err := deploy.Connect(ctx, name, cfg)
	if err != nil {
		return nil, err
	}
	targets[name] = t
	return t, nil
}

// serviceState is one service's state from what runs on it and its
// history, read from the store; only a store failure is an error.
func (s *Service) serviceState(ctx context.Context, p *config.Project, bind config.DeployBinding, service string, run running) (ServiceState, error) {
	st := ServiceState{Project: p.Name, Target: bind.Target, Stack: bind.Stack, Service: service}
	history, err := s.store.Deployments(ctx, bind.Target, service, historyLength)
	if err != nil {
		return st, err
	}
	st.History = history
	if run.err != nil {
		st.Note = run.err.Error()
		return st, nil
	}
	st.Image, st.Digest, st.Since = run.image, deploy.DigestOf(run.image), run.since
	if len(history) == 0 {
		st.Note = "not deployed by slipway yet"
		return st, nil
	}
	if i := slices.IndexFunc(history, func(d store.Deployment) bool {
		return d.Status == DeployConverged && d.Digest == st.Digest && st.Digest != ""
	}); i >= 0 {
		st.Build, st.Commit, st.Since = history[i].Build, history[i].Commit, history[i].At
	}
	if left := leftBehind(history[0]); left != "" && left != st.Digest {
		st.ChangedOutside = true
		st.Note = fmt.Sprintf("changed outside slipway: runs %s, slipway's last deployment (%d) left %s", orUnpinned(st.Digest), history[0].ID, left)
	}
	return st, nil
}

// leftBehind is the digest a deployment left the service on: the new one
// when it converged, the previous one when it was rolled back, "" when
// unknown (failed without a rollback).
func leftBehind(d store.Deployment) string {
	switch d.Status {
	case DeployConverged:
		return d.Digest
	case DeployRolledBack:
		return d.PreviousDigest
	}
	return ""
}

func orUnpinned(digest string) string {
	if digest == "" {
		return "an image not pinned to a digest"
	}
	return digest
}

// Rollback errors, for the API's status codes.
var (
	// ErrNoSuchDeployment: no deploy binding of the build's project names
	// the target and service.
	ErrNoSuchDeployment = errors.New("no deploy binding")
	// ErrNotDeployable: the build pushed no image.
	ErrNotDeployable = errors.New("the build has no pushed image")
)

// RollbackResult is the outcome of Rollback: the deployment recorded and
// the deploy's log.
type RollbackResult struct {
	Deployment store.Deployment `json:"deployment"`
	Log        string           `json:"log"`
	// Error says why the service did not converge ("" when it did).
	Error string `json:"error,omitempty"`
}

// Rollback redeploys build's digest to service of target with the watch of
// the binding that names them (deploy_timeout, rollback, stable_for,
// probe) and records it as a manual deployment. It returns when the
// service converged or failed; the outcome is in the result's Deployment
// (an error is only for what stopped the deploy from being tried).
func (s *Service) Rollback(ctx context.Context, target, service string, build int64) (RollbackResult, error) {
	b, err := s.store.GetBuild(ctx, build)
	if err != nil {
		return RollbackResult{}, fmt.Errorf("build %d: %w", build, err)
	}
	if b.Digest == "" || b.Image == "" {
		return RollbackResult{}, fmt.Errorf("%w: build %d (%s) pushed no image to deploy", ErrNotDeployable, b.ID, b.Status)
	}
	p, err := s.Config.Project(b.Project)
	if err != nil {
		return RollbackResult{}, err
	}
	targets := map[string]*deploy.Target{}
	defer func() {
		for _, t := range targets {
			t.Close()
		}
	}()
	for _, bind := range p.Deploy {
		if bind.Target != target {
			continue
		}
		t, err := s.target(ctx, targets, target)
		if err != nil {
			return RollbackResult{}, err
		}
		services, err := t.Services(ctx, bind.Stack, bind.Services, p.Image)
		if err != nil {
			return RollbackResult{}, err
		}
		if slices.Contains(services, service) {
			return s.rollback(ctx, t, p, bind, service, b), nil
		}
	}
	return RollbackResult{}, fmt.Errorf("%w of project %s deploys to service %q of target %q", ErrNoSuchDeployment, p.Name, service, target)
}

func (s *Service) rollback(ctx context.Context, t *deploy.Target, p *config.Project, bind config.DeployBinding, service string, b store.Build) RollbackResult {
	var log bytes.Buffer
	opts := deploy.BindingOptions(bind)
	opts.Log = &log
	if opts.Probe != nil {
		opts.Probe.Executable = s.Config.ProbeExecutable
	}
	if ref, err := name.NewRepository(b.Image); err == nil {
		if auth, err := s.runner.keys.RegistryAuth(ref.RegistryStr()); err == nil {
			opts.RegistryAuth = auth
		}
	}
	tag := ""
	if len(b.Tags) > 0 {
		tag = b.Tags[0]
	}
	fmt.Fprintf(&log, "rolling %s back to build %d (%s@%s)\n", service, b.ID, b.Image, b.Digest)
	res := t.Rollout(ctx, service, deploy.Image{Repo: b.Image, Tag: tag, Digest: b.Digest}, opts)
	d := store.Deployment{Project: p.Name, Target: bind.Target, Stack: bind.Stack, Service: res.Service, Image: b.Image,
		PreviousDigest: deploy.DigestOf(res.Previous), Digest: b.Digest, Build: b.ID, Commit: b.Commit,
		Kind: store.DeploymentManual, Status: deployStatus(res), Error: res.Error}
	recorded, err := s.store.RecordDeployment(context.WithoutCancel(ctx), d)
	if err != nil {
		fmt.Fprintf(&log, "record the deployment: %v\n", err)
		recorded = d
	}
	s.logger.Info().Str("target", bind.Target).Str("service", res.Service).Int64("build", b.ID).Str("status", d.Status).Msg("manual deployment")
	res2 := RollbackResult{Deployment: recorded, Log: log.String()}
	if d.Status != DeployConverged {
		res2.Error = fmt.Sprintf("%s %s: %s", res.Service, d.Status, d.Error)
	}
	return res2
}

package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/slipwayci/slipway/internal/gitref"
	"github.com/slipwayci/slipway/source"
	"github.com/slipwayci/slipway/store"
)

// reconcileLock is the store lock one replica holds while it reconciles.
const reconcileLock = "reconcile"

// RunReconcile reconciles (Reconcile) at once and then every interval
// until ctx ends. A failed pass is logged and the next one comes at its
// time.
func (q *Queue) RunReconcile(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		queued, err := q.Reconcile(ctx)
		if err != nil && ctx.Err() == nil {
			q.svc.logger.Warn().Err(err).Msg("reconcile: a pass failed; the next one comes at its time")
		}
		q.svc.logger.Info().Int("queued", len(queued)).Msg("reconcile pass ended")
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Reconcile queues the pushes missed while no replica was up: for each
// project, one listing of the remote's branch heads (the transport and
// credentials of fetches), and for each branch that has builds (push,
// manual or reconcile) and that the project builds (branches:), a build
// with trigger reconcile of a head that is not the commit of the branch's
// newest build, has no queued, running, succeeded or superseded build and
// is not an ancestor of the newest built commit (as far as the clone cache
// knows; the older-commit check of the build itself catches the rest).
// Only one replica reconciles at a time: when another one is at it,
// Reconcile does nothing. It returns the builds queued.
func (q *Queue) Reconcile(ctx context.Context) ([]store.Build, error) {
	release, ok, err := q.svc.store.TryExclusive(ctx, reconcileLock)
	if err != nil || !ok {
		return nil, err
	}
	defer release()
	var queued []store.Build
	var errs []error
	for i := range q.svc.Config.Projects {
		p := &q.svc.Config.Projects[i]
		if p.Repo == "" {
			continue
		}
		got, err := q.reconcileProject(ctx, p.Name, p.Repo, gitAuth(q.svc.Config, p), p.BuildsBranch)
		queued = append(queued, got...)
		if err != nil {
			errs = append(errs, fmt.Errorf("reconcile project %s: %w", p.Name, err))
		}
	}
	if len(errs) > 0 {
		return queued, errors.Join(errs...)
	}
	return queued, nil
}

// reconcileProject is Reconcile of one project.
func (q *Queue) reconcileProject(ctx context.Context, project, repo string, auth source.Auth, builds func(string) bool) ([]store.Build, error) {
	refs, err := q.svc.store.BuiltBranches(ctx, project)
	if err != nil || len(refs) == 0 {
		return nil, err
	}
	heads, err := source.ListBranches(ctx, repo, auth)
	if err != nil {
		return nil, err
	}
	var queued []store.Build
	for _, ref := range refs {
		head, ok := heads[ref]
		if !ok || !builds(gitref.Short(ref)) {
			continue
		}
		missed, err := q.missed(ctx, project, ref, head)
		if err != nil {
			return queued, err
		}
		if !missed {
			continue
		}
		t := Trigger{Kind: store.TriggerReconcile, Project: project, Ref: gitref.Parse(ref), Commit: head}
		res, err := q.Enqueue(ctx, Request{Triggers: []Trigger{t}})
		if err != nil {
			return queued, err
		}
		if b := res.First(); res.Builds[0].Created {
			q.svc.logger.Info().Str("project", project).Str("ref", ref).Str("commit", head).Int64("build", b.ID).Msg("reconcile: queued a branch head no build knows (a push missed while down)")
			queued = append(queued, b)
		}
	}
	return queued, nil
}

// missed reports whether head of ref is a commit no build knows and no
// newer one built.
func (q *Queue) missed(ctx context.Context, project, ref, head string) (bool, error) {
	recent, err := q.svc.store.ListBuilds(ctx, store.Filter{Project: project, Ref: ref, Limit: 100})
	if err != nil {
		return false, err
	}
	newest := ""
	for _, b := range recent { // newest first
		if b.Commit == head {
			switch b.Status {
			case store.StatusQueued, store.StatusRunning, store.StatusSucceeded, store.StatusSuperseded:
				return false, nil
			}
		}
		if newest == "" && b.Commit != "" && (pushLike(b.Trigger) || b.Trigger == store.TriggerManual) {
			newest = b.Commit
		}
	}
	if newest == "" || newest == head {
		return false, nil
	}
	older, err := q.svc.runner.sources.IsAncestor(ctx, project, head, newest)
	if err != nil {
		return false, err
	}
	return !older, nil
}

package server

import (
	"cmp"
	"context"

	"github.com/slipwayci/slipway/internal/gitref"
	"github.com/slipwayci/slipway/pipeline"
	"github.com/slipwayci/slipway/schedules"
	"github.com/slipwayci/slipway/store"
	"github.com/slipwayci/slipway/webhook"
)

// deliveryQueue hands a webhook delivery's builds to the build queue,
// which records the delivery with them in one store transaction: a
// delivery answered 2xx is never lost, and a redelivery never builds twice.
type deliveryQueue struct {
	builds BuildService
}

func (d deliveryQueue) Accept(ctx context.Context, del webhook.Delivery, builds []store.Build) (webhook.Accepted, error) {
	req := pipeline.Request{Delivery: &store.Delivery{ID: del.ID, Event: del.Event, Outcome: del.Outcome, Reason: del.Reason}, StartedBy: "webhook"}
	for _, b := range builds {
		req.Triggers = append(req.Triggers, pipeline.Trigger{Kind: b.Trigger, Project: b.Project, Ref: gitref.Parse(b.Ref), Commit: b.Commit, Untrusted: b.Untrusted})
	}
	q, err := d.builds.Enqueue(ctx, req)
	if err != nil {
		return webhook.Accepted{}, err
	}
	acc := webhook.Accepted{Seen: q.Seen}
	for _, r := range q.Builds {
		if r.Created {
			acc.BuildIDs = append(acc.BuildIDs, r.Build.ID)
		} else {
			acc.Duplicates = append(acc.Duplicates, r.Build.ID)
		}
	}
	return acc, nil
}

// refCanceler is the build queue's ability to cancel the builds of a ref.
type refCanceler interface {
	CancelRef(ctx context.Context, project, ref, by string) ([]int64, error)
}

// CancelRef cancels a closed pull request's builds (webhook.Canceler).
func (d deliveryQueue) CancelRef(ctx context.Context, project, ref string) ([]int64, error) {
	c, ok := d.builds.(refCanceler)
	if !ok {
		return nil, nil
	}
	return c.CancelRef(ctx, project, ref, "webhook")
}

// releaseQueue hands the scheduler's releases to the build queue.
type releaseQueue struct {
	builds BuildService
}

func (q releaseQueue) Release(ctx context.Context, r schedules.Release) (store.Build, error) {
	t := pipeline.Trigger{Kind: store.TriggerSchedule, Project: r.Project, Schedule: r.Schedule, Ref: gitref.Branch(r.Branch), Due: r.Due}
	res, err := q.builds.Enqueue(ctx, pipeline.Request{Triggers: []pipeline.Trigger{t}, Fired: r.Fired, StartedBy: cmp.Or(r.By, "schedule")})
	if err != nil {
		return store.Build{}, err
	}
	return res.First(), nil
}

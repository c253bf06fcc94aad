package server

import (
	"context"

	"github.com/slipwayci/slipway/pipeline"
	"github.com/slipwayci/slipway/store"
	"github.com/slipwayci/slipway/webhook"
)

// deliveryQueue records a webhook delivery and queues its builds in one
// store transaction, then wakes the workers.
type deliveryQueue struct {
	queue *pipeline.Queue
	store *store.Store
}

func (d deliveryQueue) Accept(ctx context.Context, del webhook.Delivery, builds []store.Build) (webhook.Accepted, error) {
	opts := store.EnqueueOptions{Dedup: true, Supersede: true}
	seen, results, err := d.store.RecordDeliveryAndEnqueue(ctx, store.Delivery{
		ID: del.ID, Event: del.Event, Outcome: del.Outcome, Reason: del.Reason,
	}, builds, opts)
	if err != nil {
		return webhook.Accepted{}, err
	}
	acc := webhook.Accepted{Seen: seen}
	var superseded []int64
	var added []store.Build
	for _, r := range results {
		if r.Created {
			acc.BuildIDs = append(acc.BuildIDs, r.Build.ID)
			added = append(added, r.Build)
		} else {
			acc.Duplicates = append(acc.Duplicates, r.Build.ID)
		}
		superseded = append(superseded, r.Superseded...)
	}
	if len(added) > 0 || len(superseded) > 0 {
		d.queue.Queued(ctx, superseded, added...)
	}
	return acc, nil
}

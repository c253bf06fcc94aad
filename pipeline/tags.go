package pipeline

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/registry"
	"github.com/slipwayci/slipway/store"
)

// PreviewRequest asks which tags a build would push (`slipway tags`).
type PreviewRequest struct {
	Ref      string    // branch, tag or full ref; or
	Schedule string    // a schedule name (its branch is built)
	At       time.Time // the schedule's due time (default now)
	Commit   string    // the commit whose short form appears in tags
}

// Preview returns the tags a build of req would push, in push order, as
// the pipeline computes them: for a project with build_rules, those of the
// rules that match (as for a build started by hand) and of its tags: rules. For a git tag it lists the repository's tags
// (so `latest` is shown only when the tag is the highest release).
func Preview(ctx context.Context, cfg *config.Config, p *config.Project, req PreviewRequest, now func() time.Time) ([]registry.Tag, error) {
	r := &Runner{cfg: cfg, now: now}
	b := &store.Build{Project: p.Name, Trigger: store.TriggerManual, Commit: req.Commit, Ref: fullRef(req.Ref)}
	var sched *config.Schedule
	if req.Schedule != "" {
		sched = p.ScheduleNamed(req.Schedule)
		if sched == nil {
			return nil, fmt.Errorf("project %s has no schedule %q (known: %s)", p.Name, req.Schedule, scheduleNames(p))
		}
		b.Trigger, b.Schedule, b.Ref = store.TriggerSchedule, sched.Name, "refs/heads/"+sched.Branch
		if !req.At.IsZero() {
			at := req.At
			b.DueAt = &at
		}
	}
	ev, err := r.event(ctx, p, b, sched)
	if err != nil {
		return nil, err
	}
	tags, _, err := buildTags(p, b, ev)
	return tags, err
}

// fullRef turns "main" into refs/heads/main and keeps full refs.
func fullRef(ref string) string {
	if strings.HasPrefix(ref, "refs/") {
		return ref
	}
	return "refs/heads/" + ref
}

func scheduleNames(p *config.Project) string {
	names := make([]string, len(p.Schedules))
	for i, s := range p.Schedules {
		names[i] = s.Name
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// displayOrder lists tags as the build result shows them: moving branch tag
// first, then the immutable ones, then latest (["main", "main-1a2b3c4",
// "latest"]).
func displayOrder(tags []registry.Tag) []string {
	var first, mid, last []string
	for _, t := range tags {
		switch {
		case t.Name == registry.Latest:
			last = append(last, t.Name)
		case t.Moving:
			first = append(first, t.Name)
		default:
			mid = append(mid, t.Name)
		}
	}
	return append(append(first, mid...), last...)
}

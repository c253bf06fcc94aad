package webhook

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/slipwayci/slipway/source"
	"github.com/slipwayci/slipway/store"
)

// ReasonPaths starts the reason of a branch push that changed no file a
// project's path filter (projects[].paths) lets through.
const ReasonPaths = "paths"

// Changes lists the files a branch push changed: ref went from before (all
// zeros for a new branch) to after, forced telling a force-push. The
// pipeline's clone cache implements it (fetching the push); it must honour
// ctx and be safe for concurrent use.
type Changes interface {
	ChangedFiles(ctx context.Context, project, ref, before, after string, forced bool) ([]string, error)
}

// Option configures a Handler.
type Option func(*Handler)

// WithChanges makes the Handler filter the branch pushes of projects with a
// path filter by the files they change, asked of c before the delivery is
// answered. The whole check of one delivery gets at most timeout (GitHub
// gives up on a delivery after 10 s); a push whose changes are not known in
// time, or cannot be known (a new default branch, unrelated histories, a
// fetch error) builds, as it would without a filter. Without this option no
// push is filtered.
func WithChanges(c Changes, timeout time.Duration) Option {
	return func(h *Handler) { h.changes, h.changesTimeout = c, timeout }
}

// filterPaths drops the branch-push triggers of projects whose path filter
// lets none of the push's changed files through. It returns the decision
// left (ignored with the reasons when no trigger is) and the notes on
// filters that could not be applied (the push builds), for the log.
func (h *Handler) filterPaths(ctx context.Context, d Decision) (Decision, []string) {
	if h.changes == nil || len(d.Triggers) == 0 {
		return d, nil
	}
	var ctxOnce context.Context
	var kept []Trigger
	var reasons, notes []string
	for _, t := range d.Triggers {
		i := h.projectIndex(t.Project)
		if t.Trigger != store.TriggerPush || i < 0 || !h.projects[i].Paths.Filtered() {
			kept = append(kept, t)
			continue
		}
		if ctxOnce == nil {
			var cancel context.CancelFunc
			ctxOnce, cancel = context.WithTimeout(ctx, h.changesTimeout)
			defer cancel()
		}
		files, err := h.changes.ChangedFiles(ctxOnce, t.Project, t.Ref, t.Before, t.Commit, t.Forced)
		if err != nil {
			kept = append(kept, t)
			notes = append(notes, fmt.Sprintf("projects[%d].paths not applied (%s): building", i, pathsError(err)))
			continue
		}
		p := &h.projects[i]
		if source.NewPathFilter(p.Paths.Include, p.Paths.Exclude).Any(files) {
			kept = append(kept, t)
			continue
		}
		reasons = append(reasons, fmt.Sprintf("%s: none of the %d changed files matches projects[%d].paths", ReasonPaths, len(files), i))
	}
	if len(kept) == 0 {
		return ignore(strings.Join(reasons, "; ")), notes
	}
	d.Triggers = kept
	return d, append(notes, reasons...)
}

// pathsError says briefly why the changed files are not known.
func pathsError(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "the changed files were not known in time"
	case errors.Is(err, source.ErrNoBase):
		return "no commit to compare with"
	}
	return err.Error()
}

// projectIndex is the index of the named project in h.projects, -1 if none.
func (h *Handler) projectIndex(name string) int {
	for i := range h.projects {
		if h.projects[i].Name == name {
			return i
		}
	}
	return -1
}

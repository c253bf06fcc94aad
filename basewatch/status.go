package basewatch

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/slipwayci/slipway/internal/gitref"
	"github.com/slipwayci/slipway/store"
)

// BaseStatus is one base of a project as the API and the dashboard show
// it: the digest its newest succeeded build of the default branch was
// built on, and what the watcher last saw.
type BaseStatus struct {
	// Ref is the base image ("debian:bookworm").
	Ref string `json:"ref"`
	// Platform is the FROM's --platform, if any.
	Platform string `json:"platform,omitempty"`
	// Digest is the digest the build used.
	Digest string `json:"digest"`
	// Build is that build's ID.
	Build int64 `json:"build"`
	// Watched is set when the watcher checks the base (base_images.watch,
	// or the image of another project).
	Watched bool `json:"watched"`
	// Latest is the digest the registry served at the last check; "" when
	// never checked.
	Latest string `json:"latest,omitempty"`
	// LastCheck and NextCheck are the last check and when the next is
	// due (nil when none).
	LastCheck *time.Time `json:"last_check"`
	NextCheck *time.Time `json:"next_check,omitempty"`
	// LastError is the last check's error while checks fail.
	LastError string `json:"last_error,omitempty"`
	// OutdatedSince is when the registry was first seen serving Latest,
	// a digest other than the one built on: the image is outdated until a
	// rebuild succeeds (one is queued at once, and retried each interval
	// while they fail). Nil when up to date.
	OutdatedSince *time.Time `json:"outdated_since,omitempty"`
	// Cycle names the upstream chain cycle this base closes, as project
	// names ("a → b → a"), when the base is the image of a project that is
	// itself built (directly or not) FROM this project's image: the
	// watcher then rebuilds the project on no new base digest until one of
	// the Dockerfiles breaks the cycle. "" when there is none.
	Cycle string `json:"cycle,omitempty"`
}

// Status returns the bases of each project's newest succeeded build of its
// default branch, by project name (a project never built has none), with
// the watcher's state of each.
func (w *Watcher) Status(ctx context.Context) (map[string][]BaseStatus, error) {
	checks, err := w.opts.Store.BaseChecks(ctx)
	if err != nil {
		return nil, err
	}
	byRef := make(map[string]store.BaseCheck, len(checks))
	for _, c := range checks {
		byRef[c.Ref] = c
	}
	g := newGraph(w.projects)
	out := map[string][]BaseStatus{}
	for i := range w.projects {
		p := &w.projects[i]
		b, err := w.opts.Store.LastBuild(ctx, p.Name, gitref.Branch(p.DefaultBranch).String(), store.StatusSucceeded)
		if errors.Is(err, store.ErrNotFound) {
			out[p.Name] = []BaseStatus{}
			continue
		}
		if err != nil {
			return nil, err
		}
		list := make([]BaseStatus, 0, len(b.Bases))
		for _, bi := range b.Bases {
			s := BaseStatus{Ref: bi.Ref, Platform: bi.Platform, Digest: bi.Digest, Build: b.ID}
			pinned := bi.Digest == "" || strings.Contains(bi.Ref, "@")
			up := g.upstreamOf(bi.Ref)
			if up != "" && !pinned {
				g.link(up, p.Name) // as the watcher's pass links them
			}
			s.Watched = !pinned && (p.BaseImages.Watch || up != "")
			if c, ok := byRef[bi.Ref]; ok && s.Watched {
				s.Latest, s.LastError = c.Digest, c.LastError
				if !c.CheckedAt.IsZero() {
					s.LastCheck = ptr(c.CheckedAt)
				}
				if c.NextAt.Before(w.opts.Now().Add(never / 2)) {
					s.NextCheck = ptr(c.NextAt)
				}
				if c.Digest != "" && c.Digest != bi.Digest {
					s.OutdatedSince = ptr(c.SeenAt)
				}
			}
			list = append(list, s)
		}
		out[p.Name] = list
	}
	for name, list := range out {
		markCycle(g, name, list)
	}
	return out, nil
}

// markCycle sets Cycle on the base of project name that is the image of
// its upstream project in a cycle of g through name.
func markCycle(g *graph, name string, bases []BaseStatus) {
	cycle := g.cycleThrough(name)
	if cycle == nil {
		return
	}
	text, up := strings.Join(cycle, " → "), cycle[len(cycle)-2]
	for i := range bases {
		if g.upstreamOf(bases[i].Ref) == up {
			bases[i].Cycle = text
		}
	}
}

func ptr[T any](v T) *T { return &v }

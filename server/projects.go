package server

import (
	"context"
	"net/http"
	"time"

	"github.com/slipwayci/slipway/basewatch"
	"github.com/slipwayci/slipway/store"
)

// BaseWatcher is the base image watcher as the server uses it: registry
// notifications (POST /hooks/registry) and the bases of each project (GET
// /api/v1/projects, the dashboard). basewatch.Watcher implements it.
type BaseWatcher interface {
	Notified(ctx context.Context, pushes []basewatch.Push) ([]string, error)
	Status(ctx context.Context) (map[string][]basewatch.BaseStatus, error)
}

// projectJSON is one project of GET /api/v1/projects.
type projectJSON struct {
	Name          string                 `json:"name"`
	Image         string                 `json:"image"`
	DefaultBranch string                 `json:"default_branch"`
	Refs          []refJSON              `json:"refs"`
	Schedules     []scheduleJSON         `json:"schedules"`
	Bases         []basewatch.BaseStatus `json:"bases"`
}

// refJSON is a branch or tag with its newest build (null: never built).
type refJSON struct {
	Ref       string       `json:"ref"`
	Default   bool         `json:"default"`
	LastBuild *store.Build `json:"last_build"`
}

// scheduleJSON is a schedule with its next due time and last release.
type scheduleJSON struct {
	Name      string       `json:"name"`
	Cron      string       `json:"cron"`
	Timezone  string       `json:"timezone,omitempty"`
	Branch    string       `json:"branch"`
	Next      *time.Time   `json:"next"`
	NextError string       `json:"next_error,omitempty"`
	NextTags  []string     `json:"next_tags,omitempty"`
	LastBuild *store.Build `json:"last_build"`
}

// listProjects is GET /api/v1/projects: every configured project, in
// config order, with the newest build per ref, its schedules' next due
// times and its bases with their digests (what the dashboard shows).
func (h *handler) listProjects(w http.ResponseWriter, r *http.Request) {
	views, err := h.dash.projectViews(r.Context())
	if err != nil {
		h.Logger.Error().Err(err).Msg("list projects")
		writeError(w, http.StatusInternalServerError, "could not list the projects: "+err.Error())
		return
	}
	out := make([]projectJSON, 0, len(views))
	for i, v := range views {
		pj := projectJSON{Name: v.Name, Image: v.Image, DefaultBranch: h.cfg.Projects[i].DefaultBranch,
			Refs: []refJSON{}, Schedules: []scheduleJSON{}, Bases: v.Bases}
		if pj.Bases == nil {
			pj.Bases = []basewatch.BaseStatus{}
		}
		for _, rv := range v.Refs {
			pj.Refs = append(pj.Refs, refJSON{Ref: rv.Ref, Default: rv.Default, LastBuild: resultPtr(rv.Last)})
		}
		for _, sv := range v.Schedules {
			sj := scheduleJSON{Name: sv.Name, Cron: sv.Cron, Timezone: sv.Timezone, Branch: sv.Branch, NextError: sv.NextErr,
				NextTags: sv.NextTags, LastBuild: resultPtr(sv.Last)}
			if sv.NextErr == "" {
				next := sv.Next
				sj.Next = &next
			}
			pj.Schedules = append(pj.Schedules, sj)
		}
		out = append(out, pj)
	}
	writeJSON(w, http.StatusOK, out)
}

// resultPtr is store.Result(*b), nil for nil.
func resultPtr(b *store.Build) *store.Build {
	if b == nil {
		return nil
	}
	r := store.Result(*b)
	return &r
}

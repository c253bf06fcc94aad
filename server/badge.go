package server

import (
	"cmp"
	"fmt"
	"html"
	"net/http"
	"strings"

	"github.com/slipwayci/slipway/internal/gitref"
	"github.com/slipwayci/slipway/store"
)

// Colors of the badge's message, as shields.io's.
const (
	badgeGreen = "#4c1"
	badgeRed   = "#e05d44"
	badgeGrey  = "#9f9f9f"
	badgeBlue  = "#007ec6"
)

// badge answers GET /badge/{project}.svg?ref=main with a shields-style SVG
// of the last finished build of the project's ref (default: its default
// branch): "passing", "failing", "canceled", "running" while the first one
// runs, "no builds"; an unknown project is a 404 badge. No auth: it says
// no more than a README badge shows, and nothing secret.
func (h *handler) badge(w http.ResponseWriter, r *http.Request) {
	name, svg := strings.CutSuffix(r.PathValue("file"), ".svg")
	p, err := h.cfg.Project(name)
	if err != nil || !svg {
		writeBadge(w, http.StatusNotFound, "build", "unknown project", badgeGrey)
		return
	}
	ref := gitref.Parse(cmp.Or(r.URL.Query().Get("ref"), p.DefaultBranch)).String()
	bs, err := h.Builds.ListBuilds(r.Context(), store.Filter{Project: p.Name, Ref: ref, Limit: store.MaxLimit})
	if err != nil {
		writeBadge(w, http.StatusInternalServerError, "build", "error", badgeGrey)
		return
	}
	msg, color := "no builds", badgeGrey
scan:
	for _, b := range bs {
		switch b.Status {
		case store.StatusSucceeded:
			msg, color = "passing", badgeGreen
		case store.StatusFailed:
			msg, color = "failing", badgeRed
		case store.StatusCanceled:
			msg, color = "canceled", badgeGrey
		case store.StatusQueued, store.StatusRunning:
			if msg == "no builds" {
				msg, color = "running", badgeBlue
			}
			continue
		default: // superseded: not an outcome of the ref
			continue
		}
		break scan
	}
	writeBadge(w, http.StatusOK, "build", msg, color)
}

// writeBadge writes a flat shields-style badge.
func writeBadge(w http.ResponseWriter, code int, label, msg, color string) {
	lw, mw := textWidth(label)+10, textWidth(msg)+10
	w.Header().Set("Content-Type", "image/svg+xml")
	// Image proxies (GitHub's camo) should not keep an old status.
	w.Header().Set("Cache-Control", "no-cache, max-age=0")
	w.WriteHeader(code)
	l, m := html.EscapeString(label), html.EscapeString(msg)
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="20" role="img" aria-label="%s: %s">`+
		`<title>%s: %s</title>`+
		`<linearGradient id="s" x2="0" y2="100%%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>`+
		`<clipPath id="r"><rect width="%d" height="20" rx="3" fill="#fff"/></clipPath>`+
		`<g clip-path="url(#r)"><rect width="%d" height="20" fill="#555"/><rect x="%d" width="%d" height="20" fill="%s"/><rect width="%d" height="20" fill="url(#s)"/></g>`+
		`<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">`+
		`<text x="%d" y="15" fill="#010101" fill-opacity=".3">%s</text><text x="%d" y="14">%s</text>`+
		`<text x="%d" y="15" fill="#010101" fill-opacity=".3">%s</text><text x="%d" y="14">%s</text></g></svg>`+"\n",
		lw+mw, l, m, l, m, lw+mw, lw, lw, mw, color, lw+mw,
		lw/2, l, lw/2, l, lw+mw/2, m, lw+mw/2, m)
}

// textWidth estimates the width of s in 11px Verdana.
func textWidth(s string) int {
	width := 0.0
	for _, r := range s {
		switch {
		case strings.ContainsRune("il.:;!|'", r):
			width += 3.5
		case r == ' ':
			width += 3.9
		case r >= 'A' && r <= 'Z', r == 'w', r == 'm':
			width += 8.5
		default:
			width += 7
		}
	}
	return int(width + 0.5)
}

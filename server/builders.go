package server

import (
	"context"
	"errors"
	"net/http"

	"github.com/slipwayci/slipway/builders"
)

// BuilderPool is the builder pool as the API shows and drains it;
// *builders.Pool implements it.
type BuilderPool interface {
	Status(ctx context.Context) []builders.Status
	Drain(name string, on bool) error
}

// listBuilders answers GET /api/v1/builders: every builder with its health,
// labels, running builds and disk use.
func (h *handler) listBuilders(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, h.Builders.Status(r.Context()))
}

// drainBuilder answers POST (drain) and DELETE (resume) of
// /api/v1/builders/{name}/drain with the builder's status.
func (h *handler) drainBuilder(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := h.Builders.Drain(name, r.Method == http.MethodPost); err != nil {
		if errors.Is(err, builders.ErrUnknownBuilder) {
			writeError(w, http.StatusNotFound, err.Error())
			return
		}
		writeError(w, http.StatusInternalServerError, "could not drain the builder")
		return
	}
	for _, s := range h.Builders.Status(r.Context()) {
		if s.Name == name {
			writeJSON(w, http.StatusOK, s)
			return
		}
	}
}

// mountBuilders adds the builder routes when there is a pool.
func (h *handler) mountBuilders(mux *http.ServeMux) {
	if h.Builders == nil {
		return
	}
	mux.HandleFunc("GET /api/v1/builders", h.read(h.listBuilders))
	mux.HandleFunc("POST /api/v1/builders/{name}/drain", h.write(h.drainBuilder))
	mux.HandleFunc("DELETE /api/v1/builders/{name}/drain", h.write(h.drainBuilder))
}

package server

import (
	"context"
	"errors"
	"net/http"

	"github.com/slipwayci/slipway/pipeline"
	"github.com/slipwayci/slipway/store"
)

// DeploymentService reads what runs on the deploy bindings' services and
// rolls one back to a build; *pipeline.Service implements it.
type DeploymentService interface {
	Deployments(ctx context.Context) ([]pipeline.ServiceState, error)
	Rollback(ctx context.Context, target, service string, build int64) (pipeline.RollbackResult, error)
}

// listDeployments answers GET /api/v1/deployments: per target and
// service, what runs now and the deployment history.
func (h *handler) listDeployments(w http.ResponseWriter, r *http.Request) {
	states, err := h.Deployments.Deployments(r.Context())
	if err != nil {
		h.Logger.Error().Err(err).Msg("list deployments")
		writeError(w, http.StatusInternalServerError, "could not read the deployments")
		return
	}
	if states == nil {
		states = []pipeline.ServiceState{}
	}
	writeJSON(w, http.StatusOK, states)
}

// rollbackDeployment answers POST
// /api/v1/deployments/{target}/{service}/rollback {"build": N}: it
// redeploys build N's digest and answers, once the service converged or
// failed, 200 with the deployment when it converged, 409 with it when not.
func (h *handler) rollbackDeployment(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Build int64 `json:"build"`
	}
	if !readBody(w, r, &req, `{"build": 41}`) {
		return
	}
	if req.Build <= 0 {
		writeError(w, http.StatusBadRequest, `"build" is required: the ID of the build whose image to deploy, such as {"build": 41}`)
		return
	}
	res, err := h.Deployments.Rollback(r.Context(), r.PathValue("target"), r.PathValue("service"), req.Build)
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, pipeline.ErrNoSuchDeployment):
		writeError(w, http.StatusNotFound, err.Error())
		return
	case errors.Is(err, pipeline.ErrNotDeployable):
		writeError(w, http.StatusConflict, err.Error())
		return
	case err != nil:
		writeError(w, http.StatusBadGateway, err.Error())
		return
	}
	code := http.StatusOK
	if res.Deployment.Status != pipeline.DeployConverged {
		code = http.StatusConflict
	}
	writeJSON(w, code, res)
}

// mountDeployments adds the deployment routes when there is a service.
func (h *handler) mountDeployments(mux *http.ServeMux) {
	if h.Deployments == nil {
		return
	}
	mux.HandleFunc("GET /api/v1/deployments", h.read(h.listDeployments))
	mux.HandleFunc("POST /api/v1/deployments/{target}/{service}/rollback", h.write(h.rollbackDeployment))
}

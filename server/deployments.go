package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/slipwayci/slipway/pipeline"
	"github.com/slipwayci/slipway/store"
)

// DeploymentService reads what runs on the deploy bindings' services and
// rolls one back to a build; *pipeline.Service implements it.
type DeploymentService interface {
	Deployments(ctx context.Context) ([]pipeline.ServiceState, error)
	Rollback(ctx context.Context, target, service string, build int64) (pipeline.RollbackResult, error)
}

const (
	// deploymentsFresh is how long one read of the deployments answers
	// GET /api/v1/deployments and the dashboard's page: a busy dashboard
	// reads the swarms at most once per 5s, and a change made outside
	// slipway shows within 5s (a rollback or a finished build at once).
	deploymentsFresh = 5 * time.Second
	// deploymentsReadTimeout bounds a shared read, which no one request's
	// end cancels (the targets' own bound is 5s each).
	deploymentsReadTimeout = time.Minute
)

// deploymentsCache is a DeploymentService whose Deployments answers from
// one read for deploymentsFresh, concurrent callers sharing the read in
// flight (singleflight). Rollback, and forget (a build finished), make
// the next call read afresh. Safe for concurrent use; Close it before the
// service it reads is closed.
type deploymentsCache struct {
	DeploymentService
	fresh time.Duration
	now   func() time.Time
	group singleflight.Group
	// life bounds the shared reads, which outlive the requests that
	// started them: Close cancels it and waits for reads to end.
	life  context.Context
	stop  context.CancelFunc
	reads sync.WaitGroup

	mu     sync.Mutex
	closed bool
	// gen counts the forgets; a read started before the last one is not
	// kept.
	gen    uint64
	states []pipeline.ServiceState
	until  time.Time // states answer until then (zero: no states)
}

// newDeploymentsCache caches svc's Deployments for fresh.
func newDeploymentsCache(svc DeploymentService, fresh time.Duration, now func() time.Time) *deploymentsCache {
	life, stop := context.WithCancel(context.Background())
	return &deploymentsCache{DeploymentService: svc, fresh: fresh, now: now, life: life, stop: stop}
}

// errDeploymentsClosed is Deployments' error after Close.
var errDeploymentsClosed = errors.New("the deployments cannot be read: slipway is stopping")

// Close cancels the reads in flight and returns once they have ended;
// Deployments fails afterwards. The server calls it before it closes the
// pipeline service, so no read uses the store or a deploy target after.
func (c *deploymentsCache) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.stop()
	c.reads.Wait()
}

// Deployments returns the kept states while fresh, else joins or starts a
// read. A caller whose ctx ends stops waiting; the read goes on for the
// others (bounded by deploymentsReadTimeout, and ended by Close). The
// states returned are shared: callers must not change them.
func (c *deploymentsCache) Deployments(ctx context.Context) ([]pipeline.ServiceState, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, errDeploymentsClosed
	}
	if c.now().Before(c.until) {
		states := c.states
		c.mu.Unlock()
		return states, nil
	}
	gen := c.gen
	c.mu.Unlock()
	ch := c.group.DoChan(strconv.FormatUint(gen, 10), func() (any, error) {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, errDeploymentsClosed
		}
		c.reads.Add(1)
		c.mu.Unlock()
		defer c.reads.Done()
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deploymentsReadTimeout)
		defer cancel()
		defer context.AfterFunc(c.life, cancel)()
		states, err := c.DeploymentService.Deployments(rctx)
		if err == nil {
			c.mu.Lock()
			if c.gen == gen {
				c.states, c.until = states, c.now().Add(c.fresh)
			}
			c.mu.Unlock()
		}
		return states, err
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.([]pipeline.ServiceState), nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// Rollback rolls back (DeploymentService.Rollback) and forgets the kept
// states: the next read shows the rollback.
func (c *deploymentsCache) Rollback(ctx context.Context, target, service string, build int64) (pipeline.RollbackResult, error) {
	defer c.forget()
	return c.DeploymentService.Rollback(ctx, target, service, build)
}

// forget makes the next Deployments read afresh, as after a build that
// may have deployed.
func (c *deploymentsCache) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.states, c.until = nil, time.Time{}
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

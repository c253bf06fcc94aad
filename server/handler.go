package server

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/internal/gitref"
	"github.com/slipwayci/slipway/pipeline"
	"github.com/slipwayci/slipway/schedules"
	"github.com/slipwayci/slipway/source"
	"github.com/slipwayci/slipway/store"
	"github.com/slipwayci/slipway/webhook"
)

// BuildService is the build machinery as the HTTP side uses it: the one
// way builds get queued, their cancel, and their records. *pipeline.Queue
// implements it.
type BuildService interface {
	Enqueue(ctx context.Context, req pipeline.Request) (pipeline.Queued, error)
	// Cancel cancels build id; by is who asks (store.Build.CanceledBy).
	Cancel(ctx context.Context, id int64, by string) error
	GetBuild(ctx context.Context, id int64) (store.Build, error)
	ListBuilds(ctx context.Context, f store.Filter) ([]store.Build, error)
	// ReadLog returns at most max bytes of build id's log from offset on.
	ReadLog(ctx context.Context, id, offset int64, max int) ([]byte, error)
	// Ready checks the engine and the store (for /readyz).
	Ready(ctx context.Context) error
}

// HandlerDeps are what the HTTP handler serves from.
type HandlerDeps struct {
	// Config is the configuration served.
	Config *config.Config
	// Builds queues, cancels and reads builds.
	Builds BuildService
	// Scheduler runs schedules by hand; nil disables the route.
	Scheduler *schedules.Scheduler
	// Builders shows and drains the builder pool; nil disables its
	// routes.
	Builders BuilderPool
	// Deployments serves /api/v1/deployments; nil disables its routes.
	Deployments DeploymentService
	// Bases takes registry push notifications (POST /hooks/registry) and
	// shows each project's bases; nil turns the route off and shows none.
	Bases    BaseWatcher
	Metrics  *Metrics
	Gatherer prometheus.Gatherer
	Logger   zerolog.Logger
	// FollowPoll is how often a followed log is checked for new bytes.
	// Default 200ms.
	FollowPoll time.Duration
	// SessionKey signs the dashboard's login cookies (sessionKey); empty:
	// a random key per process.
	SessionKey []byte
	// Stopping, when closed, ends the followed logs: the server is
	// shutting down, and an http.Server's Shutdown waits for every
	// handler, which a follow of a long build would hold up. Nil never
	// closes.
	Stopping <-chan struct{}
}

type handler struct {
	HandlerDeps
	cfg      *config.Config
	tokens   []apiToken
	dash     *dashboard
	readAuth bool
}

// NewHandler returns slipway's HTTP handler: webhook, API, health, metrics.
func NewHandler(d HandlerDeps) (http.Handler, error) {
	if d.FollowPoll <= 0 {
		d.FollowPoll = 200 * time.Millisecond
	}
	cfg := d.Config
	h := &handler{HandlerDeps: d, cfg: cfg, readAuth: cfg.DashboardAuth == "token"}
	h.tokens = hashTokens(cfg.APITokens)
	h.dash = newDashboard(h, time.Now)
	hook, err := githubHook(d, cfg)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("POST /hooks/github", hook)
	mux.HandleFunc("POST /api/v1/projects/{name}/builds", h.write(h.createBuild))
	mux.HandleFunc("POST /api/v1/projects/{name}/schedules/{schedule}/run", h.write(h.runSchedule))
	mux.HandleFunc("GET /api/v1/projects", h.read(h.listProjects))
	mux.HandleFunc("GET /api/v1/builds", h.read(h.listBuilds))
	mux.HandleFunc("GET /api/v1/builds/{id}", h.read(h.getBuild))
	mux.HandleFunc("GET /api/v1/builds/{id}/log", h.read(h.buildLog))
	mux.HandleFunc("POST /api/v1/builds/{id}/cancel", h.write(h.cancelBuild))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", h.readyz)
	mux.HandleFunc("GET /badge/{file}", h.badge)
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.Gatherer, promhttp.HandlerOpts{}))
	h.mountBuilders(mux)
	h.mountDeployments(mux)
	h.mountRegistryHook(mux)
	h.mountDashboard(mux)
	return h.dash.notFound(mux), nil
}

// githubHook is the handler of POST /hooks/github: the webhook handler, or
// without a webhook secret (allowed when no project has github:, see
// config.RequireWebhookSecret) a 404 that says how to turn it on.
func githubHook(d HandlerDeps, cfg *config.Config) (http.Handler, error) {
	if cfg.GitHub.WebhookSecret == "" {
		if err := cfg.RequireWebhookSecret(); err != nil {
			return nil, err
		}
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			writeError(w, http.StatusNotFound, "GitHub webhooks are off: no project has github: and github.webhook_secret is not set; set both to build on pushes")
		}), nil
	}
	var opts []webhook.Option
	if c, ok := d.Builds.(webhook.Changes); ok {
		opts = append(opts, webhook.WithChanges(c, pathsTimeout))
	}
	return webhook.NewHandler(cfg.GitHub.WebhookSecret, int64(cfg.GitHub.MaxPayload), cfg.Projects,
		deliveryQueue{builds: d.Builds}, d.Logger, d.Metrics, opts...)
}

// pathsTimeout bounds the path-filter check of one delivery (fetching the
// push into the clone cache), well inside the 10 s GitHub waits for an
// answer; a push not checked in time builds.
const pathsTimeout = 5 * time.Second

func (h *handler) write(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if len(h.tokens) == 0 {
			writeError(w, http.StatusForbidden, "API writes are disabled: set api_tokens_file to a file with one token per line")
			return
		}
		if tok, ok := h.bearer(r); ok {
			next(w, r.WithContext(withCaller(r.Context(), tok.name)))
			return
		}
		if _, bearer := r.Header["Authorization"]; !bearer {
			who, err := h.dash.sessionWriter(r)
			if err == nil {
				next(w, r.WithContext(withCaller(r.Context(), "dashboard:"+who)))
				return
			}
			if errors.Is(err, errForged) {
				h.Logger.Warn().Str("remote", r.RemoteAddr).Str("path", r.URL.Path).Msg("dashboard write refused: cross-origin or wrong CSRF token")
				writeError(w, http.StatusForbidden, err.Error())
				return
			}
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="slipway"`)
		writeError(w, http.StatusUnauthorized, "a valid API token is required: Authorization: Bearer <token from api_tokens_file>")
	}
}

func (h *handler) read(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if h.readAuth && !h.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="slipway"`)
			writeError(w, http.StatusUnauthorized, "a valid API token is required (dashboard_auth: token)")
			return
		}
		next(w, r)
	}
}

func (h *handler) createBuild(w http.ResponseWriter, r *http.Request) {
	p, err := h.cfg.Project(r.PathValue("name"))
	if err != nil {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	var req struct {
		Ref    string `json:"ref"`
		Commit string `json:"commit"`
	}
	if !readBody(w, r, &req, `{"ref":"main"}`) {
		return
	}
	ref := gitref.Parse(cmp.Or(req.Ref, p.DefaultBranch)).String()
	if err := source.ValidateRef(ref); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.Commit != "" && !isHex40(req.Commit) {
		writeError(w, http.StatusBadRequest, "commit must be 40 hex characters")
		return
	}
	t := pipeline.Trigger{Kind: store.TriggerManual, Project: p.Name, Ref: plumbing.ReferenceName(ref), Commit: req.Commit}
	q, err := h.Builds.Enqueue(r.Context(), pipeline.Request{Triggers: []pipeline.Trigger{t}, StartedBy: callerOf(r.Context())})
	b := q.First()
	if err != nil {
		h.Logger.Error().Err(err).Str("project", p.Name).Msg("queue manual build")
		writeError(w, http.StatusInternalServerError, "could not queue the build")
		return
	}
	h.Logger.Info().Int64("build", b.ID).Str("project", p.Name).Str("ref", ref).Str("by", b.StartedBy).Msg("manual build queued")
	writeJSON(w, http.StatusAccepted, store.Result(b))
}

// runSchedule makes a schedule's release now, with the schedule's tags
// dated now.
func (h *handler) runSchedule(w http.ResponseWriter, r *http.Request) {
	if _, err := h.cfg.Project(r.PathValue("name")); err != nil {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	if !readBody(w, r, &struct{}{}, "no body") {
		return
	}
	if h.Scheduler == nil {
		writeError(w, http.StatusServiceUnavailable, "schedules are not running")
		return
	}
	b, err := h.Scheduler.RunNow(r.Context(), r.PathValue("name"), r.PathValue("schedule"), callerOf(r.Context()))
	if errors.Is(err, schedules.ErrUnknownSchedule) {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	if err != nil {
		h.Logger.Error().Err(err).Str("project", r.PathValue("name")).Msg("run schedule")
		writeError(w, http.StatusInternalServerError, "could not queue the release")
		return
	}
	h.Logger.Info().Int64("build", b.ID).Str("project", b.Project).Str("schedule", b.Schedule).Msg("schedule run by hand")
	writeJSON(w, http.StatusAccepted, store.Result(b))
}

func (h *handler) listBuilds(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.Filter{Project: q.Get("project"), Status: store.Status(q.Get("status"))}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "limit must be a positive number")
			return
		}
		f.Limit = n
	}
	builds, err := h.Builds.ListBuilds(r.Context(), f)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "could not list builds")
		return
	}
	out := make([]store.Build, len(builds))
	for i, b := range builds {
		out[i] = store.Result(b)
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *handler) build(w http.ResponseWriter, r *http.Request) (store.Build, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, "build id must be a number")
		return store.Build{}, false
	}
	b, err := h.Builds.GetBuild(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no build %d", id))
		return b, false
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "could not read the build")
		return b, false
	}
	return b, true
}

func (h *handler) getBuild(w http.ResponseWriter, r *http.Request) {
	if b, ok := h.build(w, r); ok {
		writeJSON(w, http.StatusOK, store.Result(b))
	}
}

func (h *handler) cancelBuild(w http.ResponseWriter, r *http.Request) {
	b, ok := h.build(w, r)
	if !ok || !readBody(w, r, &struct{}{}, "no body") {
		return
	}
	err := h.Builds.Cancel(r.Context(), b.ID, callerOf(r.Context()))
	switch {
	case errors.Is(err, pipeline.ErrNotCancelable):
		writeError(w, http.StatusConflict, err.Error())
	case err != nil:
		writeError(w, http.StatusInternalServerError, "could not cancel the build")
	default:
		h.Logger.Info().Int64("build", b.ID).Str("by", callerOf(r.Context())).Msg("build cancel requested")
		writeJSON(w, http.StatusAccepted, map[string]any{"id": b.ID, "cancel": "requested"})
	}
}

// buildLog serves the build's log; with ?follow=1 it streams new bytes until
// the build has ended and the whole log was sent.
func (h *handler) buildLog(w http.ResponseWriter, r *http.Request) {
	b, ok := h.build(w, r)
	if !ok {
		return
	}
	follow := r.URL.Query().Get("follow") == "1" || r.URL.Query().Get("follow") == "true"
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	flusher, _ := w.(http.Flusher)
	ctx := r.Context()
	t := time.NewTicker(h.FollowPoll)
	defer t.Stop()
	var offset int64
	for {
		// Read the status before copying so the last bytes written before
		// the build ended are always sent.
		cur, err := h.Builds.GetBuild(ctx, b.ID)
		if err != nil {
			return
		}
		for {
			p, err := h.Builds.ReadLog(ctx, b.ID, offset, logReadMax)
			if err != nil {
				if offset == 0 {
					writeError(w, http.StatusInternalServerError, "could not read the log")
				}
				return
			}
			if len(p) == 0 {
				break
			}
			if _, err := w.Write(p); err != nil {
				return
			}
			offset += int64(len(p))
		}
		if flusher != nil {
			flusher.Flush()
		}
		if !follow || store.Finished(cur.Status) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-h.Stopping:
			return
		case <-t.C:
		}
	}
}

// logReadMax bounds one read of a build log: a log is sent in pieces, never
// held whole.
const logReadMax = 256 << 10

func (h *handler) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if err := h.Builds.Ready(ctx); err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	io.WriteString(w, "ready\n")
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func isHex40(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

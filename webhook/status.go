package webhook

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/go-github/v75/github"
	"github.com/rs/zerolog"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/store"
)

// StatusReporter posts GitHub commit statuses for builds: pending when
// queued or running, success, failure or error at the end, with the context
// "slipway/<project>" and a link to the build. Statuses are sent in order by
// one goroutine (Run) so a slow GitHub never delays a webhook answer; a
// failed post is logged, never fails a build.
type StatusReporter struct {
	client    *github.Client
	publicURL string
	repos     map[string]string // project -> owner/name
	logger    zerolog.Logger
	queue     chan store.Build
	timeout   time.Duration

	mu      sync.Mutex
	dropped int
}

// NewStatusReporter returns a reporter for cfg's projects that have a
// `github:` repository. Without github.token it reports nothing (statuses
// need a token), which is logged once at start.
func NewStatusReporter(cfg *config.Config, logger zerolog.Logger) (*StatusReporter, error) {
	r := &StatusReporter{
		publicURL: strings.TrimSuffix(cfg.PublicURL, "/"),
		repos:     map[string]string{},
		logger:    logger,
		queue:     make(chan store.Build, 1024),
		timeout:   10 * time.Second,
	}
	for _, p := range cfg.Projects {
		if p.GitHub != "" {
			r.repos[p.Name] = p.GitHub
		}
	}
	token := cfg.GitHub.Token.Value()
	if token == "" || len(r.repos) == 0 {
		if len(r.repos) > 0 {
			logger.Info().Msg("github.token is not set: commit statuses are not reported")
		}
		return r, nil
	}
	api := cfg.GitHub.APIURL
	if api == "" {
		api = "https://api.github.com/"
	}
	if !strings.HasSuffix(api, "/") {
		api += "/"
	}
	base, err := url.Parse(api)
	if err != nil {
		return nil, fmt.Errorf("github.api_url %q: %w", api, err)
	}
	r.client = github.NewClient(&http.Client{Timeout: r.timeout}).WithAuthToken(token)
	r.client.BaseURL = base
	return r, nil
}

// BuildChanged queues the status of b for sending. It never blocks: when the
// send queue is full the status is dropped and counted.
func (r *StatusReporter) BuildChanged(_ context.Context, b store.Build) {
	if r.client == nil || r.repos[b.Project] == "" || len(b.Commit) != 40 {
		return
	}
	select {
	case r.queue <- b:
	default:
		r.mu.Lock()
		r.dropped++
		r.mu.Unlock()
		r.logger.Warn().Int64("build", b.ID).Msg("commit status queue full: status dropped")
	}
}

// Run sends queued statuses in order until ctx ends, then sends what is
// still queued (each bounded by the post timeout) and returns.
func (r *StatusReporter) Run(ctx context.Context) error {
	for {
		select {
		case b := <-r.queue:
			r.send(context.WithoutCancel(ctx), b)
		case <-ctx.Done():
			for {
				select {
				case b := <-r.queue:
					r.send(context.WithoutCancel(ctx), b)
				default:
					return nil
				}
			}
		}
	}
}

func (r *StatusReporter) send(ctx context.Context, b store.Build) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	owner, repo, _ := strings.Cut(r.repos[b.Project], "/")
	state, desc := statusOf(b)
	st := &github.RepoStatus{
		State:       github.Ptr(state),
		Context:     github.Ptr("slipway/" + b.Project),
		Description: github.Ptr(desc),
		TargetURL:   github.Ptr(fmt.Sprintf("%s/builds/%d", r.publicURL, b.ID)),
	}
	if _, _, err := r.client.Repositories.CreateStatus(ctx, owner, repo, b.Commit, st); err != nil {
		r.logger.Warn().Err(err).Int64("build", b.ID).Str("project", b.Project).Str("state", state).Msg("post commit status")
	}
}

// statusOf maps a build to a GitHub status state and description (at most
// 140 characters, GitHub's limit).
func statusOf(b store.Build) (string, string) {
	var state, desc string
	switch b.Status {
	case store.StatusQueued:
		state, desc = "pending", fmt.Sprintf("build %d queued", b.ID)
	case store.StatusRunning:
		state, desc = "pending", fmt.Sprintf("build %d running", b.ID)
	case store.StatusSucceeded:
		state, desc = "success", fmt.Sprintf("build %d succeeded", b.ID)
		if len(b.Tags) > 0 {
			desc += ": " + strings.Join(b.Tags, ", ")
		}
	case store.StatusFailed:
		state, desc = "failure", fmt.Sprintf("build %d failed: %s", b.ID, b.Error)
	default:
		state, desc = "error", fmt.Sprintf("build %d %s", b.ID, b.Status)
	}
	if len(desc) > 140 {
		desc = desc[:137] + "..."
	}
	return state, desc
}

package basewatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/distribution/reference"
)

// Push is one tag pushed to a registry, as a notification tells it.
type Push struct {
	// Host is the registry's host as the pusher addressed it ("" when
	// the notification does not say; "docker.io" for Docker Hub).
	Host string
	// Repository is the repository's path in the registry ("acme/web",
	// "library/debian").
	Repository string
	// Tag is the tag pushed.
	Tag string
}

// ErrNotification is matched by the errors of ParseNotification: the body
// is neither a registry notification envelope nor a Docker Hub webhook.
var ErrNotification = errors.New("not a registry push notification")

// envelope is the CNCF distribution registry's notification body
// (application/vnd.docker.distribution.events.v1+json).
type envelope struct {
	Events []struct {
		Action string `json:"action"`
		Target struct {
			Repository string `json:"repository"`
			Tag        string `json:"tag"`
			URL        string `json:"url"`
		} `json:"target"`
		Request struct {
			Host string `json:"host"`
		} `json:"request"`
	} `json:"events"`
}

// hubWebhook is Docker Hub's webhook body.
type hubWebhook struct {
	PushData *struct {
		Tag string `json:"tag"`
	} `json:"push_data"`
	Repository struct {
		RepoName string `json:"repo_name"`
	} `json:"repository"`
}

// ParseNotification reads the tags a registry notification says were
// pushed: a CNCF distribution notification envelope (its push events of
// tagged manifests; pulls and blob pushes are left out) or a Docker Hub
// webhook. A body that is neither is an error matching ErrNotification.
func ParseNotification(body []byte) ([]Push, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(body, &probe); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotification, err)
	}
	switch {
	case probe["events"] != nil:
		var env envelope
		if err := json.Unmarshal(body, &env); err != nil {
			return nil, fmt.Errorf("%w: notification envelope: %w", ErrNotification, err)
		}
		pushes := []Push{}
		for _, e := range env.Events {
			if e.Action != "push" || e.Target.Tag == "" || e.Target.Repository == "" {
				continue
			}
			host := e.Request.Host
			if host == "" {
				if u, err := url.Parse(e.Target.URL); err == nil {
					host = u.Host
				}
			}
			pushes = append(pushes, Push{Host: host, Repository: e.Target.Repository, Tag: e.Target.Tag})
		}
		return pushes, nil
	case probe["push_data"] != nil:
		var hub hubWebhook
		if err := json.Unmarshal(body, &hub); err != nil {
			return nil, fmt.Errorf("%w: Docker Hub webhook: %w", ErrNotification, err)
		}
		if hub.PushData == nil || hub.PushData.Tag == "" || hub.Repository.RepoName == "" {
			return nil, fmt.Errorf("%w: Docker Hub webhook without push_data.tag or repository.repo_name", ErrNotification)
		}
		repo := hub.Repository.RepoName
		if !strings.Contains(repo, "/") {
			repo = "library/" + repo
		}
		return []Push{{Host: "docker.io", Repository: repo, Tag: hub.PushData.Tag}}, nil
	}
	return nil, fmt.Errorf("%w: neither a registry notification envelope (events) nor a Docker Hub webhook (push_data)", ErrNotification)
}

// Notified makes the checks of the watched bases that pushes name due now
// and wakes the loop; it returns the references made due. A push matches a
// watched reference by repository path and tag ("library/" left out for
// Docker Hub's official images); the host is not compared, since a registry
// knows itself by the name it was reached at, which need not be the one in
// the Dockerfile (a proxy, a mirror, an internal name).
func (w *Watcher) Notified(ctx context.Context, pushes []Push) ([]string, error) {
	if len(pushes) == 0 {
		return nil, nil
	}
	checks, err := w.opts.Store.BaseChecks(ctx)
	if err != nil {
		return nil, err
	}
	var refs []string
	for _, c := range checks {
		path, tag, ok := pathAndTag(c.Ref)
		if !ok {
			continue
		}
		for _, p := range pushes {
			if p.Tag == tag && strings.TrimPrefix(p.Repository, "library/") == path {
				refs = append(refs, c.Ref)
				break
			}
		}
	}
	if len(refs) == 0 {
		return nil, nil
	}
	if _, err := w.CheckNow(ctx, refs); err != nil {
		return nil, err
	}
	w.log.Info().Strs("bases", refs).Msg("base images: a registry notified a push: checking now")
	return refs, nil
}

// pathAndTag are ref's repository path (without Docker Hub's "library/")
// and tag.
func pathAndTag(ref string) (string, string, bool) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", "", false
	}
	tagged, ok := reference.TagNameOnly(named).(reference.Tagged)
	if !ok {
		return "", "", false
	}
	return strings.TrimPrefix(reference.Path(named), "library/"), tagged.Tag(), true
}

// Package notify tells people about build outcomes: when a build ends it
// works out the events (failed, fixed, rolled_back, deployed,
// schedule_failed) and queues one message per subscribed target in the
// store (Notifier.Finished); a background loop (Notifier.Run) sends them,
// retrying with backoff until each one's deadline (1 h), so a restart or a
// receiver that is down for a while loses nothing, and a build never waits
// for a send. Each attempt's outcome is appended to the build's log and
// counted in slipway_notifications_total.
//
// Targets are webhooks (the build result's JSON plus "event", signed
// X-Slipway-Signature-256: sha256=<hex HMAC-SHA256 of the body>, as GitHub
// signs its deliveries) and Slack incoming webhooks.
package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/store"
)

// SignatureHeader carries a webhook message's signature.
const SignatureHeader = "X-Slipway-Signature-256"

// Defaults of Options.
const (
	DefaultMaxAge     = time.Hour
	DefaultPoll       = time.Second
	DefaultMinBackoff = 2 * time.Second
	DefaultMaxBackoff = 5 * time.Minute
	// sendTimeout bounds one POST.
	sendTimeout = 15 * time.Second
)

// Store is what the Notifier keeps its queue in and reads history from;
// *store.Store implements it.
type Store interface {
	QueueNotification(ctx context.Context, n store.Notification) (store.Notification, error)
	ClaimNotifications(ctx context.Context, now time.Time, hold time.Duration, limit int) ([]store.Notification, error)
	FinishNotification(ctx context.Context, id int64, status string, attempts int, next time.Time, lastErr string) error
	ListBuilds(ctx context.Context, f store.Filter) ([]store.Build, error)
	AppendLog(ctx context.Context, id int64, p []byte) error
}

// Options tune a Notifier; zero values take the stated defaults.
type Options struct {
	// Client sends the messages. Default: an http.Client.
	Client *http.Client
	// MaxAge is how long a message is retried. Default DefaultMaxAge (1h).
	MaxAge time.Duration
	// Poll is how often the queue is checked. Default DefaultPoll (1s).
	Poll time.Duration
	// MinBackoff and MaxBackoff bound the wait between attempts, doubling
	// from MinBackoff. Defaults 2s and 5m.
	MinBackoff, MaxBackoff time.Duration
	Logger                 zerolog.Logger
	Now                    func() time.Time
}

// Notifier queues and sends the notifications of a config's notify:
// targets. It is safe for concurrent use.
type Notifier struct {
	targets []config.Notify
	public  string
	st      Store
	o       Options
	sent    *prometheus.CounterVec
}

// New returns a Notifier of cfg's notify targets.
func New(cfg *config.Config, st Store, o Options) *Notifier {
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Notifier{targets: cfg.Notify, public: strings.TrimSuffix(cfg.PublicURL, "/"), st: st, o: o,
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slipway_notifications_total",
			Help: "Notification send attempts by target, event and outcome (sent, retry: will be tried again, failed: given up).",
		}, []string{"target", "event", "outcome"})}
}

// Metrics is the Notifier's counter of send attempts
// (slipway_notifications_total), for a Prometheus registry.
func (n *Notifier) Metrics() *prometheus.CounterVec { return n.sent }

// Printer is a build log.
type Printer interface {
	Printf(format string, args ...any)
}

// Finished queues the messages of a build that ended, one per target and
// event the target asks for, and says so in log. It never fails: a
// problem is written to log.
func (n *Notifier) Finished(ctx context.Context, b store.Build, log Printer) {
	if len(n.targets) == 0 || !store.Finished(b.Status) {
		return
	}
	events, err := n.events(ctx, b)
	if err != nil {
		log.Printf("notify: %v (no notification sent)", err)
		return
	}
	for _, t := range n.targets {
		if !projectMatches(t.Projects, b.Project) {
			continue
		}
		for _, e := range subscribed(t.On, events) {
			body, err := message(t, e, b, n.public)
			if err != nil {
				log.Printf("notify: %s: %v", t.Name, err)
				continue
			}
			now := n.o.Now()
			if _, err := n.st.QueueNotification(ctx, store.Notification{Target: t.Name, Event: e, Build: b.ID, Body: string(body), NextAt: now, Deadline: now.Add(n.o.MaxAge)}); err != nil {
				log.Printf("notify: %s: %v", t.Name, err)
				continue
			}
			log.Printf("notify: %s queued for %s", e, t.Name)
		}
	}
}

// events are the build's events, most specific failure first.
func (n *Notifier) events(ctx context.Context, b store.Build) ([]string, error) {
	switch b.Status {
	case store.StatusFailed:
		var out []string
		if slices.ContainsFunc(b.Deploys, func(d store.Deploy) bool { return d.Status == "rolled_back" }) {
			out = append(out, config.EventRolledBack)
		}
		if b.Schedule != "" {
			out = append(out, config.EventScheduleFailed)
		}
		return append(out, config.EventFailed), nil
	case store.StatusSucceeded:
		var out []string
		prev, err := n.previous(ctx, b)
		if err != nil {
			return nil, err
		}
		if prev == store.StatusFailed {
			out = append(out, config.EventFixed)
		}
		if len(b.Deploys) > 0 && !slices.ContainsFunc(b.Deploys, func(d store.Deploy) bool { return d.Status != "converged" }) {
			out = append(out, config.EventDeployed)
		}
		return out, nil
	}
	return nil, nil
}

// previous is the status of the last build of the same project and ref
// before b that succeeded or failed ("" when none).
func (n *Notifier) previous(ctx context.Context, b store.Build) (store.Status, error) {
	bs, err := n.st.ListBuilds(ctx, store.Filter{Project: b.Project, Ref: b.Ref, BeforeID: b.ID, Limit: 50})
	if err != nil {
		return "", fmt.Errorf("read the builds before %d: %w", b.ID, err)
	}
	for _, p := range bs {
		if p.Status == store.StatusSucceeded || p.Status == store.StatusFailed {
			return p.Status, nil
		}
	}
	return "", nil
}

// subscribed filters events by a target's on: list (all when empty). Of
// the failure events (rolled_back, schedule_failed, failed, in that order)
// a target gets only the first it asks for: one message per failed build.
func subscribed(on, events []string) []string {
	var out []string
	failure := false
	for _, e := range events {
		if len(on) > 0 && !slices.Contains(on, e) {
			continue
		}
		isFailure := e == config.EventFailed || e == config.EventRolledBack || e == config.EventScheduleFailed
		if isFailure && failure {
			continue
		}
		failure = failure || isFailure
		out = append(out, e)
	}
	return out
}

func projectMatches(patterns []string, project string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if ok, err := path.Match(p, project); err == nil && ok {
			return true
		}
	}
	return false
}

// message is the body sent to t for event of b.
func message(t config.Notify, event string, b store.Build, public string) ([]byte, error) {
	if t.Kind == config.NotifySlack {
		return json.Marshal(map[string]string{"text": slackText(event, b, public)})
	}
	raw, err := json.Marshal(b)
	if err != nil {
		return nil, err
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, err
	}
	obj["event"], _ = json.Marshal(event)
	return json.Marshal(obj)
}

func slackText(event string, b store.Build, public string) string {
	commit := b.Commit
	if len(commit) > 12 {
		commit = commit[:12]
	}
	ref := strings.TrimPrefix(strings.TrimPrefix(b.Ref, "refs/heads/"), "refs/tags/")
	text := fmt.Sprintf("slipway: %s %s of %s@%s (%s): %s", b.Project, strings.ReplaceAll(event, "_", " "), ref, commit, b.Status, orDash(b.Error))
	if public != "" {
		text += fmt.Sprintf(" <%s/builds/%d|build %d>", public, b.ID, b.ID)
	} else {
		text += fmt.Sprintf(" (build %d)", b.ID)
	}
	return text
}

func orDash(s string) string {
	if s == "" {
		return "ok"
	}
	return s
}

// Sign returns the X-Slipway-Signature-256 value of body under secret.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Run sends due notifications every Poll until ctx ends; with no notify
// targets it returns at once (messages queued under another config wait).
func (n *Notifier) Run(ctx context.Context) {
	if len(n.targets) == 0 {
		return
	}
	tick := time.NewTicker(n.o.Poll)
	defer tick.Stop()
	for {
		n.sendDue(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// sendDue claims and sends the notifications due now.
func (n *Notifier) sendDue(ctx context.Context) {
	due, err := n.st.ClaimNotifications(ctx, n.o.Now(), sendTimeout+30*time.Second, 20)
	if err != nil {
		if ctx.Err() == nil {
			n.o.Logger.Warn().Err(err).Msg("notify: claim due notifications")
		}
		return
	}
	for _, m := range due {
		n.attempt(ctx, m)
	}
}

// attempt sends m once and records the outcome.
func (n *Notifier) attempt(ctx context.Context, m store.Notification) {
	i := slices.IndexFunc(n.targets, func(t config.Notify) bool { return t.Name == m.Target })
	attempts := m.Attempts + 1
	var sendErr error
	if i < 0 {
		sendErr = fmt.Errorf("notify target %q is no longer configured", m.Target)
	} else {
		sendErr = n.send(ctx, n.targets[i], []byte(m.Body))
	}
	if ctx.Err() != nil && sendErr != nil {
		return // shutting down: the hold expires and the next start sends it
	}
	now := n.o.Now()
	status, outcome, next, line := store.NotificationSent, "sent", now, ""
	switch {
	case sendErr == nil:
		line = fmt.Sprintf("notify: %s sent to %s (attempt %d)", m.Event, m.Target, attempts)
	case i < 0 || !now.Add(n.backoff(attempts)).Before(m.Deadline):
		status, outcome = store.NotificationFailed, "failed"
		line = fmt.Sprintf("notify: %s to %s given up after %d attempts: %v", m.Event, m.Target, attempts, sendErr)
	default:
		status, outcome, next = store.NotificationPending, "retry", now.Add(n.backoff(attempts))
		line = fmt.Sprintf("notify: %s to %s, attempt %d failed: %v; next attempt in %s", m.Event, m.Target, attempts, sendErr, n.backoff(attempts))
	}
	lastErr := ""
	if sendErr != nil {
		lastErr = sendErr.Error()
	}
	wctx := context.WithoutCancel(ctx)
	if err := n.st.FinishNotification(wctx, m.ID, status, attempts, next, lastErr); err != nil {
		n.o.Logger.Warn().Err(err).Int64("notification", m.ID).Msg("notify: record the outcome")
	}
	n.sent.WithLabelValues(m.Target, m.Event, outcome).Inc()
	ev := n.o.Logger.Info()
	if sendErr != nil {
		ev = n.o.Logger.Warn().Str("error", lastErr)
	}
	ev.Str("target", m.Target).Str("event", m.Event).Int64("build", m.Build).Int("attempt", attempts).Str("outcome", outcome).Msg("notification")
	if m.Build > 0 {
		if err := n.st.AppendLog(wctx, m.Build, []byte(line+"\n")); err != nil {
			n.o.Logger.Warn().Err(err).Int64("build", m.Build).Msg("notify: append to the build log")
		}
	}
}

// backoff is the wait after the attempts-th failed attempt.
func (n *Notifier) backoff(attempts int) time.Duration {
	d := n.o.MinBackoff
	for i := 1; i < attempts && d < n.o.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, n.o.MaxBackoff)
}

// send POSTs body to t; an answer other than 2xx is an error naming its
// status (never the URL: a Slack URL is a secret).
func (n *Notifier) send(ctx context.Context, t config.Notify, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL.Value(), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build the request: the url is invalid")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "slipway-notify")
	if t.Kind == config.NotifyWebhook {
		req.Header.Set(SignatureHeader, Sign([]byte(t.Secret.Value()), body))
	}
	resp, err := n.o.Client.Do(req)
	if err != nil {
		return fmt.Errorf("POST to %s: %w", t.Name, unwrapURLError(err))
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	if resp.StatusCode/100 != 2 {
		msg := strings.Join(strings.Fields(string(snippet)), " ")
		if msg != "" {
			msg = ": " + msg
		}
		return fmt.Errorf("%s answered %s%s", t.Name, resp.Status, msg)
	}
	return nil
}

// unwrapURLError drops the *url.Error wrapper, whose text holds the URL.
func unwrapURLError(err error) error {
	type unwrapper interface{ Unwrap() error }
	if u, ok := err.(unwrapper); ok && strings.Contains(err.Error(), "://") {
		if inner := u.Unwrap(); inner != nil {
			return inner
		}
	}
	return err
}

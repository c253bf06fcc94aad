package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-github/v75/github"
	"github.com/rs/zerolog"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/internal/gitref"
	"github.com/slipwayci/slipway/store"
)

// Outcomes of a delivery, as passed to Metrics.Delivery and logged.
const (
	// OutcomeQueued: at least one new build was queued (202).
	OutcomeQueued = "queued"
	// OutcomeIgnored: a well-formed, correctly signed delivery that builds
	// nothing (200; 202 for an event type go-github does not know).
	OutcomeIgnored = "ignored"
	// OutcomeDuplicate: a redelivery of a recorded delivery ID, or a
	// delivery whose every build already exists (200).
	OutcomeDuplicate = "duplicate"
	// OutcomeBadSignature: missing or wrong X-Hub-Signature-256 (401).
	OutcomeBadSignature = "bad_signature"
	// OutcomeMalformed: a signed delivery with a missing header or a body
	// that does not parse (400).
	OutcomeMalformed = "malformed"
	// OutcomeTooLarge: a body over the size limit (413).
	OutcomeTooLarge = "too_large"
	// OutcomeError: the Queue failed; GitHub will redeliver (500).
	OutcomeError = "error"
	// OutcomeBusy: too many bodies were being received at once to make
	// room for this one in time (503, Retry-After).
	OutcomeBusy = "busy"
)

// Delivery is the record of one GitHub delivery handed to the Queue.
type Delivery struct {
	// ID is the X-GitHub-Delivery header (a GUID, unique per delivery and
	// repeated by redeliveries).
	ID string
	// Event is the X-GitHub-Event header.
	Event string
	// Outcome is OutcomeQueued when builds are passed along with the
	// delivery and OutcomeIgnored when none are. The Queue may record
	// OutcomeDuplicate instead when every build turns out to exist.
	Outcome string
	// Reason is Decision.Ignored: why the delivery builds nothing ("" when
	// it builds).
	Reason string
}

// Accepted is the Queue's answer to one delivery.
type Accepted struct {
	// Seen is true when the delivery ID was already recorded: nothing new
	// was recorded or queued.
	Seen bool
	// BuildIDs are the IDs of the builds queued by this call, in the order
	// of the builds passed.
	BuildIDs []int64
	// Duplicates are the IDs of existing builds returned instead of new
	// ones by the (project, ref, commit) deduplication.
	Duplicates []int64
}

// Queue is what the Handler needs from the pipeline and the store.
//
// Accept records the delivery and enqueues its builds atomically: either the
// delivery and every build are durably recorded, or nothing is and an error
// is returned (the Handler then answers 500 and GitHub redelivers). It is
// called for ignored deliveries too, with no builds, so that every accepted
// delivery is recorded. It deduplicates by d.ID (a recorded ID returns
// Seen and queues nothing) and by (Project, Ref, Commit) of each build (an
// existing build's ID goes to Duplicates instead of queueing another). The
// builds carry Project, Trigger, Ref, Commit, Image and Status (queued);
// Accept assigns ID and CreatedAt. Accept must be safe for concurrent use.
type Queue interface {
	Accept(ctx context.Context, d Delivery, builds []store.Build) (Accepted, error)
}

// Canceler is the optional ability of a Queue to cancel builds: the
// queued and running builds of ref of project (a closed pull request's).
// It returns the IDs of the builds it canceled. A Queue without it cancels
// nothing. It must be safe for concurrent use.
type Canceler interface {
	CancelRef(ctx context.Context, project, ref string) ([]int64, error)
}

// Metrics counts deliveries by outcome (the Outcome* constants). It is
// optional: a nil Metrics counts nothing. Delivery must be safe for
// concurrent use.
type Metrics interface {
	Delivery(outcome string)
}

// Handler serves `POST /hooks/github`. It is safe for concurrent use.
//
// For each request, in this order, it: refuses every method but POST (405);
// reads at most maxBody bytes of the body (413 beyond, without reading more
// than maxBody+1 bytes) once the memory budget of all unauthenticated bodies
// has room for it (503 with Retry-After when none frees up within 10 s; see
// bodyBudget); checks X-Hub-Signature-256 (sha256= only) against
// the exact body bytes in constant time (401, before any parsing); requires
// X-GitHub-Event (400); parses the event with github.ParseWebHook (400 on
// malformed JSON; an event type go-github does not know is answered 202
// with a reason and builds nothing); requires X-GitHub-Delivery (400); calls
// Decide, drops the branch pushes a project's path filter leaves out (see
// WithChanges; the answer's reason then starts with "paths"), and calls
// Queue.Accept once, even for ignored deliveries (500 on error). It answers JSON
//
//	{"delivery":"<id>","builds":[ids],"ignored":"<reason>","duplicate":false}
//
// with 202 when a new build was queued and 200 when the delivery was
// ignored (ping included) or a duplicate; errors are {"error":"..."}. The
// body may also be form-encoded (GitHub's "application/x-www-form-urlencoded"
// content type), in which case the JSON is its `payload` field; the
// signature is always checked over the raw body.
//
// It logs one line per request with the delivery ID, event, repository,
// ref, outcome, reason and build IDs; never headers, bodies or the secret.
type Handler struct {
	secret   []byte
	maxBody  int64
	projects []config.Project
	queue    Queue
	logger   zerolog.Logger
	metrics  Metrics
	bodies   *bodyBudget
	// changes and changesTimeout are WithChanges'.
	changes        Changes
	changesTimeout time.Duration
}

// NewHandler returns a Handler that verifies deliveries with secret, refuses
// bodies over maxBody bytes (config.GitHub.MaxPayload, 25 MiB by default),
// decides with projects (indexes in reasons refer to this slice, so pass the
// config's whole list) and records deliveries in q. m may be nil; opts add
// what is optional (WithChanges).
//
// An empty or whitespace-only secret is an error: go-github skips
// verification when both the secret and the signature are empty, and a
// guessable secret would let anyone start builds.
func NewHandler(secret config.Secret, maxBody int64, projects []config.Project, q Queue, logger zerolog.Logger, m Metrics, opts ...Option) (*Handler, error) {
	if strings.TrimSpace(secret.Value()) == "" {
		return nil, errors.New("webhook: github.webhook_secret is empty or only whitespace; set it to the secret of the GitHub webhook")
	}
	if maxBody <= 0 {
		return nil, fmt.Errorf("webhook: maximum body size must be positive, got %d", maxBody)
	}
	if q == nil {
		return nil, errors.New("webhook: nil Queue")
	}
	h := &Handler{
		secret:   []byte(secret.Value()),
		maxBody:  maxBody,
		projects: slices.Clone(projects),
		queue:    q,
		logger:   logger,
		metrics:  m,
		bodies:   newBodyBudget(maxBody),
	}
	for _, o := range opts {
		o(h)
	}
	return h, nil
}

// Signature returns the X-Hub-Signature-256 value GitHub sends for body
// signed with secret ("sha256=" and the hex HMAC-SHA256). It is meant for
// tests and tools that send deliveries.
func Signature(secret config.Secret, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret.Value()))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Response is the JSON answer to a delivery that was handled (2xx).
type Response struct {
	// Delivery echoes X-GitHub-Delivery.
	Delivery string `json:"delivery"`
	// Builds are the IDs of the builds queued for the delivery, new ones
	// first, then existing ones it was deduplicated onto. Never null.
	Builds []int64 `json:"builds"`
	// Ignored is why the delivery builds nothing, "" when it builds.
	Ignored string `json:"ignored"`
	// Duplicate is true for a redelivery, or when every build existed.
	Duplicate bool `json:"duplicate"`
}

// errorResponse is the JSON answer to a refused request.
type errorResponse struct {
	Delivery string `json:"delivery,omitempty"`
	Error    string `json:"error"`
}

// logLine gathers the fields of the one log line of a request.
type logLine struct {
	delivery, event, repo, ref string
	outcome, reason            string
	status                     int
	builds                     []int64
	err                        error
}

// Headers of a delivery, spelled as GitHub documents them (Header.Get
// canonicalises).
const (
	headerEvent     = "X-GitHub-Event"
	headerDelivery  = "X-GitHub-Delivery"
	headerSignature = "X-Hub-Signature-256"
)

const (
	// maxHeaderValue bounds the X-GitHub-Delivery and X-GitHub-Event values
	// accepted; GitHub's are GUIDs and short snake_case names.
	maxHeaderValue = 128
)

// ServeHTTP handles one delivery; see Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l := logLine{
		delivery: clip(r.Header.Get(headerDelivery)),
		event:    clip(r.Header.Get(headerEvent)),
	}
	defer h.log(&l)

	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		l.outcome, l.reason = "", "method "+clip(r.Method)+" not allowed"
		h.fail(w, &l, http.StatusMethodNotAllowed, "", "only POST is allowed")
		return
	}

	body, release, err := h.bodies.read(w, r)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) || errors.Is(err, errTooLarge) {
			h.fail(w, &l, http.StatusRequestEntityTooLarge, OutcomeTooLarge,
				fmt.Sprintf("body is larger than %d bytes", h.maxBody))
			return
		}
		if errors.Is(err, errBusy) {
			w.Header().Set("Retry-After", "10")
			h.fail(w, &l, http.StatusServiceUnavailable, OutcomeBusy, "too many deliveries are being received at once; retry later")
			return
		}
		l.err = err
		h.fail(w, &l, http.StatusBadRequest, OutcomeMalformed, "could not read the body")
		return
	}
	defer release()

	signature := r.Header.Get(headerSignature)
	if signature == "" {
		h.fail(w, &l, http.StatusUnauthorized, OutcomeBadSignature, "missing "+headerSignature+" header")
		return
	}
	// ValidateSignature also accepts sha1= and sha512= prefixes; only
	// HMAC-SHA256 is acceptable here.
	if !strings.HasPrefix(signature, "sha256=") || github.ValidateSignature(signature, body, h.secret) != nil {
		h.fail(w, &l, http.StatusUnauthorized, OutcomeBadSignature, headerSignature+" does not match the body")
		return
	}

	event := r.Header.Get(headerEvent)
	if !validEvent(event) {
		h.fail(w, &l, http.StatusBadRequest, OutcomeMalformed, "missing or malformed "+headerEvent+" header")
		return
	}

	payload, err := jsonPayload(r.Header.Get("Content-Type"), body)
	if err != nil {
		h.fail(w, &l, http.StatusBadRequest, OutcomeMalformed, "malformed body: "+err.Error())
		return
	}

	var decision Decision
	known := github.EventForType(event) != nil
	if known {
		parsed, err := github.ParseWebHook(event, payload)
		if err != nil {
			// The parse error is not logged: it may quote the body.
			h.fail(w, &l, http.StatusBadRequest, OutcomeMalformed, "malformed "+event+" payload")
			return
		}
		l.repo, l.ref = describe(parsed)
		decision = Decide(h.projects, event, parsed)
	} else {
		// GitHub may send event types this go-github version does not
		// know; they are well-formed deliveries that build nothing.
		if !json.Valid(payload) {
			h.fail(w, &l, http.StatusBadRequest, OutcomeMalformed, "malformed "+event+" payload")
			return
		}
		decision = ignore(notHandled(event))
	}

	delivery := r.Header.Get(headerDelivery)
	if !validDelivery(delivery) {
		h.fail(w, &l, http.StatusBadRequest, OutcomeMalformed, "missing or malformed "+headerDelivery+" header")
		return
	}
	if decision.Invalid != "" {
		h.fail(w, &l, http.StatusBadRequest, OutcomeMalformed, decision.Invalid)
		return
	}

	decision, notes := h.filterPaths(r.Context(), decision)
	if len(decision.Cancels) > 0 {
		reason, err := h.cancel(r.Context(), decision.Cancels)
		if err != nil {
			l.err = err
			h.fail(w, &l, http.StatusInternalServerError, OutcomeError, "could not cancel the builds; GitHub may redeliver it")
			return
		}
		decision.Ignored += reason
	}
	builds := h.builds(decision.Triggers)
	d := Delivery{ID: delivery, Event: event, Outcome: OutcomeQueued, Reason: decision.Ignored}
	if len(builds) == 0 {
		d.Outcome = OutcomeIgnored
	}
	l.reason = decision.Ignored
	if len(notes) > 0 && decision.Ignored == "" {
		l.reason = strings.Join(notes, "; ")
	}
	acc, err := h.queue.Accept(r.Context(), d, builds)
	if err != nil {
		l.err = err
		h.fail(w, &l, http.StatusInternalServerError, OutcomeError, "could not record the delivery; GitHub may redeliver it")
		return
	}

	resp := Response{
		Delivery:  delivery,
		Builds:    append(slices.Clone(acc.BuildIDs), acc.Duplicates...),
		Ignored:   decision.Ignored,
		Duplicate: acc.Seen || (len(builds) > 0 && len(acc.BuildIDs) == 0),
	}
	if resp.Builds == nil {
		resp.Builds = []int64{}
	}
	status, outcome := http.StatusOK, OutcomeIgnored
	switch {
	case resp.Duplicate:
		outcome = OutcomeDuplicate
	case len(acc.BuildIDs) > 0:
		status, outcome = http.StatusAccepted, OutcomeQueued
	case !known:
		status = http.StatusAccepted
	}
	l.builds = resp.Builds
	h.answer(w, &l, status, outcome, resp)
}

// cancel ends the builds of cancels and says which in the reason's
// tail (": canceled build 4", ": no build to cancel").
func (h *Handler) cancel(ctx context.Context, cancels []Cancel) (string, error) {
	c, ok := h.queue.(Canceler)
	if !ok {
		return "", nil
	}
	var ids []string
	for _, cn := range cancels {
		got, err := c.CancelRef(ctx, cn.Project, cn.Ref)
		if err != nil {
			return "", fmt.Errorf("cancel the builds of %s of project %s: %w", cn.Ref, cn.Project, err)
		}
		for _, id := range got {
			ids = append(ids, strconv.FormatInt(id, 10))
		}
	}
	switch len(ids) {
	case 0:
		return ": no build to cancel", nil
	case 1:
		return ": canceled build " + ids[0], nil
	}
	return ": canceled builds " + strings.Join(ids, ", "), nil
}

// jsonPayload returns the JSON of a delivery body: the body itself, or its
// `payload` field when GitHub sends it form-encoded.
func jsonPayload(contentType string, body []byte) ([]byte, error) {
	if contentType == "" {
		return body, nil
	}
	mediaType, _, err := mime.ParseMediaType(contentType)
	if err != nil || mediaType != "application/x-www-form-urlencoded" {
		return body, nil
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, errors.New("form-encoded body does not parse")
	}
	payload := form.Get("payload")
	if payload == "" {
		return nil, errors.New("form-encoded body has no payload field")
	}
	return []byte(payload), nil
}

// builds turns triggers into queued build records.
func (h *Handler) builds(triggers []Trigger) []store.Build {
	if len(triggers) == 0 {
		return nil
	}
	builds := make([]store.Build, 0, len(triggers))
	for _, t := range triggers {
		b := store.Build{
			Project:   t.Project,
			Trigger:   t.Trigger,
			Ref:       t.Ref,
			Commit:    t.Commit,
			Status:    store.StatusQueued,
			Untrusted: t.Untrusted,
		}
		for i := range h.projects {
			if h.projects[i].Name == t.Project {
				b.Image = h.projects[i].Image
				break
			}
		}
		builds = append(builds, b)
	}
	return builds
}

// describe returns the repository full name and ref of a parsed event, for
// the log line.
func describe(event any) (repo, ref string) {
	switch e := event.(type) {
	case *github.PushEvent:
		return e.GetRepo().GetFullName(), e.GetRef()
	case *github.CreateEvent:
		return e.GetRepo().GetFullName(), e.GetRef()
	case *github.DeleteEvent:
		return e.GetRepo().GetFullName(), e.GetRef()
	case *github.PullRequestEvent:
		if n := e.GetNumber(); n > 0 {
			return e.GetRepo().GetFullName(), gitref.Pull(n).String()
		}
		return e.GetRepo().GetFullName(), ""
	case interface{ GetRepo() *github.Repository }:
		return e.GetRepo().GetFullName(), ""
	}
	return "", ""
}

func (h *Handler) fail(w http.ResponseWriter, l *logLine, status int, outcome, msg string) {
	delivery := ""
	if validDelivery(l.delivery) { // a clipped ID is never valid
		delivery = l.delivery
	}
	h.answer(w, l, status, outcome, errorResponse{Delivery: delivery, Error: msg})
	if l.reason == "" {
		l.reason = msg
	}
}

func (h *Handler) answer(w http.ResponseWriter, l *logLine, status int, outcome string, v any) {
	l.status, l.outcome = status, outcome
	if outcome != "" && h.metrics != nil {
		h.metrics.Delivery(outcome)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	// The client may be gone; there is nobody left to tell.
	_ = json.NewEncoder(w).Encode(v)
}

// log writes the request's one log line.
func (h *Handler) log(l *logLine) {
	var e *zerolog.Event
	switch {
	case l.status >= 500:
		e = h.logger.Error().AnErr("error", l.err)
	case l.status >= 400:
		e = h.logger.Warn()
		if l.err != nil {
			e = e.AnErr("error", l.err)
		}
	default:
		e = h.logger.Info()
	}
	e.Str("delivery", l.delivery).
		Str("event", l.event).
		Str("repository", l.repo).
		Str("ref", l.ref).
		Str("outcome", l.outcome).
		Str("reason", l.reason).
		Ints64("builds", l.builds).
		Int("status", l.status).
		Msg("github delivery")
}

// clip bounds an unauthenticated header value before it is logged.
func clip(s string) string {
	if len(s) > maxHeaderValue {
		return s[:maxHeaderValue] + "…"
	}
	return s
}

// validEvent reports whether s looks like a GitHub event name.
func validEvent(s string) bool {
	if s == "" || len(s) > maxHeaderValue {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// validDelivery reports whether s can be a delivery ID: 1 to 128 printable
// ASCII characters without spaces (GitHub sends GUIDs).
func validDelivery(s string) bool {
	if s == "" || len(s) > maxHeaderValue {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

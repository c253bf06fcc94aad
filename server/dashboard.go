package server

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	units "github.com/docker/go-units"

	"github.com/slipwayci/slipway/basewatch"
	"github.com/slipwayci/slipway/builders"
	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/internal/gitref"
	"github.com/slipwayci/slipway/pipeline"
	"github.com/slipwayci/slipway/schedules"
	"github.com/slipwayci/slipway/store"
)

// ui holds the dashboard's templates and static files; it is read-only.
//
//go:embed ui
var ui embed.FS

// Dashboard limits and names.
const (
	// sessionCookie is the dashboard's login cookie (dashboard_auth: token).
	sessionCookie = "slipway_session"
	// sessionTTL bounds a login. The key outlives restarts and is shared
	// by replicas (session_secret_file, or the database's key).
	sessionTTL = 12 * time.Hour
	// pageSize is the number of builds per page of the builds list.
	pageSize = 50
	// projectHistory is how many recent builds of a project the projects
	// page looks at for the last build per branch, tag and schedule.
	projectHistory = store.MaxLimit
)

// contentSecurityPolicy allows only the dashboard's own script and style:
// even markup that slipped through escaping could not run script.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// dashboard serves the server-rendered pages. Its fields are set once by
// mountDashboard and only read afterwards.
type dashboard struct {
	h      *handler
	pages  map[string]*template.Template
	static http.Handler
	// key signs session cookies: HandlerDeps.SessionKey, else random per
	// process.
	key []byte
	now func() time.Time
	// origin refuses cross-origin browser requests (sameOrigin).
	origin *http.CrossOriginProtection
}

// mountDashboard adds the dashboard's routes to mux:
//
//	GET  /                 projects, last build per branch, tag and schedule
//	GET  /builds           builds list (?project= &status= &ref= &before=)
//	GET  /builds/{id}      one build, its log live while it runs
//	GET  /builds/{id}/log  the log as text/plain (?follow=1 streams)
//	GET  /builders         the builders: health, labels, running builds, disk
//	GET  /deployments      what each deployed service runs, drift, history
//	GET  /login, POST /login, POST /logout   (dashboard_auth: token)
//	GET  /static/...       CSS and JavaScript
//
// Pages are readable as the API is (dashboard_auth); with "token" a Bearer
// token or the login cookie is needed. Writes go from the browser to the API
// with the login session and its CSRF token (dashwrite.go), else with a
// token the user types in.
func (h *handler) mountDashboard(mux *http.ServeMux) {
	d := h.dash
	mux.Handle("GET /static/", d.static)
	mux.HandleFunc("GET /{$}", d.page(d.projects))
	mux.HandleFunc("GET /builds", d.page(d.builds))
	mux.HandleFunc("GET /builds/{id}", d.page(d.build))
	mux.HandleFunc("GET /builds/{id}/log", d.guard(h.buildLog))
	if h.Builders != nil {
		mux.HandleFunc("GET /builders", d.page(d.builders))
	}
	if h.Deployments != nil {
		mux.HandleFunc("GET /deployments", d.page(d.deployments))
	}
	mux.HandleFunc("GET /login", d.loginForm)
	// The session cookie is SameSite=Strict, but another site's form can
	// still log a browser out, or in with the attacker's token: every
	// state-changing dashboard route refuses cross-origin requests.
	mux.Handle("POST /login", d.origin.Handler(http.HandlerFunc(d.login)))
	mux.Handle("POST /logout", d.origin.Handler(http.HandlerFunc(d.logout)))
}

// sameOrigin refuses cross-origin browser requests (Sec-Fetch-Site, else
// Origin against Host) with 403. public_url's origin is trusted too, for a
// proxy that rewrites Host. Requests without either header (curl, scripts)
// pass: they carry no ambient cookie a forgery could ride on.
func (d *dashboard) sameOrigin() *http.CrossOriginProtection {
	c := http.NewCrossOriginProtection()
	if u, err := url.Parse(d.h.cfg.PublicURL); err == nil && u.Scheme != "" && u.Host != "" {
		// A malformed origin is only a missed exception: public_url is
		// validated with the config.
		_ = c.AddTrustedOrigin(u.Scheme + "://" + u.Host)
	}
	c.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.h.Logger.Warn().Str("remote", r.RemoteAddr).Str("path", r.URL.Path).Msg("dashboard: cross-origin request refused")
		d.errorPage(w, r, http.StatusForbidden, "cross-origin request refused: use the form on this dashboard's own pages")
	}))
	return c
}

// newDashboard parses the embedded templates; a template that does not parse
// is a bug caught by the package's tests, hence the panic.
func newDashboard(h *handler, now func() time.Time) *dashboard {
	key := h.SessionKey
	if len(key) == 0 {
		key = make([]byte, 32)
		rand.Read(key) // never fails (crypto/rand, Go 1.24+)
	}
	d := &dashboard{h: h, key: key, now: now, pages: map[string]*template.Template{}}
	d.origin = d.sameOrigin()
	funcs := d.funcs()
	for _, page := range []string{"projects", "builds", "build", "builders", "deployments", "login", "error"} {
		d.pages[page] = template.Must(template.New(page).Funcs(funcs).ParseFS(ui, "ui/layout.html", "ui/"+page+".html"))
	}
	static, err := fs.Sub(ui, "ui/static")
	if err != nil {
		panic(err)
	}
	files := http.StripPrefix("/static/", http.FileServerFS(static))
	d.static = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})
	return d
}

// funcs are the template functions. None returns template.HTML: every value
// that reaches a page is escaped by html/template.
func (d *dashboard) funcs() template.FuncMap {
	return template.FuncMap{
		"ago":         func(t time.Time) string { return relTime(t, d.now()) },
		"rfc3339":     func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"abstime":     func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
		"short":       shortCommit,
		"shortDigest": shortDigest,
		"refName":     refName,
		"refKind":     refKind,
		"ms":          func(ms int64) string { return formatDuration(time.Duration(ms) * time.Millisecond) },
		"took":        func(b store.Build) string { return buildDuration(b, d.now()) },
		"stageTook":   func(st store.Stage) string { return stageDuration(st, d.now()) },
		"rfc3339nano": func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) },
		"clock":       func(t time.Time) string { return t.UTC().Format("15:04:05") },
		"stopped":     func(s store.Status) bool { return s == store.StatusCanceled || s == store.StatusSuperseded },
		"icon":        anyStatus(statusIcon),
		"statusClass": anyStatus(statusClass),
		"commitURL":   d.commitURL,
		"active":      func(s store.Status) bool { return s == store.StatusQueued || s == store.StatusRunning },
		"join":        strings.Join,
		"bytes":       func(n int64) string { return units.HumanSize(float64(n)) },
	}
}

// page wraps a page handler with read access: without it the browser is sent
// to the login form.
func (d *dashboard) page(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !d.canRead(r) {
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		next(w, r)
	}
}

// guard wraps a non-page route (the log the page fetches) with read access:
// without it the answer is 401.
func (d *dashboard) guard(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !d.canRead(r) {
			writeError(w, http.StatusUnauthorized, "log in first: a valid API token is required (dashboard_auth: token)")
			return
		}
		next(w, r)
	}
}

// canRead reports whether r may read: always with dashboard_auth public,
// else with a Bearer token or a valid session cookie.
func (d *dashboard) canRead(r *http.Request) bool {
	if !d.h.readAuth || d.h.authorized(r) {
		return true
	}
	_, ok := d.sessionToken(r)
	return ok
}

// sessionToken returns the API token r's session cookie was made for, when
// r carries a valid one.
func (d *dashboard) sessionToken(r *http.Request) (apiToken, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return apiToken{}, false
	}
	return d.validSession(c.Value)
}

// session returns a cookie value for the token with hash tokenHash, valid
// until expires: the expiry and an HMAC over it and the token's hash, under
// the per-process key. Neither the token nor its hash is in the cookie.
func (d *dashboard) session(tokenHash [32]byte, expires time.Time) string {
	exp := strconv.FormatInt(expires.Unix(), 10)
	return exp + "." + base64.RawURLEncoding.EncodeToString(d.sessionMAC(exp, tokenHash))
}

func (d *dashboard) sessionMAC(exp string, tokenHash [32]byte) []byte {
	m := hmac.New(sha256.New, d.key)
	m.Write([]byte("slipway-session\x00" + exp + "\x00"))
	m.Write(tokenHash[:])
	return m.Sum(nil)
}

// validSession returns the configured token value was made for by session,
// when it was and has not expired.
func (d *dashboard) validSession(value string) (apiToken, bool) {
	exp, macText, ok := strings.Cut(value, ".")
	if !ok {
		return apiToken{}, false
	}
	unix, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || !d.now().Before(time.Unix(unix, 0)) {
		return apiToken{}, false
	}
	mac, err := base64.RawURLEncoding.DecodeString(macText)
	if err != nil {
		return apiToken{}, false
	}
	var found apiToken
	match := false
	for _, t := range d.h.tokens {
		if hmac.Equal(mac, d.sessionMAC(exp, t.sum)) {
			found, match = t, true
		}
	}
	return found, match
}

type loginPage struct {
	basePage
	Next  string
	Error string
	// ReadAuth: reading needs the login (dashboard_auth: token), not only
	// writing.
	ReadAuth bool
}

func (d *dashboard) loginForm(w http.ResponseWriter, r *http.Request) {
	next := localPath(r.URL.Query().Get("next"))
	if _, ok := d.sessionToken(r); ok {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	d.render(w, http.StatusOK, "login", loginPage{basePage: d.base(r, "Log in"), Next: next, ReadAuth: d.h.readAuth})
}

// login checks the posted token and sets the session cookie.
func (d *dashboard) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	next := localPath(r.PostForm.Get("next"))
	tok, ok := matchToken(d.h.tokens, r.PostForm.Get("token"))
	if !ok {
		d.h.Logger.Warn().Str("remote", r.RemoteAddr).Msg("dashboard login with a wrong token")
		page := loginPage{basePage: d.base(r, "Log in"), Next: next, ReadAuth: d.h.readAuth, Error: "That token is not one of the API tokens (api_tokens_file)."}
		if len(d.h.tokens) == 0 {
			page.Error = "No API tokens are configured: set api_tokens_file to a file with one token per line."
		}
		d.render(w, http.StatusUnauthorized, "login", page)
		return
	}
	expires := d.now().Add(sessionTTL)
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    d.session(tok.sum, expires),
		Path:     "/",
		Expires:  expires,
		MaxAge:   int(sessionTTL / time.Second),
		HttpOnly: true,
		Secure:   d.secureCookies(r),
		SameSite: http.SameSiteStrictMode,
	})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (d *dashboard) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: d.secureCookies(r), SameSite: http.SameSiteStrictMode,
	})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// secureCookies reports whether the session cookie gets the Secure flag: on
// TLS connections and when public_url is https (behind a TLS proxy).
func (d *dashboard) secureCookies(r *http.Request) bool {
	return r.TLS != nil || strings.HasPrefix(d.h.cfg.PublicURL, "https://")
}

// localPath returns p when it is a path on this server, else "/": the login
// form's next must not send the browser elsewhere.
func localPath(p string) string {
	if p == "" || p[0] != '/' || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") || strings.ContainsAny(p, "\r\n") {
		return "/"
	}
	if u, err := url.Parse(p); err != nil || u.Scheme != "" || u.Host != "" {
		return "/"
	}
	return p
}

// basePage is what the layout needs.
type basePage struct {
	Title string
	// Nav is the active top-level section: "projects", "builds" or
	// "builders".
	Nav string
	// User names the token of the browser's login session ("" without
	// one): the header shows it with a sign-out button.
	User string
	// CSRF is the session's CSRF token, for the dashboard's writes
	// (dashwrite.go); "" without a session.
	CSRF string
	// CanLogin shows a log-in link when there is no session: tokens are
	// configured.
	CanLogin bool
	// Now is when the page was made.
	Now time.Time
}

func (d *dashboard) base(r *http.Request, title string) basePage {
	p := basePage{Title: title, Now: d.now(), CanLogin: len(d.h.tokens) > 0}
	if c, err := r.Cookie(sessionCookie); err == nil {
		if tok, ok := d.validSession(c.Value); ok {
			p.User, p.CSRF = tok.name, d.csrfToken(c.Value)
		}
	}
	return p
}

// render executes a page into memory first so a template error becomes a
// clean 500, then writes it with the dashboard's security headers.
func (d *dashboard) render(w http.ResponseWriter, code int, name string, data any) {
	var buf bytes.Buffer
	if err := d.pages[name].ExecuteTemplate(&buf, "layout", data); err != nil {
		d.h.Logger.Error().Err(err).Str("page", name).Msg("render dashboard page")
		http.Error(w, "could not render the page", http.StatusInternalServerError)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Content-Security-Policy", contentSecurityPolicy)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "same-origin")
	hdr.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

// errorPage is the dashboard's page of a failed request: the status, a
// short text and the way back, in the dashboard's look.
type errorPage struct {
	basePage
	Code    int
	Status  string
	Message string
}

// errorPage answers a page request that failed with a short text.
func (d *dashboard) errorPage(w http.ResponseWriter, r *http.Request, code int, msg string) {
	d.render(w, code, "error", errorPage{basePage: d.base(r, http.StatusText(code)), Code: code, Status: http.StatusText(code), Message: msg})
}

// notFound wraps the mux: a GET of a path no route has (and no API or hook
// path) gets the dashboard's 404 page instead of the mux's plain text. A
// method a route does not take is still answered 405 by the mux.
func (d *dashboard) notFound(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead || strings.HasPrefix(r.URL.Path, "/api/") || strings.HasPrefix(r.URL.Path, "/hooks/") {
			mux.ServeHTTP(w, r)
			return
		}
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		rec := &statusOnly{header: http.Header{}}
		mux.ServeHTTP(rec, r)
		if rec.code != http.StatusNotFound {
			// A redirect (a cleaned path) or a 405: answer as the mux did.
			for k, v := range rec.header {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.code)
			w.Write(rec.body.Bytes())
			return
		}
		d.errorPage(w, r, http.StatusNotFound, fmt.Sprintf("There is no page %s here.", r.URL.Path))
	})
}

// statusOnly records the answer of a handler that writes little: the mux's
// own 404, 405 and redirects.
type statusOnly struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (s *statusOnly) Header() http.Header { return s.header }

func (s *statusOnly) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
}

func (s *statusOnly) Write(p []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.body.Write(p)
}

// projectsPage is GET /.
type projectsPage struct {
	basePage
	Projects []projectView
}

type projectView struct {
	Name    string
	Image   string
	RepoURL string // web page of the repository, "" when unknown
	Refs    []refView
	// Schedules are the project's schedules with their next due time.
	Schedules []scheduleView
	// Bases are the images its default branch was last built on.
	Bases []basewatch.BaseStatus
}

// refView is a branch or tag with its newest build.
type refView struct {
	Ref     string
	Default bool
	Last    *store.Build // nil: never built
}

type scheduleView struct {
	Name     string
	Cron     string
	Timezone string
	Branch   string
	Next     time.Time
	NextErr  string
	// NextTags are the tags the next release pushes, as the pipeline
	// plans them; nil when unknown.
	NextTags []string
	Last     *store.Build
}

func (d *dashboard) projects(w http.ResponseWriter, r *http.Request) {
	page := projectsPage{basePage: d.base(r, "Projects")}
	page.Nav = "projects"
	views, err := d.projectViews(r.Context())
	if err != nil {
		d.h.Logger.Error().Err(err).Msg("dashboard: list projects")
		d.errorPage(w, r, http.StatusInternalServerError, "could not list builds")
		return
	}
	page.Projects = views
	d.render(w, http.StatusOK, "projects", page)
}

// projectViews are the configured projects as the projects page and GET
// /api/v1/projects show them: newest build per ref, schedules, bases.
func (d *dashboard) projectViews(ctx context.Context) ([]projectView, error) {
	var bases map[string][]basewatch.BaseStatus
	if d.h.Bases != nil {
		var err error
		if bases, err = d.h.Bases.Status(ctx); err != nil {
			return nil, fmt.Errorf("base images: %w", err)
		}
	}
	views := make([]projectView, 0, len(d.h.cfg.Projects))
	for i := range d.h.cfg.Projects {
		p := &d.h.cfg.Projects[i]
		builds, err := d.h.Builds.ListBuilds(ctx, store.Filter{Project: p.Name, Limit: projectHistory, NewestPerRef: true})
		if err != nil {
			return nil, fmt.Errorf("list the builds of %s: %w", p.Name, err)
		}
		v := d.projectView(p, builds, d.now())
		v.Bases = bases[p.Name]
		views = append(views, v)
	}
	return views, nil
}

// projectView groups a project's builds (newest first) into the newest
// build per ref and per schedule. The default branch is always listed, the
// other refs only once built.
func (d *dashboard) projectView(p *config.Project, builds []store.Build, now time.Time) projectView {
	v := projectView{Name: p.Name, Image: p.Image, RepoURL: d.repoURL(p.Name)}
	def := gitref.Branch(p.DefaultBranch).String()
	v.Refs = append(v.Refs, refView{Ref: def, Default: true})
	seen := map[string]int{def: 0}
	lastSchedule := map[string]*store.Build{}
	for i := range builds {
		b := &builds[i]
		if b.Trigger == store.TriggerSchedule {
			if _, ok := lastSchedule[b.Schedule]; !ok {
				lastSchedule[b.Schedule] = b
			}
			continue
		}
		j, ok := seen[b.Ref]
		if !ok {
			j = len(v.Refs)
			seen[b.Ref] = j
			v.Refs = append(v.Refs, refView{Ref: b.Ref})
		}
		if v.Refs[j].Last == nil {
			v.Refs[j].Last = b
		}
	}
	v.Schedules = scheduleViews(p, lastSchedule, now)
	for i := range v.Schedules {
		if sv := &v.Schedules[i]; sv.NextErr == "" {
			sv.NextTags = releaseTags(d.h.cfg, p, sv.Name, sv.Next)
		}
	}
	return v
}

// scheduleViews lists p's schedules with their next due time after now,
// as the scheduler computes it (schedules.Next), and their last release.
func scheduleViews(p *config.Project, last map[string]*store.Build, now time.Time) []scheduleView {
	var out []scheduleView
	for _, s := range p.Schedules {
		sv := scheduleView{Name: s.Name, Cron: s.Cron, Timezone: s.Timezone, Branch: s.Branch, Last: last[s.Name]}
		if sv.Branch == "" {
			sv.Branch = p.DefaultBranch
		}
		next, err := schedules.Next(s, now)
		if err != nil {
			sv.NextErr = err.Error()
		} else {
			sv.Next = next
		}
		out = append(out, sv)
	}
	return out
}

// buildsPage is GET /builds.
type buildsPage struct {
	basePage
	Builds   []store.Build
	Project  string
	Status   store.Status
	Ref      string
	Projects []string
	Statuses []store.Status
	// Older links to the next page; "" on the last.
	Older string
}

var buildStatuses = []store.Status{
	store.StatusQueued, store.StatusRunning, store.StatusSucceeded,
	store.StatusFailed, store.StatusCanceled, store.StatusSuperseded,
}

func (d *dashboard) builds(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.Filter{Project: q.Get("project"), Status: store.Status(q.Get("status")), Ref: q.Get("ref"), Limit: pageSize}
	if s := q.Get("before"); s != "" {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id < 1 {
			d.errorPage(w, r, http.StatusBadRequest, "before must be a build id")
			return
		}
		f.BeforeID = id
	}
	builds, err := d.h.Builds.ListBuilds(r.Context(), f)
	if err != nil {
		d.h.Logger.Error().Err(err).Msg("dashboard: list builds")
		d.errorPage(w, r, http.StatusInternalServerError, "could not list builds")
		return
	}
	page := buildsPage{
		basePage: d.base(r, "Builds"),
		Builds:   builds,
		Project:  f.Project,
		Status:   f.Status,
		Ref:      f.Ref,
		Statuses: buildStatuses,
	}
	page.Nav = "builds"
	for _, p := range d.h.cfg.Projects {
		page.Projects = append(page.Projects, p.Name)
	}
	if len(builds) == pageSize {
		older := url.Values{}
		for k, v := range map[string]string{"project": f.Project, "status": string(f.Status), "ref": f.Ref} {
			if v != "" {
				older.Set(k, v)
			}
		}
		older.Set("before", strconv.FormatInt(builds[len(builds)-1].ID, 10))
		page.Older = "/builds?" + older.Encode()
	}
	d.render(w, http.StatusOK, "builds", page)
}

// buildPage is GET /builds/{id}.
type buildPage struct {
	basePage
	Build store.Build
	// Live is set while the build may still write to its log.
	Live bool
}

func (d *dashboard) build(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		d.errorPage(w, r, http.StatusBadRequest, "build id must be a number")
		return
	}
	b, err := d.h.Builds.GetBuild(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		d.errorPage(w, r, http.StatusNotFound, fmt.Sprintf("no build %d", id))
		return
	}
	if err != nil {
		d.h.Logger.Error().Err(err).Int64("build", id).Msg("dashboard: read build")
		d.errorPage(w, r, http.StatusInternalServerError, "could not read the build")
		return
	}
	page := buildPage{basePage: d.base(r, fmt.Sprintf("Build %d · %s", b.ID, b.Project)), Build: b, Live: !store.Finished(b.Status)}
	page.Nav = "builds"
	d.render(w, http.StatusOK, "build", page)
}

// githubWeb is the web host of the configured GitHub: github.com for the
// public API, the Enterprise host (from api_url) otherwise.
func (d *dashboard) githubWeb() string {
	api := d.h.cfg.GitHub.APIURL
	u, err := url.Parse(api)
	if api == "" || err != nil || u.Host == "" || u.Host == "api.github.com" {
		return "https://github.com"
	}
	scheme := u.Scheme
	if scheme != "http" {
		scheme = "https"
	}
	return scheme + "://" + u.Host
}

// repoURL returns the repository's web page for a project with a github
// key, else "".
func (d *dashboard) repoURL(project string) string {
	p, err := d.h.cfg.Project(project)
	if err != nil || p.GitHub == "" {
		return ""
	}
	owner, name, ok := strings.Cut(p.GitHub, "/")
	if !ok || owner == "" || name == "" {
		return ""
	}
	return d.githubWeb() + "/" + url.PathEscape(owner) + "/" + url.PathEscape(name)
}

// commitURL returns the web page of a commit of project, "" when the
// project has no github key or commit is not a full hash.
func (d *dashboard) commitURL(project, commit string) string {
	repo := d.repoURL(project)
	if repo == "" || !isHex40(commit) {
		return ""
	}
	return repo + "/commit/" + commit
}

// shortCommit is the first 7 hex digits of a commit.
func shortCommit(c string) string {
	if len(c) > 7 {
		return c[:7]
	}
	return c
}

// releaseTags are the tags of p's release of schedule due at due, as
// pipeline.Plan computes them for the build; nil when it cannot.
func releaseTags(cfg *config.Config, p *config.Project, schedule string, due time.Time) []string {
	t := pipeline.Trigger{Kind: store.TriggerSchedule, Project: p.Name, Schedule: schedule, Due: due}
	plan, err := pipeline.Plan(cfg, t, due)
	if err != nil {
		return nil
	}
	return plan.TagNames()
}

// shortDigest is "sha256:" and the first 12 hex digits of a digest.
func shortDigest(dg string) string {
	algo, hex, ok := strings.Cut(dg, ":")
	if !ok || len(hex) <= 12 {
		return dg
	}
	return algo + ":" + hex[:12]
}

// refName is a ref without refs/heads/ or refs/tags/.
func refName(ref string) string { return gitref.Short(ref) }

// refKind is "branch", "tag" or "ref".
func refKind(ref string) string {
	switch {
	case gitref.IsBranch(ref):
		return "branch"
	case gitref.IsTag(ref):
		return "tag"
	}
	return "ref"
}

// anyStatus lets a status function of the templates take a build's or a
// stage's status (store.Status) as well as a deploy's (a string).
func anyStatus(f func(string) string) func(any) string {
	return func(s any) string { return f(fmt.Sprint(s)) }
}

// statusIcon is a symbol per status, so statuses differ without colour.
func statusIcon(status string) string {
	switch store.Status(status) {
	case store.StatusSucceeded:
		return "✓"
	case store.StatusFailed:
		return "✗"
	case store.StatusRunning:
		return "▶"
	case store.StatusQueued:
		return "…"
	case store.StatusCanceled:
		return "⊘"
	case store.StatusSuperseded:
		return "↷"
	case store.StatusSkipped:
		return "–"
	case "converged":
		return "✓"
	case "rolled_back":
		return "↶"
	}
	return "?"
}

// statusClass is the CSS class of a status; unknown statuses share one.
func statusClass(status string) string {
	switch store.Status(status) {
	case store.StatusSucceeded, store.StatusFailed, store.StatusRunning, store.StatusQueued,
		store.StatusCanceled, store.StatusSuperseded, store.StatusSkipped, "converged", "rolled_back":
		return "st-" + status
	}
	return "st-unknown"
}

// buildDuration is how long the build ran (so far, while running); "" when
// it has not started.
func buildDuration(b store.Build, now time.Time) string {
	if b.StartedAt == nil {
		return ""
	}
	end := now
	if b.FinishedAt != nil {
		end = *b.FinishedAt
	}
	return formatDuration(end.Sub(*b.StartedAt))
}

// stageDuration is how long a stage ran: so far while it runs (its record
// has no duration until it ends), else its recorded duration.
func stageDuration(st store.Stage, now time.Time) string {
	if st.Status == store.StatusRunning && st.StartedAt != nil {
		return formatDuration(now.Sub(*st.StartedAt))
	}
	return formatDuration(time.Duration(st.DurationMS) * time.Millisecond)
}

// formatDuration is a short human duration: "850ms", "1.2s", "42s",
// "3m 05s", "2h 07m".
func formatDuration(d time.Duration) string {
	switch {
	case d < 0:
		d = 0
		fallthrough
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	case d < 10*time.Second:
		return strconv.FormatFloat(float64(d/(100*time.Millisecond))/10, 'f', 1, 64) + "s"
	case d < time.Minute:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	case d < time.Hour:
		return fmt.Sprintf("%dm %02ds", int64(d/time.Minute), int64(d%time.Minute/time.Second))
	}
	return fmt.Sprintf("%dh %02dm", int64(d/time.Hour), int64(d%time.Hour/time.Minute))
}

// relTime says how far t is from now: "just now", "42s ago", "3m ago",
// "5h ago", "2d ago", "in 3h"; beyond 30 days the date.
func relTime(t, now time.Time) string {
	d := now.Sub(t)
	future := d < 0
	if future {
		d = -d
	}
	var s string
	switch {
	case d < 5*time.Second:
		return "just now"
	case d < time.Minute:
		s = strconv.FormatInt(int64(d/time.Second), 10) + "s"
	case d < time.Hour:
		s = strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	case d < 48*time.Hour:
		s = strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d < 30*24*time.Hour:
		s = strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	default:
		return t.UTC().Format("2006-01-02")
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

// buildersPage is the builders page: GET /api/v1/builders as a table.
type buildersPage struct {
	basePage
	Builders []builders.Status
}

func (d *dashboard) builders(w http.ResponseWriter, r *http.Request) {
	page := buildersPage{basePage: d.base(r, "Builders"), Builders: d.h.Builders.Status(r.Context())}
	page.Nav = "builders"
	d.render(w, http.StatusOK, "builders", page)
}

type deploymentsPage struct {
	basePage
	Services []pipeline.ServiceState
}

// deployments shows what each service of the deploy bindings runs, read
// from the swarm, and its history with a rollback button per earlier
// converged build.
func (d *dashboard) deployments(w http.ResponseWriter, r *http.Request) {
	states, err := d.h.Deployments.Deployments(r.Context())
	if err != nil {
		d.h.Logger.Error().Err(err).Msg("dashboard: deployments")
		d.errorPage(w, r, http.StatusInternalServerError, "could not read the deployments")
		return
	}
	page := deploymentsPage{basePage: d.base(r, "Deployments"), Services: states}
	page.Nav = "deployments"
	d.render(w, http.StatusOK, "deployments", page)
}

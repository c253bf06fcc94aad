package server_test

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/slipwayci/slipway/internal/fixture"
	"github.com/slipwayci/slipway/store"
)

// flashedBuild waits for the dashboard's confirmation of a queued build and
// returns the build it names; it fails the test when an error is shown or
// the token dialog opened.
func flashedBuild(t *testing.T, b *browser) int64 {
	t.Helper()
	flash := `document.getElementById('flash')`
	b.waitJS(30*time.Second, "a confirmation", flash+`.classList.contains('ok') || `+flash+`.classList.contains('error') || document.getElementById('token-dialog').open`,
		flash+`.outerHTML`)
	if eval[bool](b, `document.getElementById('token-dialog').open`) {
		t.Fatal("the dashboard asked for a token although the session is logged in")
	}
	msg := eval[string](b, flash+`.textContent`)
	var id int64
	if i := strings.Index(msg, "#"); i < 0 || !eval[bool](b, flash+`.classList.contains('ok')`) {
		t.Fatalf("the dashboard shows %q, want a queued build", msg)
	} else if _, err := fmt.Sscanf(msg[i:], "#%d", &id); err != nil {
		t.Fatalf("confirmation %q names no build: %v", msg, err)
	}
	return id
}

// sessionSubtests continue TestDashboardInBrowser (a public dashboard with
// one token, token-1) logged in: the session authorizes Rebuild, Build
// ref… and Cancel with no token prompt; Rebuild on a build page builds that
// build's commit; a running stage's timer counts; the log is grouped by
// stage; a page that does not exist is the styled 404. first is the world's
// first build, of a commit older than the branch's head.
func sessionSubtests(t *testing.T, b *browser, c *apiClient, w *fixture.World, first *store.Build) {
	t.Run("log in: the session authorizes writes", func(t *testing.T) {
		b.t = t
		b.open("/login")
		b.do("log in",
			chromedp.SendKeys(chromedp.CSS("#login-token"), apiToken),
			chromedp.Submit(chromedp.CSS("#login-form")),
		)
		b.waitJS(30*time.Second, "a page of the session", `location.pathname === '/' && !!document.querySelector('meta[name="csrf-token"]')`, `location.href + ' ' + document.body.innerText`)
		if got := eval[string](b, `document.querySelector('header .user')?.textContent || ''`); got != "token-1" {
			t.Errorf("the header names %q as logged in, want token-1", got)
		}
		b.do("forget any token of the tab", chromedp.Evaluate[chromedp.Void](`sessionStorage.clear()`))
	})

	t.Run("rebuild on a build page rebuilds its commit", func(t *testing.T) {
		b.t = t
		if first.ID == 0 {
			t.Fatal("no first build to rebuild")
		}
		head := strings.TrimSpace(w.Repo.Git(t, "rev-parse", "refs/heads/main"))
		if head == first.Commit {
			t.Fatalf("the branch's head is the first build's commit %s: the test cannot tell them apart", head)
		}
		b.open(fmt.Sprintf("/builds/%d", first.ID))
		b.do("click Rebuild", chromedp.Click(chromedp.CSS("#build-parts button.rebuild")))
		id := flashedBuild(t, b)
		got := c.build(id)
		if got.Commit != first.Commit || got.Ref != first.Ref || got.StartedBy != "dashboard:token-1" {
			t.Errorf("Rebuild of build %d queued %s started by %q, want commit %s of %s started by dashboard:token-1",
				first.ID, describe(got), got.StartedBy, first.Commit, first.Ref)
		}
		b.screenshot("rebuild-commit")
		if done := c.waitFinished(id, buildTimeout); done.Status != store.StatusSucceeded || done.Commit != first.Commit {
			t.Errorf("the rebuild: %s, want succeeded at %s", describe(done), first.Commit)
		}
	})

	t.Run("a finished build's log is grouped by stage", func(t *testing.T) {
		b.t = t
		b.open(fmt.Sprintf("/builds/%d", first.ID))
		sections := `document.querySelectorAll('#log details.log-section')`
		b.waitJS(30*time.Second, "the log's stage sections", sections+`.length >= 4 && !!`+sections+`[0].querySelector('summary time')`,
			`document.getElementById('log').innerHTML.slice(0, 2000)`)
		stages := eval[[]string](b, `Array.from(`+sections+`, d => d.dataset.stage)`)
		want := []string{}
		for _, st := range first.Stages {
			want = append(want, st.Name)
		}
		if strings.Join(stages, " ") != strings.Join(want, " ") {
			t.Errorf("log sections %v, want one per stage %v", stages, want)
		}
		summary := eval[string](b, sections+`[0].querySelector('summary').textContent`)
		if !regexp.MustCompile(`^source succeeded \d\d:\d\d:\d\d UTC \S+`).MatchString(summary) {
			t.Errorf("the first section's summary %q, want the stage, its status, start time and duration", summary)
		}
		if got := eval[string](b, `document.getElementById('log').lastElementChild.textContent`); !strings.Contains(got, "build succeeded after") {
			t.Errorf("the log's last block is %q, want the build's last line after the last stage", got)
		}
		if n := eval[int](b, `Array.from(`+sections+`).filter(d => d.open).length`); n != 0 {
			t.Errorf("%d sections of a succeeded build are open, want all folded", n)
		}
		testSection := `document.querySelector('#log details.log-section[data-stage="test"]')`
		b.do("open the test section", chromedp.Click(chromedp.CSS(`#log details.log-section[data-stage="test"] > summary`)))
		if !eval[bool](b, testSection+`.open && `+testSection+`.querySelector('pre').innerText.includes('tick 1')`) {
			t.Errorf("the opened test section does not show the test's output: %q", eval[string](b, testSection+`.innerText`))
		}
		b.screenshot("build-log-grouped")
	})

	t.Run("running stage timer, then Cancel with the session", func(t *testing.T) {
		b.t = t
		code, queued, body := c.createBuild("main", apiToken)
		if code != http.StatusAccepted {
			t.Fatalf("POST build: %d %s", code, body)
		}
		b.open(fmt.Sprintf("/builds/%d", queued.ID))
		timer := `document.querySelector('tr.stage-row[data-stage="test"][data-status="running"] .elapsed')`
		b.waitJS(buildTimeout, "the test stage running on the page", `!!`+timer, `document.getElementById('build-parts').innerText`)
		t1 := eval[string](b, timer+`.textContent`)
		b.waitJS(30*time.Second, "the stage timer to move on", timer+` && `+timer+`.textContent !== `+fmt.Sprintf("%q", t1), timer+`?.textContent`)
		t2 := eval[string](b, timer+`.textContent`)
		if t1 == "0ms" || t2 == "0ms" || !regexp.MustCompile(`^\d+(\.\d)?(ms|s)$|^\d+m \d\ds$`).MatchString(t2) {
			t.Errorf("running stage timer showed %q then %q, want a counting duration", t1, t2)
		}
		running := `document.querySelector('#log details.log-section[data-stage="test"]')`
		b.waitJS(30*time.Second, "the test section open with its output", running+`?.open && `+running+`.querySelector('pre').textContent.includes('tick')`,
			`document.getElementById('log').innerText`)
		if s := eval[string](b, running+`.querySelector('summary').textContent`); !strings.Contains(s, "running") {
			t.Errorf("the running section's summary %q does not say running", s)
		}
		b.screenshot("build-running-timer")

		b.do("click Cancel", chromedp.Click(chromedp.CSS("#build-parts button.cancel")))
		b.waitJS(30*time.Second, "the cancel confirmed", `document.getElementById('flash').classList.contains('ok') || document.getElementById('flash').classList.contains('error') || document.getElementById('token-dialog').open`,
			`document.getElementById('flash').outerHTML`)
		if eval[bool](b, `document.getElementById('token-dialog').open`) {
			t.Fatal("Cancel asked for a token although the session is logged in")
		}
		done := c.waitFinished(queued.ID, 30*time.Second)
		if done.Status != store.StatusCanceled || done.CanceledBy != "dashboard:token-1" || done.StartedBy != "token-1" {
			t.Errorf("after Cancel: %s started by %q canceled by %q, want canceled by dashboard:token-1, started by token-1", describe(done), done.StartedBy, done.CanceledBy)
		}
		b.waitJS(30*time.Second, "the page to show the cancel", `document.getElementById('build-status')?.dataset.status === 'canceled'`, `document.body.innerText`)
		if n := eval[int](b, `document.querySelectorAll('.build-error, .st-failed').length`); n != 0 {
			t.Errorf("the canceled build shows %d failure marks, want it shown neutral", n)
		}
		if got := eval[string](b, `document.querySelector('.build-note')?.innerText || ''`); !strings.Contains(got, "dashboard:token-1") {
			t.Errorf("the canceled build's note %q does not say who canceled it", got)
		}
		if got := eval[string](b, `document.querySelector('dd.started-by')?.textContent || ''`); got != "token-1" {
			t.Errorf("Started by shows %q, want token-1", got)
		}
		b.screenshot("build-canceled")
	})

	t.Run("Build ref form queues the ref", func(t *testing.T) {
		b.t = t
		b.open("/")
		b.do("build main",
			chromedp.Click(chromedp.CSS(`#project-fixture details.build-ref > summary`)),
			chromedp.SendKeys(chromedp.CSS(`#project-fixture form.build-ref-form input[name=ref]`), "main"),
			chromedp.Click(chromedp.CSS(`#project-fixture form.build-ref-form button[type=submit]`)),
		)
		id := flashedBuild(t, b)
		got := c.build(id)
		if got.Ref != "refs/heads/main" || got.StartedBy != "dashboard:token-1" {
			t.Errorf("Build ref queued %s started by %q, want refs/heads/main by dashboard:token-1", describe(got), got.StartedBy)
		}
		b.screenshot("build-ref")
		c.waitFinished(id, buildTimeout)
	})

	t.Run("Run now queues the schedule's release", func(t *testing.T) {
		b.t = t
		b.open("/")
		b.do("run yearly now", chromedp.Click(chromedp.CSS(`#project-fixture button.run-schedule[data-schedule="yearly"]`)))
		id := flashedBuild(t, b)
		got := c.build(id)
		if got.Trigger != store.TriggerSchedule || got.Schedule != "yearly" || got.StartedBy != "dashboard:token-1" {
			t.Errorf("Run now queued %s (schedule %q) started by %q, want a release of yearly by dashboard:token-1", describe(got), got.Schedule, got.StartedBy)
		}
		b.screenshot("run-schedule")
		c.waitFinished(id, buildTimeout)
	})

	t.Run("a page that does not exist", func(t *testing.T) {
		b.t = t
		b.open("/no/such/page")
		if got := eval[string](b, `document.querySelector('main .error-page h1')?.textContent || ''`); got != "Not Found" {
			t.Errorf("the 404 page's heading is %q, want Not Found: %s", got, eval[string](b, `document.body.innerText`))
		}
		if !eval[bool](b, `!!document.querySelector('header.top nav a[href="/builds"]')`) {
			t.Error("the 404 page lacks the dashboard's navigation")
		}
		b.screenshot("not-found")
	})
}

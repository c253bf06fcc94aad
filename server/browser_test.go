package server_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/docker/docker/api/types/image"

	"github.com/slipwayci/slipway/internal/fixture"
	"github.com/slipwayci/slipway/store"
)

// htmlBranch is a valid git branch name that is markup when not escaped.
const htmlBranch = "x<b>bold</b>"

// browser is a headless Chromium tab driven through the DevTools protocol.
type browser struct {
	t     *testing.T
	ctx   context.Context // the tab; actions derive their timeouts from it
	base  string
	shots string
	out   *bytes.Buffer
}

// chromium finds Debian's chromium (or another Chrome) and fails the test
// when there is none: the browser tests must not pass without a browser.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium found: install Debian's chromium package (apt-get install chromium) or run scripts/test-env.sh")
	return ""
}

// newBrowser starts headless Chromium with a new empty profile. The flags
// keep it off the network: with background networking, component updates,
// sync or QUIC it would try hosts the test machine cannot reach.
func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	profile, err := os.MkdirTemp("", "slipway-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(profile) })
	shots := os.Getenv("SLIPWAY_TEST_ARTIFACTS")
	if shots == "" {
		if shots, err = os.MkdirTemp("", "slipway-dashboard-screenshots-"); err != nil {
			t.Fatal(err)
		}
	} else if shots, err = filepath.Abs(filepath.Join(shots, "dashboard")); err != nil || os.MkdirAll(shots, 0o755) != nil {
		t.Fatalf("screenshot directory %s: %v", shots, err)
	}
	t.Logf("dashboard screenshots: %s", shots)

	out := &bytes.Buffer{}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.CombinedOutput(out),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		if t.Failed() {
			t.Logf("chromium output:\n%s", out.String())
		}
	})
	b := &browser{t: t, ctx: ctx, base: base, shots: shots, out: out}
	// The first run starts the browser; it must not carry a timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v\n%s", err, out.String())
	}
	return b
}

// do runs actions with a deadline.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %s: %v", what, err)
	}
}

// open navigates to path on the server and waits for the page's main.
func (b *browser) open(path string) {
	b.t.Helper()
	b.do("open "+path, chromedp.Navigate(b.base+path), chromedp.WaitReady(chromedp.CSS("main")))
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](b *browser, js string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		b.t.Fatalf("browser: evaluate %s: %v", js, err)
	}
	return v
}

// waitJS polls a boolean expression until it is true; describe is
// evaluated for the failure message.
func (b *browser) waitJS(timeout time.Duration, what, cond, describe string) {
	b.t.Helper()
	waitFor(b.t, timeout, what, func() (bool, string) {
		return eval[bool](b, cond), eval[string](b, describe)
	})
}

// screenshot saves the whole page as name.png in the artifacts directory.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("browser: screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// removeUntagged removes the images of w's repository that lost their tags
// to newer builds (fixture.RemoveImages only sees tagged ones).
func removeUntagged(w *fixture.World) {
	ctx := context.Background()
	imgs, err := w.Docker.ImageList(ctx, image.ListOptions{})
	if err != nil {
		return
	}
	for _, img := range imgs {
		for _, d := range img.RepoDigests {
			if strings.HasPrefix(d, w.Image+"@") {
				w.Docker.ImageRemove(ctx, img.ID, image.RemoveOptions{Force: true, PruneChildren: true})
				break
			}
		}
	}
}

// TestDashboardInBrowser drives the dashboard of a running slipway in
// headless Chromium: the builds list, a live log, Rebuild with and without
// a token and a branch name made of markup. The subtests share one world
// and run in order.
func TestDashboardInBrowser(t *testing.T) {
	w := newWorld(t, setup{
		Tokens: true,
		Fixture: fixture.Options{
			// Ticks until the test releases it: the log grows while the
			// test watches, however slow the machine.
			TestCommand: heldTest,
			Extra:       "dashboard_auth: public\n",
			// Never due while the test runs: released by hand only.
			ProjectExtra: "    schedules:\n      - {name: yearly, cron: \"0 0 1 1 *\"}\n",
		},
	})
	removeTestContainers(t, w)
	t.Cleanup(func() { removeUntagged(w) })
	c := serve(t, w, nil)
	c.held = w
	b := newBrowser(t, c.base)

	var first store.Build // the first build, of the first commit
	t.Run("builds list shows a finished build with its tags", func(t *testing.T) {
		b.t = t
		code, queued, body := c.createBuild("main", apiToken)
		if code != http.StatusAccepted {
			t.Fatalf("POST build: %d %s", code, body)
		}
		done := c.waitFinished(queued.ID, buildTimeout)
		first = done
		if done.Status != store.StatusSucceeded {
			t.Fatalf("build: %s, want succeeded", describe(done))
		}
		b.open("/builds")
		row := fmt.Sprintf(`document.querySelector('tr[data-build="%d"]')`, done.ID)
		text := eval[string](b, row+`.innerText`)
		for _, want := range append([]string{"succeeded", "#" + strconv.FormatInt(done.ID, 10), done.Commit[:7]}, done.Tags...) {
			if !strings.Contains(text, want) {
				t.Errorf("row of build %d lacks %q: %q", done.ID, want, text)
			}
		}
		if got := eval[[]string](b, `Array.from(`+row+`.querySelectorAll('li.tag'), e => e.textContent)`); strings.Join(got, " ") != strings.Join(done.Tags, " ") {
			t.Errorf("tags shown = %v, want %v", got, done.Tags)
		}
		b.screenshot("builds")

		// At phone width the list fits the screen: no sideways scrolling.
		b.do("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
		b.open("/builds")
		if w := eval[int](b, `document.documentElement.scrollWidth - window.innerWidth`); w > 0 {
			t.Errorf("at 390px the builds list is %dpx wider than the screen", w)
		}
		b.screenshot("builds-phone")
		b.do("desktop viewport", chromedp.EmulateViewport(1280, 900))
	})

	t.Run("build page shows the log of a running build growing", func(t *testing.T) {
		b.t = t
		// A new commit, so the build really runs its test instead of
		// finding an identical image.
		w.Repo.Commit(t, "main", map[string]string{"ctx/kept.txt": "watch the log\n"}, "second commit")
		code, queued, body := c.createBuild("main", apiToken)
		if code != http.StatusAccepted {
			t.Fatalf("POST build: %d %s", code, body)
		}
		b.open(fmt.Sprintf("/builds/%d", queued.ID))
		b.do("mark the page", chromedp.Evaluate[chromedp.Void](`window.slipwayMarker = "same page"`))
		// The log's text, without the stage sections' summaries.
		logText := `Array.from(document.querySelectorAll('#log pre.log-lines'), e => e.textContent).join('')`

		b.waitJS(buildTimeout, "tick 3 in the page's log", logText+`.includes('tick 3\n')`, logText)
		first := eval[string](b, logText)
		if st := c.build(queued.ID).Status; st != store.StatusRunning {
			t.Fatalf("build %d is %s after its log showed tick 3, want running", queued.ID, st)
		}
		b.waitJS(time.Minute, "the log to grow past tick 10", fmt.Sprintf(`%s.length > %d && %s.includes('tick 10\n')`, logText, len(first), logText), logText)
		second := eval[string](b, logText)
		if st := c.build(queued.ID).Status; st != store.StatusRunning {
			t.Fatalf("build %d is %s while its log grew, want running", queued.ID, st)
		}
		if !strings.HasPrefix(second, first) {
			t.Errorf("the log was rewritten instead of appended to:\nfirst:\n%s\nsecond:\n%s", first, second)
		}
		if got := eval[string](b, `String(window.slipwayMarker)`); got != "same page" {
			t.Fatalf("the page was reloaded while the log grew (marker %q)", got)
		}
		b.screenshot("build-running")

		done := c.waitFinished(queued.ID, buildTimeout)
		if done.Status != store.StatusSucceeded {
			t.Fatalf("build: %s, want succeeded", describe(done))
		}
		// When the log ends the page updates itself to the final state,
		// still without a reload.
		b.waitJS(30*time.Second, "the page to show the build succeeded",
			`document.getElementById('build-status')?.dataset.status === 'succeeded'`, `document.body.innerText`)
		if got := eval[string](b, `String(window.slipwayMarker)`); got != "same page" {
			t.Errorf("the page was reloaded to show the end of the build (marker %q)", got)
		}
		if n := eval[int](b, `document.querySelectorAll('#build-parts button.cancel').length`); n != 0 {
			t.Errorf("the finished build still shows %d Cancel buttons", n)
		}
		text := eval[string](b, `document.body.innerText`)
		for _, want := range []string{"tick 10", "released", "source", "build", "test", "push"} {
			if !strings.Contains(text, want) {
				t.Errorf("the finished build's page lacks %q", want)
			}
		}
		b.screenshot("build-finished")
	})

	rebuildMain := `button.rebuild[data-ref="refs/heads/main"]`

	t.Run("rebuild without a token shows the error", func(t *testing.T) {
		b.t = t
		before := len(c.builds())
		b.open("/")
		b.do("forget the token", chromedp.Evaluate[chromedp.Void](`sessionStorage.clear()`))
		b.do("click Rebuild", chromedp.Click(chromedp.CSS(rebuildMain)), chromedp.WaitVisible(chromedp.CSS("#token-input")))
		b.do("continue without a token", chromedp.Click(chromedp.CSS("#token-ok")))
		b.waitJS(30*time.Second, "an error message", `!document.getElementById('flash').hidden && document.getElementById('flash').classList.contains('error')`,
			`document.getElementById('flash').outerHTML`)
		msg := eval[string](b, `document.getElementById('flash').textContent`)
		if !strings.Contains(msg, "token") {
			t.Errorf("error shown = %q, want the API's message about the token", msg)
		}
		if got := eval[string](b, `document.getElementById('flash').getAttribute('role')`); got != "alert" {
			t.Errorf("the error's role = %q, want alert", got)
		}
		b.screenshot("rebuild-no-token")
		if after := len(c.builds()); after != before {
			t.Errorf("a refused rebuild changed the number of builds from %d to %d", before, after)
		}
	})

	t.Run("rebuild with a token queues a build", func(t *testing.T) {
		b.t = t
		before := c.builds()
		b.open("/")
		b.do("rebuild with the token",
			chromedp.Click(chromedp.CSS(rebuildMain)),
			chromedp.WaitVisible(chromedp.CSS("#token-input")),
			chromedp.SendKeys(chromedp.CSS("#token-input"), apiToken),
			chromedp.Click(chromedp.CSS("#token-ok")),
		)
		b.waitJS(30*time.Second, "a confirmation", `document.getElementById('flash').classList.contains('ok')`,
			`document.getElementById('flash').outerHTML`)
		msg := eval[string](b, `document.getElementById('flash').textContent`)
		var id int64
		if _, err := fmt.Sscanf(msg[strings.Index(msg, "#"):], "#%d", &id); err != nil {
			t.Fatalf("confirmation %q names no build: %v", msg, err)
		}
		after := c.builds()
		if len(after) != len(before)+1 || after[0].ID != id {
			t.Fatalf("after Rebuild the API lists %d builds (newest %s), want %d with build %d first", len(after), describe(after[0]), len(before)+1, id)
		}
		if got := after[0]; got.Trigger != store.TriggerManual || got.Ref != "refs/heads/main" {
			t.Errorf("rebuild queued %s, want a manual build of refs/heads/main", describe(got))
		}
		if eval[string](b, `sessionStorage.getItem('slipway.token')`) != apiToken {
			t.Errorf("the token was not kept for the tab")
		}
		b.screenshot("rebuild-queued")
		c.waitFinished(id, buildTimeout)
	})

	t.Run("a branch name with markup renders as text", func(t *testing.T) {
		b.t = t
		if out, err := exec.Command("git", "check-ref-format", "--branch", htmlBranch).CombinedOutput(); err != nil {
			t.Fatalf("git refuses the branch name %q: %v %s", htmlBranch, err, out)
		}
		w.Repo.Git(t, "branch", htmlBranch, "main")
		code, queued, body := c.createBuild(htmlBranch, apiToken)
		if code != http.StatusAccepted {
			t.Fatalf("POST build of %q: %d %s", htmlBranch, code, body)
		}
		c.waitFinished(queued.ID, buildTimeout)
		for _, page := range []string{"/", "/builds", fmt.Sprintf("/builds/%d", queued.ID)} {
			b.open(page)
			if n := eval[int](b, `document.querySelectorAll('main b').length`); n != 0 {
				t.Errorf("%s has %d <b> elements: the branch name became markup", page, n)
			}
			if !eval[bool](b, fmt.Sprintf(`document.querySelector('main').innerText.includes(%q)`, htmlBranch)) {
				t.Errorf("%s does not show the branch name %q as text", page, htmlBranch)
			}
		}
		b.screenshot("html-branch")
	})

	sessionSubtests(t, b, c, w, &first)
}

package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/slipwayci/slipway/basewatch"
	"github.com/slipwayci/slipway/internal/fixture"
	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/store"
)

// TestProjectsShowBases: GET /api/v1/projects and the dashboard list each
// project's bases with the digest built on and the last check; when a new
// digest of the base breaks the rebuild (its test fails), the base shows
// as outdated since the new digest was seen.
func TestProjectsShowBases(t *testing.T) {
	t.Parallel()
	w := newWorld(t, setup{Tokens: true, Fixture: fixture.Options{
		ProjectExtra: "    base_images: {watch: true, interval: 1s}\n",
	}})
	base := w.Reg.Host + "/" + testenv.Name(t, "base") + ":1"
	v1 := fixture.PushBase(t, w.Docker, base, map[string]string{"base-version": "1\n"})
	w.Repo.Commit(t, "main", map[string]string{
		"Dockerfile": "ARG BASE=" + base + "\nFROM $BASE\nCOPY app /app\nCOPY ctx/ /ctx/\nENTRYPOINT [\"/app\"]\n",
	}, "build on a base")
	c := serve(t, w, nil)
	code, b, body := c.createBuild("main", apiToken)
	if code != http.StatusAccepted {
		t.Fatalf("POST builds: %d %s", code, body)
	}
	if b = c.waitFinished(b.ID, 2*time.Minute); b.Status != store.StatusSucceeded {
		t.Fatalf("first build: %s", describe(b))
	}

	type projectJSON struct {
		Name string `json:"name"`
		Refs []struct {
			Ref       string       `json:"ref"`
			LastBuild *store.Build `json:"last_build"`
		} `json:"refs"`
		Schedules []json.RawMessage      `json:"schedules"`
		Bases     []basewatch.BaseStatus `json:"bases"`
	}
	projects := func() projectJSON {
		t.Helper()
		code, body := c.get("/api/v1/projects")
		var ps []projectJSON
		if code != http.StatusOK || json.Unmarshal(body, &ps) != nil || len(ps) != 1 {
			t.Fatalf("GET /api/v1/projects: %d %s", code, body)
		}
		return ps[0]
	}
	var p projectJSON
	waitFor(t, 30*time.Second, "the first check of the base", func() (bool, string) {
		p = projects()
		return len(p.Bases) == 1 && p.Bases[0].LastCheck != nil, fmt.Sprintf("%+v", p.Bases)
	})
	if got := p.Bases[0]; got.Ref != base || got.Digest != v1.Digest || got.Build != b.ID || !got.Watched || got.Latest != v1.Digest || got.OutdatedSince != nil {
		t.Errorf("base = %+v, want %s at %s built by %d, watched, up to date", got, base, v1.Digest, b.ID)
	}
	if len(p.Refs) != 1 || p.Refs[0].Ref != "refs/heads/main" || p.Refs[0].LastBuild == nil || p.Refs[0].LastBuild.ID != b.ID || p.Schedules == nil {
		t.Errorf("refs = %+v, schedules %v; want main last built by %d, schedules []", p.Refs, p.Schedules, b.ID)
	}
	if code, page := c.get("/"); code != http.StatusOK || !strings.Contains(string(page), base) || !strings.Contains(string(page), "up to date") {
		t.Errorf("dashboard: %d, the base or its state missing:\n%s", code, page)
	}

	// A new base on which the image no longer runs: /app becomes a
	// directory, so the rebuild's test fails.
	v2 := fixture.PushBase(t, w.Docker, base, map[string]string{"base-version": "2\n", "app/broken": "x\n"})
	var rebuild store.Build
	waitFor(t, 2*time.Minute, "a failed base_image rebuild", func() (bool, string) {
		for _, b := range c.builds() {
			if b.Trigger == store.TriggerBaseImage {
				rebuild = b
				return store.Finished(b.Status), describe(b)
			}
		}
		return false, "none"
	})
	if rebuild.Status != store.StatusFailed {
		t.Fatalf("rebuild on the broken base: %s, want failed", describe(rebuild))
	}
	p = projects()
	got := p.Bases[0]
	if got.Digest != v1.Digest || got.Latest != v2.Digest || got.OutdatedSince == nil || got.OutdatedSince.After(rebuild.CreatedAt) {
		t.Errorf("after the failed rebuild the base is %+v, want built on %s, latest %s, outdated since before %v", got, v1.Digest, v2.Digest, rebuild.CreatedAt)
	}
	if code, page := c.get("/"); code != http.StatusOK || !strings.Contains(string(page), "outdated since") {
		t.Errorf("dashboard after the failed rebuild: %d, no \"outdated since\":\n%s", code, page)
	}
}

// TestProjectsShowBaseCycle: project down is built FROM project fixture's
// image, then fixture FROM down's: the upstream chain is a cycle, which the
// watcher refuses to rebuild. GET /api/v1/projects names the cycle on the
// base of each project that closes it, and the dashboard's projects page
// says so; before the cycle, neither does.
func TestProjectsShowBaseCycle(t *testing.T) {
	t.Parallel()
	w := newWorld(t, setup{Tokens: true})
	downImage := w.Image + "-down"
	t.Cleanup(func() { fixture.RemoveImages(w.Docker, downImage) })
	f, err := os.OpenFile(w.ConfigPath(), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = fmt.Fprintf(f, "  - name: down\n    repo: %q\n    dockerfile: Dockerfile.down\n    image: %q\n", w.Repo.URL(), downImage)
	if err2 := f.Close(); err == nil {
		err = err2
	}
	if err != nil {
		t.Fatal(err)
	}
	w.Repo.Commit(t, "main", map[string]string{"Dockerfile.down": "FROM " + w.Image + ":main\nCOPY ctx/kept.txt /down.txt\n"}, "down on fixture")
	c := serve(t, w, nil)
	build := func(project string) {
		t.Helper()
		code, body := c.do(http.MethodPost, "/api/v1/projects/"+project+"/builds", apiToken, strings.NewReader(`{"ref":"main"}`),
			http.Header{"Content-Type": {"application/json"}})
		var b store.Build
		if code != http.StatusAccepted || json.Unmarshal(body, &b) != nil {
			t.Fatalf("POST builds of %s: %d %s", project, code, body)
		}
		if b = c.waitFinished(b.ID, 2*time.Minute); b.Status != store.StatusSucceeded {
			t.Fatalf("build of %s: %s", project, describe(b))
		}
	}
	// cycles maps "project base" to the cycle GET /api/v1/projects names.
	cycles := func() map[string]string {
		t.Helper()
		code, body := c.get("/api/v1/projects")
		var ps []struct {
			Name  string                 `json:"name"`
			Bases []basewatch.BaseStatus `json:"bases"`
		}
		if code != http.StatusOK || json.Unmarshal(body, &ps) != nil {
			t.Fatalf("GET /api/v1/projects: %d %s", code, body)
		}
		out := map[string]string{}
		for _, p := range ps {
			for _, b := range p.Bases {
				if b.Cycle != "" {
					out[p.Name+" "+b.Ref] = b.Cycle
				}
			}
		}
		return out
	}

	build("fixture")
	build("down")
	if got := cycles(); len(got) != 0 {
		t.Errorf("a chain without a cycle shows cycles %v", got)
	}
	if code, page := c.get("/"); code != http.StatusOK || strings.Contains(string(page), "upstream chain cycle") {
		t.Errorf("dashboard of a chain without a cycle: %d, mentions a cycle:\n%s", code, page)
	}

	w.Repo.Commit(t, "main", map[string]string{
		"Dockerfile": "FROM " + downImage + ":main AS down\nFROM scratch\nCOPY --from=down /app /app\nCOPY ctx/ /ctx/\nENTRYPOINT [\"/app\"]\n",
	}, "fixture on down")
	build("fixture")
	want := map[string]string{
		"down " + w.Image + ":main":      "down → fixture → down",
		"fixture " + downImage + ":main": "fixture → down → fixture",
	}
	if diff := cmp.Diff(want, cycles()); diff != "" {
		t.Errorf("the cycles of GET /api/v1/projects (project base: cycle), -want +got:\n%s", diff)
	}
	if code, page := c.get("/"); code != http.StatusOK || !strings.Contains(string(page), "upstream chain cycle fixture → down → fixture") {
		t.Errorf("dashboard: %d, does not name the cycle:\n%s", code, page)
	}
}

package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/internal/fixture"
	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/pipeline"
	"github.com/slipwayci/slipway/store"
)

// started reports whether a server's log says it started build id.
func started(logs *logBuffer, id int64) bool {
	for _, line := range strings.Split(logs.String(), "\n") {
		var rec struct {
			Build   int64  `json:"build"`
			Message string `json:"message"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Build == id && rec.Message == "build started" {
			return true
		}
	}
	return false
}

// TestReplicasOnPostgresBuildEachCommitOnce runs three `slipway serve`
// replicas (in-process, each with its own data_dir) on one PostgreSQL
// database and sends 30 signed deliveries round-robin: 10 pushes of 10
// branches, each delivered to one replica and redelivered (same
// X-GitHub-Delivery) to the two others. Every commit builds exactly once
// (started by exactly one replica, as their logs say), the redeliveries are duplicates and every
// replica shows the same history.
func TestReplicasOnPostgresBuildEachCommitOnce(t *testing.T) {
	const (
		replicas = 3
		pushes   = 10
	)
	database := testenv.StartPostgresForTest(t, testenv.PostgresOptions{}).NewDatabase(t)
	w := helloWorldWorld(t, setup{Concurrency: 2})
	commits := make([]string, pushes)
	bodies := make([][]byte, pushes)
	for i := range commits {
		branch := fmt.Sprint("r", i)
		commits[i] = w.Repo.Commit(t, branch, map[string]string{"ctx/n.txt": fmt.Sprint(i)}, fmt.Sprintf("commit %d", i))
		bodies[i] = bytes.Replace(pushOf(t, commits[i]), []byte(`"ref": "refs/heads/master"`), []byte(`"ref": "refs/heads/`+branch+`"`), 1)
	}
	dataDirs := make([]string, replicas)
	cs := make([]*apiClient, replicas)
	for r := range cs {
		dataDirs[r] = filepath.Join(t.TempDir(), fmt.Sprint("replica-", r))
		cs[r] = serve(t, w, func(c *config.Config) {
			c.Database = config.Secret(database)
			c.DataDir = dataDirs[r]
			c.Projects[0].Branches = []string{"master", "r*"}
		})
	}

	buildOf := map[string]int64{}
	for n := range replicas * pushes {
		i, k := n/replicas, n%replicas
		c := cs[(i+k)%replicas]
		code, a := c.deliver(delivery{"push", fmt.Sprint("push-", i), bodies[i], "sign"})
		switch {
		case k == 0 && (code != http.StatusAccepted || len(a.Builds) != 1):
			t.Fatalf("push %d to replica %d: %d %+v, want 202 with one build", i, (i+k)%replicas, code, a)
		case k == 0:
			buildOf[commits[i]] = a.Builds[0]
		case code != http.StatusOK || !a.Duplicate:
			t.Errorf("redelivery %d of push %d to replica %d: %d %+v, want 200 duplicate", k, i, (i+k)%replicas, code, a)
		}
	}

	var all []store.Build
	waitFor(t, 3*buildTimeout, "every build ends", func() (bool, string) {
		all = cs[1].builds()
		for _, b := range all {
			if !store.Finished(b.Status) {
				return false, describe(b)
			}
		}
		return true, ""
	})
	if len(all) != pushes {
		t.Fatalf("%d builds, want one per commit (%d)", len(all), pushes)
	}
	perReplica := make([]int, replicas)
	for _, b := range all {
		if buildOf[b.Commit] != b.ID || b.Status != store.StatusSucceeded {
			t.Errorf("%s: want the one succeeded build its delivery queued (%d)", describe(b), buildOf[b.Commit])
		}
		var on []int
		for r, c := range cs {
			if started(c.logs, b.ID) {
				on = append(on, r)
				perReplica[r]++
			}
		}
		if len(on) != 1 {
			t.Errorf("%s ran on replicas %v, want exactly one", describe(b), on)
		}
		if branch := strings.TrimPrefix(b.Ref, "refs/heads/"); w.Digest(branch) != b.Digest {
			t.Errorf("%s: the registry's %s is %s", describe(b), branch, w.Digest(branch))
		}
	}
	t.Logf("%d pushes, %d deliveries: builds per replica %v", pushes, replicas*pushes, perReplica)
	for r, c := range cs {
		if diff := cmp.Diff(c.builds(), all); diff != "" {
			t.Errorf("replica %d shows another history (-got +want):\n%s", r, diff)
		}
	}
}

// TestReplicasOnPostgresFireEachDueTimeOnce runs an @every 5s schedule on
// three replicas sharing one PostgreSQL database: each due time makes one
// build, whichever replica fires it first.
func TestReplicasOnPostgresFireEachDueTimeOnce(t *testing.T) {
	const (
		replicas = 3
		dues     = 6 // 30 s of an @every 5s schedule
	)
	database := testenv.StartPostgresForTest(t, testenv.PostgresOptions{}).NewDatabase(t)
	w := newWorld(t, setup{Fixture: fixture.Options{ProjectExtra: "    schedules:\n      - {name: often, cron: \"@every 5s\"}\n"}})
	cs := make([]*apiClient, replicas)
	for r := range cs {
		dir := filepath.Join(t.TempDir(), fmt.Sprint("replica-", r))
		cs[r] = serve(t, w, func(c *config.Config) {
			c.Database = config.Secret(database)
			c.DataDir = dir
		})
	}
	dueTimes := func(bs []store.Build) map[time.Time]int {
		n := map[time.Time]int{}
		for _, b := range bs {
			if b.Schedule == "often" && b.DueAt != nil {
				n[*b.DueAt]++
			}
		}
		return n
	}
	waitFor(t, 2*time.Minute, fmt.Sprint(dues, " due times fired"), func() (bool, string) {
		got := dueTimes(cs[0].builds())
		return len(got) >= dues, fmt.Sprint(got)
	})
	for _, c := range cs {
		c.stop()
	}
	st, err := store.OpenDatabase(t.Context(), database, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	bs, err := st.ListBuilds(t.Context(), store.Filter{Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	for due, n := range dueTimes(bs) {
		if n != 1 {
			t.Errorf("due time %s made %d builds, want 1", due.Format(time.RFC3339), n)
		}
	}
	for _, b := range bs {
		if b.Trigger != store.TriggerSchedule || b.Status == store.StatusFailed {
			t.Errorf("%s: want a schedule build that did not fail", describe(b))
		}
	}
	t.Logf("%d builds for %d due times over %d replicas", len(bs), len(dueTimes(bs)), replicas)
}

// TestReplicaKilledMidBuildIsTakenOver kills -9 the `slipway serve` running
// a build, once in its test stage and once in its push (the registry
// holds the push's uploads until the test lets them through); another
// replica on the same PostgreSQL puts it back once its lease expires and
// finishes it: one build, succeeded at its second attempt, every tag
// pushed with one digest, the build's.
func TestReplicaKilledMidBuildIsTakenOver(t *testing.T) {
	bin := slipwayBinary(t)
	for _, stage := range []string{"test", "push"} {
		t.Run(stage, func(t *testing.T) {
			database := testenv.StartPostgresForTest(t, testenv.PostgresOptions{}).NewDatabase(t)
			s := setup{Concurrency: 1, Tokens: true, Listen: "${SLIPWAY_TEST_LISTEN}"}
			if stage == "test" {
				s.Fixture.TestCommand = heldTest
			}
			w := newWorld(t, s)
			removeTestContainers(t, w)
			var reg *heldRegistry
			inStage := func(store.Build) bool { return len(testContainers(t, w)) == 1 }
			if stage == "push" {
				reg = holdRegistryWrites(t, w)
				inStage = func(b store.Build) bool {
					return reg.waiting() > 0 && slices.ContainsFunc(b.Stages, func(s store.Stage) bool {
						return s.Name == pipeline.StagePush && s.Status == store.StatusRunning
					})
				}
			}
			configs := replicaConfigs(t, w, database, 2)

			a, ca := startServeConfig(t, bin, configs[0])
			code, b, body := ca.createBuild("main", apiToken)
			if code != http.StatusAccepted {
				t.Fatalf("POST build: %d %s", code, body)
			}
			waitFor(t, buildTimeout, "the build's "+stage+" stage runs on replica a", func() (bool, string) {
				got := ca.build(b.ID)
				return got.Status == store.StatusRunning && inStage(got), describe(got)
			})
			_, cb := startServeConfig(t, bin, configs[1])
			a.kill9(t)
			killed := time.Now()

			// The lease (30 s) was extended at most 10 s before the kill; replica
			// b puts the build back within 2 s of its expiry and claims it within
			// its 1 s poll.
			waitFor(t, store.DefaultLease+5*time.Second, "replica b runs the build again", func() (bool, string) {
				got := cb.build(b.ID)
				return got.Status == store.StatusRunning && got.Attempts == 2, describe(got)
			})
			t.Logf("taken over %v after kill -9 in the %s stage (lease %v)", time.Since(killed).Round(100*time.Millisecond), stage, store.DefaultLease)
			if code, body := cb.get("/metrics"); code != http.StatusOK ||
				!strings.Contains(string(body), "\nslipway_lease_takeovers_total 1\n") ||
				!strings.Contains(string(body), "\nslipway_replica_builds_running 1\n") {
				t.Errorf("replica b's /metrics (%d) does not count one takeover and one running build:\n%s", code, body)
			}
			if stage == "test" {
				cb.held = w
			} else {
				reg.release()
			}
			done := cb.waitFinished(b.ID, buildTimeout)
			if done.Status != store.StatusSucceeded || done.Attempts != 2 {
				t.Errorf("after the takeover: %s (attempt %d), want succeeded at attempt 2", describe(done), done.Attempts)
			}
			if got := cb.builds(); len(got) != 1 {
				t.Errorf("%d builds, want 1: %v", len(got), got)
			}
			if len(done.Tags) == 0 {
				t.Errorf("%s lists no pushed tag", describe(done))
			}
			for _, tag := range done.Tags {
				if got := w.Digest(tag); got != done.Digest {
					t.Errorf("%s = %s in the registry, want the build's %s", tag, got, done.Digest)
				}
			}
			if reg != nil {
				pushed := reg.manifests()
				for _, tag := range done.Tags {
					if len(pushed[tag]) == 0 {
						t.Errorf("tag %s was not pushed through the held registry", tag)
					}
				}
				for ref, digests := range pushed {
					if d := slices.Compact(slices.Sorted(slices.Values(digests))); len(d) != 1 || d[0] != done.Digest {
						t.Errorf("manifest %s was pushed as %v, want only the build's %s", ref, digests, done.Digest)
					}
				}
				t.Logf("manifests pushed: %v", pushed)
			}
		})
	}
}

// heldRegistry is a reverse proxy in front of a world's registry that
// holds every write (blob upload, manifest PUT) until release, so that a
// push stays in progress as long as a test needs. It records the digest
// of every manifest it let through.
type heldRegistry struct {
	released chan struct{}
	once     sync.Once
	mu       sync.Mutex
	held     int
	pushed   map[string][]string // manifest reference (tag or digest) -> digests
}

// holdRegistryWrites puts a heldRegistry in front of w's registry and
// points w's config and w.Image at it.
func holdRegistryWrites(t *testing.T, w *fixture.World) *heldRegistry {
	t.Helper()
	h := &heldRegistry{released: make(chan struct{}), pushed: map[string][]string{}}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: w.Reg.Host})
	rp.ModifyResponse = func(resp *http.Response) error {
		_, ref, ok := strings.Cut(resp.Request.URL.Path, "/manifests/")
		if ok && resp.Request.Method == http.MethodPut && resp.StatusCode == http.StatusCreated {
			h.mu.Lock()
			h.pushed[ref] = append(h.pushed[ref], resp.Header.Get("Docker-Content-Digest"))
			h.mu.Unlock()
		}
		return nil
	}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.mu.Lock()
			h.held++
			h.mu.Unlock()
			select {
			case <-h.released:
			case <-r.Context().Done():
			}
			h.mu.Lock()
			h.held--
			h.mu.Unlock()
			if r.Context().Err() != nil {
				return // its pusher is gone
			}
		}
		rp.ServeHTTP(rw, r)
	}))
	t.Cleanup(func() {
		h.release()
		srv.Close()
	})
	proxy := strings.TrimPrefix(srv.URL, "http://")
	text, err := os.ReadFile(w.ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(w.ConfigPath(), []byte(strings.ReplaceAll(string(text), w.Reg.Host, proxy)), 0o644); err != nil {
		t.Fatal(err)
	}
	w.Image = strings.Replace(w.Image, w.Reg.Host, proxy, 1)
	return h
}

// waiting is how many writes are held now.
func (h *heldRegistry) waiting() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.held
}

// release lets every held and later write through.
func (h *heldRegistry) release() { h.once.Do(func() { close(h.released) }) }

// manifests returns the digests of the manifests pushed, by reference.
func (h *heldRegistry) manifests() map[string][]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return maps.Clone(h.pushed)
}

// TestReplicasServeEachOthersLogs follows, through replica a, the log of a
// build that replica b runs: on PostgreSQL the log lives in the database,
// so every line arrives once, in order, on any replica.
func TestReplicasServeEachOthersLogs(t *testing.T) {
	database := testenv.StartPostgresForTest(t, testenv.PostgresOptions{}).NewDatabase(t)
	w := newWorld(t, setup{Tokens: true, Fixture: fixture.Options{TestCommand: []string{"-tick", "30"}}})
	dirs := []string{filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")}
	replica := func(dir string) *apiClient {
		return serve(t, w, func(c *config.Config) {
			c.Database = config.Secret(database)
			c.DataDir = dir
		})
	}
	b := replica(dirs[1])
	code, build, body := b.createBuild("main", apiToken)
	if code != http.StatusAccepted {
		t.Fatalf("POST build on b: %d %s", code, body)
	}
	waitFor(t, buildTimeout, "replica b runs the build", func() (bool, string) {
		got := b.build(build.ID)
		return got.Status == store.StatusRunning, describe(got)
	})
	a := replica(dirs[0])
	log := follow(t, a, build.ID, nil)
	var ticks []string
	for _, line := range strings.Split(log, "\n") {
		if strings.HasPrefix(line, "tick ") {
			ticks = append(ticks, line)
		}
	}
	var want []string
	for i := 1; i <= 30; i++ {
		want = append(want, fmt.Sprint("tick ", i))
	}
	if diff := cmp.Diff(want, ticks); diff != "" {
		t.Errorf("ticks followed through replica a (-want +got):\n%s", diff)
	}
	if !strings.Contains(log, "slipway: build succeeded") {
		t.Errorf("the followed log does not end with the build's result:\n%s", log)
	}
	if code, whole := a.get(fmt.Sprintf("/api/v1/builds/%d/log", build.ID)); code != http.StatusOK || string(whole) != log {
		t.Errorf("GET log through a: %d, %d bytes; want the %d bytes followed", code, len(whole), len(log))
	}
	for _, dir := range dirs {
		if files, _ := filepath.Glob(filepath.Join(dir, "logs", "*.log")); len(files) > 0 {
			t.Errorf("log files %v in a data_dir: on PostgreSQL logs live in the database", files)
		}
	}
}

// TestReplicasCancelEachOthersBuilds cancels, through replica a, a build
// that replica b runs: b stops it and it ends canceled.
func TestReplicasCancelEachOthersBuilds(t *testing.T) {
	database := testenv.StartPostgresForTest(t, testenv.PostgresOptions{}).NewDatabase(t)
	w := newWorld(t, setup{Tokens: true, Fixture: fixture.Options{TestCommand: heldTest}})
	removeTestContainers(t, w)
	replica := func(dir string) *apiClient {
		return serve(t, w, func(c *config.Config) {
			c.Database = config.Secret(database)
			c.DataDir = dir
		})
	}
	b := replica(filepath.Join(t.TempDir(), "b"))
	code, build, body := b.createBuild("main", apiToken)
	if code != http.StatusAccepted {
		t.Fatalf("POST build on b: %d %s", code, body)
	}
	waitFor(t, buildTimeout, "replica b runs the build's test stage", func() (bool, string) {
		got := b.build(build.ID)
		return got.Status == store.StatusRunning && len(testContainers(t, w)) == 1, describe(got)
	})
	a := replica(filepath.Join(t.TempDir(), "a"))
	asked := time.Now()
	if code, body := a.do(http.MethodPost, fmt.Sprintf("/api/v1/builds/%d/cancel", build.ID), apiToken, nil, nil); code != http.StatusAccepted {
		t.Fatalf("cancel through a: %d %s, want 202", code, body)
	}
	var got store.Build
	waitFor(t, 30*time.Second, "the build ends canceled", func() (bool, string) {
		got = a.build(build.ID)
		return store.Finished(got.Status), describe(got)
	})
	t.Logf("canceled through replica a %v after the request", time.Since(asked).Round(10*time.Millisecond))
	if got.Status != store.StatusCanceled {
		t.Errorf("%s, want canceled", describe(got))
	}
	if !started(b.logs, build.ID) || started(a.logs, build.ID) {
		t.Errorf("the build did not run on replica b alone")
	}
}

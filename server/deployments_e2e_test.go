package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/rs/zerolog"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/deploy/swarmtest"
	"github.com/slipwayci/slipway/internal/fixture"
	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/pipeline"
	"github.com/slipwayci/slipway/store"
)

// TestDeploymentsAPI: after three builds (the first run by hand as the
// service, two deployed by slipway) GET /api/v1/deployments shows the third
// build's digest running; a `docker service update --image` by hand shows
// as changed outside slipway; POST .../rollback {"build": 2} runs build
// 2's digest again and is recorded as a manual deployment.
func TestDeploymentsAPI(t *testing.T) {
	cli := swarmtest.Manager(t)
	stack := testenv.Name(t, "stk")
	svcName := stack + "_app"
	w := newWorld(t, setup{Tokens: true, Fixture: fixture.Options{
		Extra: "deploy_targets:\n  local:\n    hosts: [\"unix:///var/run/docker.sock\"]\n",
		ProjectExtra: fmt.Sprintf("    deploy:\n      - {target: local, stack: %q, services: [%q], on: [\"branch:main\"], deploy_timeout: 90s, stable_for: 1s}\n",
			stack, svcName),
	}})

	// Build 1 by hand, not deployed; the service runs it.
	cfg, err := config.Load(w.ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	svc, err := pipeline.Open(t.Context(), cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	b1, err := svc.BuildNow(t.Context(), pipeline.BuildRequest{Project: "fixture", Ref: "main", NoDeploy: true}, nil)
	svc.Close()
	if err != nil {
		t.Fatalf("build 1: %v", err)
	}
	spec := swarmtest.Spec(svcName, w.Image+"@"+b1.Digest, 1, map[string]string{swarmtest.StackLabel: stack})
	spec.TaskTemplate.ContainerSpec.Args = []string{"-sleep", "1h"}
	id := swarmtest.CreateService(t, cli, spec, "")
	swarmtest.WaitRunning(t, cli, id, 1, 90*time.Second)

	c := serve(t, w, nil)
	var builds []store.Build
	for i := 2; i <= 3; i++ {
		w.Repo.Commit(t, "main", map[string]string{"ctx/kept.txt": fmt.Sprint("v", i, "\n")}, fmt.Sprint("v", i))
		code, b, body := c.createBuild("main", apiToken)
		if code != http.StatusAccepted {
			t.Fatalf("create build %d: %d %s", i, code, body)
		}
		b = c.waitFinished(b.ID, 3*time.Minute)
		if b.Status != store.StatusSucceeded {
			t.Fatalf("build %d: %s", b.ID, describe(b))
		}
		builds = append(builds, b)
	}
	b2, b3 := builds[0], builds[1]

	state := func() pipeline.ServiceState {
		t.Helper()
		code, body := c.get("/api/v1/deployments")
		if code != http.StatusOK {
			t.Fatalf("GET /api/v1/deployments: %d %s", code, body)
		}
		var states []pipeline.ServiceState
		if err := json.Unmarshal(body, &states); err != nil || len(states) != 1 {
			t.Fatalf("GET /api/v1/deployments = %s (%v), want one service", body, err)
		}
		return states[0]
	}
	st := state()
	if st.Service != svcName || st.Target != "local" || st.Digest != b3.Digest || st.Build != b3.ID || st.Commit != b3.Commit || st.ChangedOutside {
		t.Errorf("after three builds: %+v, want %s running build %d's %s", st, svcName, b3.ID, b3.Digest)
	}
	if len(st.History) != 2 || st.History[0].Build != b3.ID || st.History[0].PreviousDigest != b2.Digest || st.History[1].PreviousDigest != b1.Digest || st.History[0].Kind != store.DeploymentBuild {
		t.Errorf("history = %+v, want builds %d then %d, each with the digest before", st.History, b3.ID, b2.ID)
	}

	// By hand: docker service update --image <build 1>.
	cur, _, err := cli.ServiceInspectWithRaw(t.Context(), id, swarm.ServiceInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cur.Spec.TaskTemplate.ContainerSpec.Image = w.Image + "@" + b1.Digest
	if _, err := cli.ServiceUpdate(t.Context(), id, cur.Version, cur.Spec, swarm.ServiceUpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The answer is kept for 5s: the change shows within that.
	waitFor(t, 20*time.Second, "the manual update to show", func() (bool, string) {
		st := state()
		return st.ChangedOutside && st.Digest == b1.Digest && strings.Contains(st.Note, "changed outside slipway"),
			fmt.Sprintf("%+v, want changed outside slipway running %s", st, b1.Digest)
	})

	// The dashboard page says so and offers the rollback to build 2.
	code, page := c.get("/deployments")
	if code != http.StatusOK {
		t.Fatalf("GET /deployments: %d %s", code, page)
	}
	for _, want := range []string{svcName, "changed outside slipway", fmt.Sprintf(`data-build="%d">Roll back to #%d`, b2.ID, b2.ID), fmt.Sprintf(`href="/builds/%d"`, b3.ID)} {
		if !strings.Contains(string(page), want) {
			t.Errorf("the Deployments page lacks %q", want)
		}
	}

	// Rollback to build 2 through the API.
	code, body := c.do(http.MethodPost, "/api/v1/deployments/local/"+svcName+"/rollback", apiToken,
		strings.NewReader(fmt.Sprintf(`{"build": %d}`, b2.ID)), http.Header{"Content-Type": {"application/json"}})
	if code != http.StatusOK {
		t.Fatalf("rollback: %d %s", code, body)
	}
	var res pipeline.RollbackResult
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatal(err)
	}
	if d := res.Deployment; d.Kind != store.DeploymentManual || d.Build != b2.ID || d.Digest != b2.Digest || d.PreviousDigest != b1.Digest || d.Status != pipeline.DeployConverged {
		t.Errorf("rollback deployment = %+v, want manual, converged on build %d's %s from %s", d, b2.ID, b2.Digest, b1.Digest)
	}
	after, _, err := cli.ServiceInspectWithRaw(t.Context(), id, swarm.ServiceInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img := after.Spec.TaskTemplate.ContainerSpec.Image; !strings.HasSuffix(img, "@"+b2.Digest) {
		t.Errorf("after the rollback the service runs %s, want build %d's %s", img, b2.ID, b2.Digest)
	}
	if st := state(); st.ChangedOutside || st.Digest != b2.Digest || st.Build != b2.ID || st.History[0].Kind != store.DeploymentManual {
		t.Errorf("after the rollback: %+v, want build %d running, its manual deployment first", st, b2.ID)
	}

	// Bad requests change nothing.
	for _, bad := range []struct {
		path, body string
		code       int
	}{
		{"/api/v1/deployments/local/" + svcName + "/rollback", `{}`, http.StatusBadRequest},
		{"/api/v1/deployments/local/" + svcName + "/rollback", `{"build": 999}`, http.StatusNotFound},
		{"/api/v1/deployments/local/nothing/rollback", fmt.Sprintf(`{"build": %d}`, b2.ID), http.StatusNotFound},
	} {
		if code, body := c.do(http.MethodPost, bad.path, apiToken, strings.NewReader(bad.body), http.Header{"Content-Type": {"application/json"}}); code != bad.code {
			t.Errorf("POST %s %s: %d %s, want %d", bad.path, bad.body, code, body, bad.code)
		}
	}
	if code, _ := c.do(http.MethodPost, "/api/v1/deployments/local/"+svcName+"/rollback", "", strings.NewReader(`{"build": 1}`), nil); code != http.StatusUnauthorized {
		t.Errorf("rollback without a token: %d, want 401", code)
	}
}

// TestDeploymentsUnreachableTargets: with one target whose host is a
// closed loopback port and one that accepts connections and never
// answers, GET /api/v1/deployments and the dashboard's page still answer,
// the reachable target's service as it runs and each other target as a
// row whose note says it is unreachable (the silent one: no answer within
// 5s) and what to check. Requests made at once share one read: the silent
// target sees one connection.
func TestDeploymentsUnreachableTargets(t *testing.T) {
	cli := swarmtest.Manager(t)
	service := testenv.Name(t, "dep")
	const image = "127.0.0.1:1/none:v1"
	swarmtest.CreateService(t, cli, swarmtest.Spec(service, image, 0, nil), "")
	silent := swarmtest.NewSilent(t)
	w := newWorld(t, setup{Fixture: fixture.Options{
		Extra: fmt.Sprintf("deploy_targets:\n  local:\n    hosts: [%q]\n  down:\n    hosts: [%q]\n    tls: {insecure: true}\n  silent:\n    hosts: [%q]\n",
			cli.DaemonHost(), "tcp://"+testenv.ClosedAddr(t), silent.Host),
		ProjectExtra: fmt.Sprintf("    deploy:\n      - {target: local, services: [%q], on: [\"branch:main\"]}\n"+
			"      - {target: down, services: [app], on: [\"branch:main\"]}\n      - {target: silent, services: [app], on: [\"branch:main\"]}\n", service),
	}})
	c := serve(t, w, nil)

	// Four API requests and the page at once.
	type answer struct {
		path string
		code int
		body []byte
	}
	answers := make([]answer, 5)
	var wg sync.WaitGroup
	for i := range answers {
		answers[i].path = "/api/v1/deployments"
		if i == len(answers)-1 {
			answers[i].path = "/deployments"
		}
		wg.Go(func() { answers[i].code, answers[i].body = c.get(answers[i].path) })
	}
	wg.Wait()
	for _, a := range answers {
		if a.code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", a.path, a.code, a.body)
		}
	}
	var states []pipeline.ServiceState
	if err := json.Unmarshal(answers[0].body, &states); err != nil || len(states) != 3 {
		t.Fatalf("GET /api/v1/deployments = %s (%v), want three rows", answers[0].body, err)
	}
	if st := states[0]; st.Target != "local" || st.Service != service || st.Image != image || st.Note != "not deployed by slipway yet" {
		t.Errorf("the reachable target's row = %+v, want %s running %s", st, service, image)
	}
	for i, want := range map[int][]string{
		1: {`deploy target "down" is unreachable`, "tcp://127.0.0.1:", "Cannot connect", "check that a manager in deploy_targets.down.hosts is up"},
		2: {`deploy target "silent" is unreachable (no answer within 5s)`, "check that a manager in deploy_targets.silent.hosts is up"},
	} {
		for _, w := range want {
			if !strings.Contains(states[i].Note, w) {
				t.Errorf("row %d = %+v: its note lacks %q", i, states[i], w)
			}
		}
	}
	for _, want := range []string{service, "deploy target &#34;down&#34; is unreachable", "deploy target &#34;silent&#34; is unreachable (no answer within 5s)", "deploy_targets.silent.hosts"} {
		if !strings.Contains(string(answers[4].body), want) {
			t.Errorf("the Deployments page lacks %q", want)
		}
	}
	if n := silent.Connections(); n != 1 {
		t.Errorf("the silent target got %d connections from 5 requests made at once, want 1 (one shared read)", n)
	}
}

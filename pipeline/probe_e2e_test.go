package pipeline_test

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"

	"github.com/slipwayci/slipway/deploy/swarmtest"
	"github.com/slipwayci/slipway/internal/fixture"
	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/notify"
	"github.com/slipwayci/slipway/pipeline"
	"github.com/slipwayci/slipway/store"
)

// TestProbeAndNotifications: a binding's probe runs after convergence
// with its output in the build log; an image answering 500 is rolled back
// and fails the build, the next answering 200 converges. The notify target
// gets, signed, rolled_back for the first and fixed and deployed for the
// second.
func TestProbeAndNotifications(t *testing.T) {
	cli := swarmtest.Manager(t)
	exe := swarmtest.ProbeExecutable(t, cli)
	const secret = "probe-notify-secret"
	var (
		mu     sync.Mutex
		events []string
	)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !hmac.Equal([]byte(r.Header.Get(notify.SignatureHeader)), []byte(notify.Sign([]byte(secret), body))) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var m struct {
			Event string `json:"event"`
			ID    int64  `json:"id"`
		}
		_ = json.Unmarshal(body, &m)
		mu.Lock()
		events = append(events, fmt.Sprint(m.Event, " ", m.ID))
		mu.Unlock()
	}))
	defer rcv.Close()

	// The probe gets 15s: a fresh container on the overlay network may
	// take seconds to reach the service by name on a loaded machine.
	stack, svcName, w := swarmWorld(t, fixture.Options{Extra: fmt.Sprintf("probe_executable: %q\nnotify:\n  - {name: ops, kind: webhook, url: %q, secret: %q}\n", exe, rcv.URL, secret)},
		`, stable_for: 1s, probe: {url: "http://{service}:8080/healthz", status: 200, timeout: 15s}`)
	net, err := cli.NetworkCreate(t.Context(), testenv.Name(t, "net"), network.CreateOptions{Driver: "overlay", Attachable: true, Labels: map[string]string{swarmtest.StackLabel: stack}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.NetworkRemove(context.Background(), net.ID) })

	const dockerfile = "FROM scratch\nCOPY app /app\nCOPY ctx/ /ctx/\nENTRYPOINT [\"/app\"]\n"
	w.Repo.Commit(t, "main", map[string]string{"Dockerfile": dockerfile + "CMD [\"-http\", \"200\"]\n"}, "v1")
	svc := openService(t, w)
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	go svc.Notifier().Run(ctx)
	v1 := buildOK(t, svc, pipeline.BuildRequest{Project: "fixture", Ref: "main", NoDeploy: true})
	v1Ref := w.Image + ":main@" + v1.Digest
	spec := swarmtest.Spec(svcName, v1Ref, 1, map[string]string{swarmtest.StackLabel: stack})
	spec.TaskTemplate.Networks = []swarm.NetworkAttachmentConfig{{Target: net.ID}}
	// DNS round robin: the test engine may lack IPVS for a virtual IP.
	spec.EndpointSpec = &swarm.EndpointSpec{Mode: swarm.ResolutionModeDNSRR}
	id := swarmtest.CreateService(t, cli, spec, "")
	swarmtest.WaitRunning(t, cli, id, 1, 90*time.Second)

	w.Repo.Commit(t, "main", map[string]string{"Dockerfile": dockerfile + "CMD [\"-http\", \"500\"]\n"}, "answers 500")
	var log strings.Builder
	bad, err := svc.BuildNow(t.Context(), pipeline.BuildRequest{Project: "fixture", Ref: "main"}, &log)
	if err == nil || bad.Status != store.StatusFailed || len(bad.Deploys) != 1 || bad.Deploys[0].Status != pipeline.DeployRolledBack {
		t.Fatalf("build answering 500: %s %v %+v, want failed, rolled back\n%s", bad.Status, err, bad.Deploys, log.String())
	}
	if want := "probe: GET http://" + svcName + ":8080/healthz: 500 Internal Server Error, want 200: fixture answers 500"; !strings.Contains(log.String(), want) {
		t.Errorf("the build log lacks %q:\n%s", want, log.String())
	}
	if got, _, err := cli.ServiceInspectWithRaw(t.Context(), id, swarm.ServiceInspectOptions{}); err != nil || got.Spec.TaskTemplate.ContainerSpec.Image != v1Ref {
		t.Errorf("after the rollback the service runs %v (%v), want %s", got.Spec.TaskTemplate.ContainerSpec, err, v1Ref)
	}

	w.Repo.Commit(t, "main", map[string]string{"Dockerfile": dockerfile + "CMD [\"-http\", \"200\"]\n", "ctx/kept.txt": "v3\n"}, "answers 200")
	log.Reset()
	good, err := svc.BuildNow(t.Context(), pipeline.BuildRequest{Project: "fixture", Ref: "main"}, &log)
	if err != nil || good.Status != store.StatusSucceeded || len(good.Deploys) != 1 || good.Deploys[0].Status != pipeline.DeployConverged {
		t.Fatalf("build answering 200: %s %v %+v\n%s", good.Status, err, good.Deploys, log.String())
	}
	if !strings.Contains(log.String(), "probe: GET http://"+svcName+":8080/healthz: 200 OK") {
		t.Errorf("the build log lacks the probe's 200:\n%s", log.String())
	}

	want := []string{fmt.Sprint("rolled_back ", bad.ID), fmt.Sprint("fixed ", good.ID), fmt.Sprint("deployed ", good.ID)}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		got := strings.Join(events, ", ")
		mu.Unlock()
		if got == strings.Join(want, ", ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("notifications = %q, want %q", got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

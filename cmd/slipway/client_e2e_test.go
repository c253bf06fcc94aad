package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slipwayci/slipway/deploy/swarmtest"
	"github.com/slipwayci/slipway/internal/fixture"
	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/pipeline"
	"github.com/slipwayci/slipway/store"
)

// TestClientCommands runs each client command against a real `slipway
// serve` (in-process, fixture repository and registry): start, logs -f,
// builds in its table, JSON and template forms, schedule run, cancel of a
// slow build, deployments (of a service not on the swarm, then of one
// running the image a build deployed); and the errors a user meets first (no server,
// server down, no or wrong token), none of which prints the token.
func TestClientCommands(t *testing.T) {
	const token = "tok-Qz8-client-secret"
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stack := testenv.Name(t, "stk")
	w := fixture.New(t, fixture.Options{
		Extra: fmt.Sprintf("listen: \"127.0.0.1:0\"\nconcurrency: 2\napi_tokens_file: %q\ngithub: {webhook_secret: not-so-secret}\n"+
			"deploy_targets:\n  local:\n    hosts: [\"unix:///var/run/docker.sock\"]\n", tokenFile),
		ProjectExtra: fmt.Sprintf("    schedules:\n      - {name: nightly, cron: \"0 3 * * *\"}\n"+
			"    deploy:\n      - {target: local, stack: %q, services: [%q], on: [\"branch:release\"], deploy_timeout: 90s, stable_for: 1s}\n", stack, stack+"_app"),
	})
	// A second project whose test sleeps: the build to cancel.
	slowImage := w.Image + "-slow"
	t.Cleanup(func() { fixture.RemoveImages(w.Docker, slowImage) })
	f, err := os.OpenFile(w.ConfigPath(), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "  - name: slow\n    repo: %q\n    image: %q\n    test: {command: [\"-sleep\", \"4m\"], timeout: 5m}\n", w.Repo.URL(), slowImage)
	f.Close()

	srv := startServe(t, w.ConfigPath())
	env := map[string]string{"SLIPWAY_SERVER": srv.base, "SLIPWAY_TOKEN": token}
	var printed strings.Builder // everything the commands printed
	slipway := func(t *testing.T, env map[string]string, args ...string) (int, string, string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		code := execute(t.Context(), args, streams{in: strings.NewReader(""), out: &stdout, errOut: &stderr,
			getenv: func(k string) string { return env[k] }})
		printed.WriteString(stdout.String() + stderr.String())
		return code, stdout.String(), stderr.String()
	}
	mustRun := func(t *testing.T, args ...string) string {
		t.Helper()
		code, stdout, stderr := slipway(t, env, args...)
		if code != 0 {
			t.Fatalf("slipway %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, stdout, stderr)
		}
		return stdout
	}
	decode := func(t *testing.T, s string, v any) {
		t.Helper()
		if err := json.Unmarshal([]byte(s), v); err != nil {
			t.Fatalf("not the JSON wanted: %v\n%s", err, s)
		}
	}

	var first store.Build
	t.Run("start and logs -f", func(t *testing.T) {
		decode(t, mustRun(t, "start", w.Project, "--ref", "main", "--format", "{{json .}}"), &first)
		if first.ID == 0 || first.Project != w.Project || first.Ref != "refs/heads/main" || first.Status != store.StatusQueued {
			t.Fatalf("start printed %+v, want a queued build of %s refs/heads/main", first, w.Project)
		}
		log := mustRun(t, "logs", strconv.FormatInt(first.ID, 10), "-f")
		for _, want := range []string{"==> source", "selftest: ok", "==> push", "slipway: build succeeded"} {
			if !strings.Contains(log, want) {
				t.Errorf("logs -f lacks %q (it returns once the build ended):\n%s", want, log)
			}
		}
	})

	t.Run("builds", func(t *testing.T) {
		id := strconv.FormatInt(first.ID, 10)
		table := mustRun(t, "builds")
		t.Logf("slipway builds:\n%s", table)
		lines := strings.Split(strings.TrimSpace(table), "\n")
		if fields := strings.Fields(lines[0]); strings.Join(fields, " ") != "ID PROJECT REF COMMIT TRIGGER STATUS CREATED DURATION" {
			t.Errorf("builds table header = %q", lines[0])
		}
		row := firstLine(table, w.Head[:7])
		if fields := strings.Fields(row); len(fields) < 6 || fields[0] != id || fields[1] != w.Project || fields[2] != "main" || fields[4] != "manual" || fields[5] != "succeeded" {
			t.Errorf("builds table row of build %s = %q, want ID, project, main, commit, manual, succeeded", id, row)
		}

		var list []store.Build
		decode(t, mustRun(t, "builds", "ls", "--project", w.Project, "--status", "succeeded", "--limit", "1", "--json"), &list)
		if len(list) != 1 || list[0].ID != first.ID || list[0].Digest == "" {
			t.Errorf("builds ls --project --status --limit 1 --json = %+v, want build %d with its digest", list, first.ID)
		}
		if got, want := mustRun(t, "builds", "--project", w.Project, "--format", "{{.ID}} {{.Status}} {{join .Tags \",\"}}"), id+" succeeded main,main-"+w.Head[:7]+",latest\n"; got != want {
			t.Errorf("builds --format = %q, want %q", got, want)
		}
		custom := mustRun(t, "builds", "--project", "slow", "--format", `table {{.ID}}\t{{.CreatedAt}}`)
		if strings.Join(strings.Fields(custom), " ") != "ID CREATED AT" {
			t.Errorf("builds --format 'table ...' of no builds = %q, want only the header ID CREATED AT", custom)
		}
	})

	t.Run("schedule run", func(t *testing.T) {
		var b store.Build
		decode(t, mustRun(t, "schedule", "run", w.Project, "nightly", "--json"), &b)
		if b.Trigger != store.TriggerSchedule || b.Schedule != "nightly" || b.Status != store.StatusQueued {
			t.Fatalf("schedule run printed %+v, want a queued build of schedule nightly", b)
		}
		mustRun(t, "logs", "-f", strconv.FormatInt(b.ID, 10))
		if got := strings.TrimSpace(mustRun(t, "builds", "--limit", "1", "--format", "{{.Status}} {{.Trigger}}")); got != "succeeded schedule" {
			t.Errorf("newest build after schedule run -f: %q, want succeeded schedule", got)
		}
		if code, _, stderr := slipway(t, env, "schedule", "run", w.Project, "weekly"); code != 1 || !strings.Contains(stderr, "weekly") {
			t.Errorf("schedule run of an unknown schedule: exit %d, stderr %q; want 1 naming it", code, stderr)
		}
	})

	t.Run("cancel", func(t *testing.T) {
		// The token from --token-file and the server from --server.
		noEnv := map[string]string{}
		code, stdout, stderr := slipway(t, noEnv, "start", "slow", "--server", srv.base, "--token-file", tokenFile, "--format", "{{.ID}}")
		if code != 0 {
			t.Fatalf("start slow: exit %d: %s", code, stderr)
		}
		id := strings.TrimSpace(stdout)
		if got := mustRun(t, "cancel", id); got != "build "+id+": cancel requested\n" {
			t.Errorf("cancel printed %q", got)
		}
		deadline := time.Now().Add(2 * time.Minute)
		for {
			status := strings.TrimSpace(mustRun(t, "builds", "--project", "slow", "--format", "{{.Status}}"))
			if status == string(store.StatusCanceled) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("build %s still %s 2 minutes after cancel", id, status)
			}
			time.Sleep(200 * time.Millisecond)
		}
		// A finished build cannot be canceled: the server says why.
		if code, _, stderr := slipway(t, env, "cancel", strconv.FormatInt(first.ID, 10)); code != 1 || !strings.Contains(stderr, "409") {
			t.Errorf("cancel of a finished build: exit %d, stderr %q; want 1 with the server's 409", code, stderr)
		}
	})

	t.Run("deployments", func(t *testing.T) {
		table := mustRun(t, "deployments")
		t.Logf("slipway deployments:\n%s", table)
		if !strings.HasPrefix(table, "TARGET") || !strings.Contains(firstLine(table, stack+"_app"), "local") {
			t.Errorf("deployments table lacks service %s_app of target local:\n%s", stack, table)
		}
		var states []pipeline.ServiceState
		decode(t, mustRun(t, "deployments", "--json"), &states)
		// Nothing was deployed: the one binding's row says its service
		// is not on the swarm.
		if len(states) != 1 || states[0].Target != "local" || states[0].Stack != stack || !strings.Contains(states[0].Note, stack+"_app") {
			t.Errorf("deployments --json = %+v, want the one binding's row naming its service", states)
		}
	})

	// The service now runs build 1's image; a build of release deploys
	// its own to it, and deployments shows that build running.
	t.Run("deployments of a running service", func(t *testing.T) {
		var builds []store.Build
		decode(t, mustRun(t, "builds", "ls", "--project", w.Project, "--json"), &builds)
		i := slices.IndexFunc(builds, func(b store.Build) bool { return b.ID == first.ID })
		if i < 0 || builds[i].Digest == "" {
			t.Fatalf("builds ls --json = %+v, want build %d with its digest", builds, first.ID)
		}
		first := builds[i]
		cli := swarmtest.Manager(t)
		service := stack + "_app"
		spec := swarmtest.Spec(service, w.Image+"@"+first.Digest, 1, map[string]string{swarmtest.StackLabel: stack})
		spec.TaskTemplate.ContainerSpec.Args = []string{"-sleep", "1h"}
		swarmtest.WaitRunning(t, cli, swarmtest.CreateService(t, cli, spec, ""), 1, 90*time.Second)
		w.Repo.Commit(t, "release", map[string]string{"ctx/kept.txt": "release\n"}, "release")
		var b store.Build
		decode(t, mustRun(t, "start", w.Project, "--ref", "release", "--json"), &b)
		id := strconv.FormatInt(b.ID, 10)
		mustRun(t, "logs", "-f", id)
		decode(t, mustRun(t, "builds", "ls", "--project", w.Project, "--limit", "1", "--json"), &builds)
		if len(builds) != 1 || builds[0].ID != b.ID {
			t.Fatalf("newest build = %+v, want build %d", builds, b.ID)
		}
		b = builds[0]
		if b.Status != store.StatusSucceeded || b.Digest == "" || b.Digest == first.Digest {
			t.Fatalf("the release build: %+v, want succeeded with a digest of its own", b)
		}

		// A read is kept for up to 5s (a finished build drops it): ask
		// again until the deploy shows, as a user would.
		var states []pipeline.ServiceState
		deadline := time.Now().Add(time.Minute)
		for {
			decode(t, mustRun(t, "deployments", "--json"), &states)
			if len(states) == 1 && states[0].Digest == b.Digest || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if len(states) != 1 {
			t.Fatalf("deployments --json = %+v, want one service", states)
		}
		st := states[0]
		if st.Target != "local" || st.Stack != stack || st.Service != service || !strings.HasPrefix(st.Image, w.Image+":") || !strings.HasSuffix(st.Image, "@"+b.Digest) || st.Digest != b.Digest ||
			st.Build != b.ID || st.Commit != b.Commit || st.ChangedOutside || st.Note != "" {
			t.Errorf("deployments --json = %+v, want %s running build %d's %s (commit %s) with no note", st, service, b.ID, b.Digest, b.Commit)
		}
		if len(st.History) != 1 || st.History[0].Build != b.ID || st.History[0].PreviousDigest != first.Digest || st.History[0].Status != pipeline.DeployConverged {
			t.Errorf("history = %+v, want build %d's converged deployment from %s", st.History, b.ID, first.Digest)
		}

		table := mustRun(t, "deployments")
		t.Logf("slipway deployments:\n%s", table)
		row := strings.Fields(firstLine(table, service))
		// TARGET STACK SERVICE DIGEST BUILD COMMIT SINCE…
		if len(row) < 6 || row[0] != "local" || row[1] != stack || row[2] != service || row[3] != strings.TrimPrefix(b.Digest, "sha256:")[:7] || row[4] != id || row[5] != b.Commit[:7] {
			t.Errorf("deployments table row = %q, want local, %s, %s, build %d's digest %s, %s, commit %s", row, stack, service, b.ID, b.Digest, id, b.Commit)
		}
		if got := mustRun(t, "deployments", "--format", "{{.Service}} {{.Build}} {{.Digest}}"); got != fmt.Sprintf("%s %d %s\n", service, b.ID, b.Digest) {
			t.Errorf("deployments --format = %q, want the service, build %d and its digest", got, b.ID)
		}
	})

	t.Run("errors say what to do", func(t *testing.T) {
		down := "http://" + testenv.ClosedAddr(t)
		for _, tt := range []struct {
			name string
			env  map[string]string
			args []string
			want []string
		}{
			{name: "no server", env: map[string]string{}, args: []string{"builds"}, want: []string{"--server", "$SLIPWAY_SERVER"}},
			{name: "server down", env: env, args: []string{"builds", "--server", down}, want: []string{down, "--server", "$SLIPWAY_SERVER"}},
			{name: "no token", env: map[string]string{"SLIPWAY_SERVER": srv.base}, args: []string{"start", w.Project}, want: []string{"needs an API token", "--token-file", "$SLIPWAY_TOKEN"}},
			{name: "wrong token", env: map[string]string{"SLIPWAY_SERVER": srv.base, "SLIPWAY_TOKEN": "wrong-Kx4-" + token}, args: []string{"cancel", "1"}, want: []string{"refused the API token", "--token-file", "$SLIPWAY_TOKEN"}},
			{name: "unknown build", env: env, args: []string{"logs", "999999"}, want: []string{"999999"}},
			{name: "unknown project", env: env, args: []string{"start", "nope"}, want: []string{"nope"}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				code, _, stderr := slipway(t, tt.env, tt.args...)
				if code != 1 {
					t.Errorf("exit %d, want 1; stderr: %s", code, stderr)
				}
				for _, want := range tt.want {
					if !strings.Contains(stderr, want) {
						t.Errorf("stderr %q lacks %q", stderr, want)
					}
				}
			})
		}
		if code, _, _ := slipway(t, env, "logs", "abc"); code != 2 {
			t.Errorf("logs abc: exit %d, want 2 (usage)", code)
		}
	})

	if strings.Contains(printed.String(), token) {
		t.Errorf("a client command printed the API token")
	}
}

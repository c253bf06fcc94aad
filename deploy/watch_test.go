package deploy

import (
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
)

const (
	oldImage = "127.0.0.1:5000/web:v1@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	newImage = "127.0.0.1:5000/web:v2@sha256:1123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

// fakeService is a replicated service of image as the engine reports it.
func fakeService(image string, replicas uint64, status *swarm.UpdateStatus) swarm.Service {
	return swarm.Service{
		ID: "svc1",
		Spec: swarm.ServiceSpec{
			Annotations: swarm.Annotations{Name: "web"},
			TaskTemplate: swarm.TaskSpec{
				ContainerSpec: &swarm.ContainerSpec{Image: image},
				Runtime:       swarm.RuntimeContainer,
				Placement:     &swarm.Placement{Constraints: []string{"node.role==manager"}},
			},
			Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
		},
		UpdateStatus:  status,
		ServiceStatus: &swarm.ServiceStatus{DesiredTasks: replicas},
	}
}

// fakeTask is a task of image as the engine reports it: no runtime, and
// the placement of when it was created.
func fakeTask(id, image string, desired, state swarm.TaskState) swarm.Task {
	return swarm.Task{
		ID:           id,
		Spec:         swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: image}},
		DesiredState: desired,
		Status:       swarm.TaskStatus{State: state, Err: "task: non-zero exit (1)"},
	}
}

func status(state swarm.UpdateState, started time.Time, msg string) *swarm.UpdateStatus {
	return &swarm.UpdateStatus{State: state, StartedAt: &started, Message: msg}
}

func TestAssess(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	t1 := t0.Add(time.Minute)
	running, shutdown := swarm.TaskStateRunning, swarm.TaskStateShutdown
	// ch is an update to newImage issued when the service showed the
	// completed update of t0 and ran task old1.
	ch := &change{
		spec:   canonical(fakeService(newImage, 1, nil).Spec),
		task:   taskKey(fakeService(newImage, 1, nil).Spec),
		prev:   status(swarm.UpdateStateCompleted, t0, "update completed"),
		before: map[string]bool{"old1": true, "oldfail": true},
	}
	rollback := &change{spec: canonical(fakeService(oldImage, 1, nil).Spec), task: taskKey(fakeService(oldImage, 1, nil).Spec), prev: status(swarm.UpdateStatePaused, t1, ""), rollback: true}
	two := &change{spec: canonical(fakeService(newImage, 2, nil).Spec), task: ch.task, prev: ch.prev, before: ch.before}
	scaledToZero := &change{spec: canonical(fakeService(newImage, 0, nil).Spec), task: ch.task, prev: ch.prev, before: ch.before}
	global := fakeService(newImage, 1, status(swarm.UpdateStateCompleted, t1, ""))
	global.Spec.Mode = swarm.ServiceMode{Global: &swarm.GlobalService{}}
	global.ServiceStatus = nil
	globalCh := &change{spec: canonical(global.Spec), task: ch.task, prev: ch.prev}

	tests := []struct {
		name        string
		ch          *change
		svc         swarm.Service
		tasks       []swarm.Task
		want        verdictKind
		wantReason  string
		wantFailure string
	}{
		{
			name:  "a stale completed status of an earlier update is not this one's",
			ch:    ch,
			svc:   fakeService(newImage, 1, status(swarm.UpdateStateCompleted, t0, "update completed")),
			tasks: []swarm.Task{fakeTask("old1", oldImage, running, running)},
			want:  verdictPending,
		},
		{
			name:  "no status yet and old tasks running",
			ch:    ch,
			svc:   fakeService(newImage, 1, nil),
			tasks: []swarm.Task{fakeTask("old1", oldImage, running, running)},
			want:  verdictPending,
		},
		{
			name:  "updating, the new task runs but the swarm still monitors it",
			ch:    ch,
			svc:   fakeService(newImage, 1, status(swarm.UpdateStateUpdating, t1, "")),
			tasks: []swarm.Task{fakeTask("old1", oldImage, shutdown, shutdown), fakeTask("new1", newImage, running, running)},
			want:  verdictPending,
		},
		{
			name:  "completed with every task on the new spec",
			ch:    ch,
			svc:   fakeService(newImage, 1, status(swarm.UpdateStateCompleted, t1, "update completed")),
			tasks: []swarm.Task{fakeTask("old1", oldImage, shutdown, shutdown), fakeTask("new1", newImage, running, running)},
			want:  verdictConverged,
		},
		{
			name:  "completed but a task is still starting",
			ch:    two,
			svc:   fakeService(newImage, 2, status(swarm.UpdateStateCompleted, t1, "")),
			tasks: []swarm.Task{fakeTask("new1", newImage, running, running), fakeTask("new2", newImage, running, swarm.TaskStateStarting)},
			want:  verdictPending,
		},
		{
			name:  "completed but fewer tasks than replicas",
			ch:    two,
			svc:   fakeService(newImage, 2, status(swarm.UpdateStateCompleted, t1, "")),
			tasks: []swarm.Task{fakeTask("new1", newImage, running, running)},
			want:  verdictPending,
		},
		{
			name:  "0 replicas: no update status ever comes",
			ch:    scaledToZero,
			svc:   fakeService(newImage, 0, nil),
			tasks: []swarm.Task{fakeTask("old1", oldImage, shutdown, shutdown)},
			want:  verdictConverged,
		},
		{
			name:  "a global service on an engine without task counts",
			ch:    globalCh,
			svc:   global,
			tasks: []swarm.Task{fakeTask("new1", newImage, running, running)},
			want:  verdictConverged,
		},
		{
			name:       "paused",
			ch:         ch,
			svc:        fakeService(newImage, 1, status(swarm.UpdateStatePaused, t1, "update paused due to failure")),
			tasks:      []swarm.Task{fakeTask("new1", newImage, shutdown, swarm.TaskStateFailed)},
			want:       verdictFailed,
			wantReason: "update paused due to failure: task new1 failed: task: non-zero exit (1)",
		},
		{
			name:        "a new task failed while the swarm still updates",
			ch:          ch,
			svc:         fakeService(newImage, 1, status(swarm.UpdateStateUpdating, t1, "")),
			tasks:       []swarm.Task{fakeTask("new1", newImage, shutdown, swarm.TaskStateFailed)},
			want:        verdictPending,
			wantFailure: "task new1 failed: task: non-zero exit (1)",
		},
		{
			name:       "a new task failed and the update completed anyway (failure_action continue)",
			ch:         ch,
			svc:        fakeService(newImage, 1, status(swarm.UpdateStateCompleted, t1, "")),
			tasks:      []swarm.Task{fakeTask("new1", newImage, shutdown, swarm.TaskStateRejected), fakeTask("new2", newImage, running, running)},
			want:       verdictFailed,
			wantReason: "task new1 rejected",
		},
		{
			name:  "failed tasks from before the change do not count",
			ch:    ch,
			svc:   fakeService(newImage, 1, status(swarm.UpdateStateCompleted, t1, "")),
			tasks: []swarm.Task{fakeTask("oldfail", newImage, shutdown, swarm.TaskStateFailed), fakeTask("new1", newImage, running, running)},
			want:  verdictConverged,
		},
		{
			name:  "failed tasks of another spec do not count",
			ch:    ch,
			svc:   fakeService(newImage, 1, status(swarm.UpdateStateCompleted, t1, "")),
			tasks: []swarm.Task{fakeTask("late", oldImage, shutdown, swarm.TaskStateFailed), fakeTask("new1", newImage, running, running)},
			want:  verdictConverged,
		},
		{
			name:       "the swarm rolls back by itself",
			ch:         ch,
			svc:        fakeService(oldImage, 1, status(swarm.UpdateStateRollbackStarted, t1, "update rolled back due to failure")),
			tasks:      []swarm.Task{fakeTask("new1", newImage, shutdown, swarm.TaskStateFailed)},
			want:       verdictRollingBack,
			wantReason: "update rolled back due to failure",
		},
		{
			name:       "the swarm rolled back by itself",
			ch:         ch,
			svc:        fakeService(oldImage, 1, status(swarm.UpdateStateRollbackCompleted, t1, "rollback completed")),
			tasks:      []swarm.Task{fakeTask("new1", newImage, shutdown, swarm.TaskStateFailed)},
			want:       verdictRolledBack,
			wantReason: "the swarm rolled the update back",
		},
		{
			name:       "someone else changed the service",
			ch:         ch,
			svc:        fakeService("127.0.0.1:5000/web:v3", 1, status(swarm.UpdateStateUpdating, t1, "")),
			want:       verdictFinal,
			wantReason: "changed by someone else",
		},
		{
			name:  "a rollback in progress",
			ch:    rollback,
			svc:   fakeService(oldImage, 1, status(swarm.UpdateStateRollbackStarted, t1.Add(time.Second), "manually requested rollback")),
			tasks: []swarm.Task{fakeTask("new1", newImage, shutdown, swarm.TaskStateFailed)},
			want:  verdictPending,
		},
		{
			name:  "a rollback completed",
			ch:    rollback,
			svc:   fakeService(oldImage, 1, status(swarm.UpdateStateRollbackCompleted, t1.Add(time.Second), "rollback completed")),
			tasks: []swarm.Task{fakeTask("back1", oldImage, running, running)},
			want:  verdictRolledBack,
		},
		{
			name:       "a rollback paused",
			ch:         rollback,
			svc:        fakeService(oldImage, 1, status(swarm.UpdateStateRollbackPaused, t1.Add(time.Second), "rollback paused due to failure")),
			want:       verdictFinal,
			wantReason: "rollback paused: rollback paused due to failure",
		},
		{
			name: "a stale rollback status is not the rollback's",
			ch:   rollback,
			svc:  fakeService(oldImage, 1, status(swarm.UpdateStateRollbackCompleted, t1, "rollback completed")),
			want: verdictPending,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := assess(tt.ch, tt.svc, tt.tasks)
			if got.kind != tt.want {
				t.Errorf("assess = %+v, want kind %d", got, tt.want)
			}
			if !strings.Contains(got.reason, tt.wantReason) {
				t.Errorf("reason %q, want it to contain %q", got.reason, tt.wantReason)
			}
			if got.failure != tt.wantFailure && (tt.wantFailure != "" || got.kind == verdictPending) {
				t.Errorf("failure %q, want %q", got.failure, tt.wantFailure)
			}
			if got.progress == "" {
				t.Error("no progress line")
			}
		})
	}
}

func TestFresh(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name      string
		prev, cur *swarm.UpdateStatus
		want      bool
	}{
		{"no status", status(swarm.UpdateStateCompleted, t0, ""), nil, false},
		{"status without a start", nil, &swarm.UpdateStatus{State: swarm.UpdateStateUpdating}, false},
		{"first update", nil, status(swarm.UpdateStateUpdating, t0, ""), true},
		{"later update", status(swarm.UpdateStateCompleted, t0, ""), status(swarm.UpdateStateUpdating, t0.Add(time.Nanosecond), ""), true},
		{"the same update", status(swarm.UpdateStateUpdating, t0, ""), status(swarm.UpdateStateCompleted, t0, ""), false},
		{"an older update", status(swarm.UpdateStateCompleted, t0, ""), status(swarm.UpdateStateCompleted, t0.Add(-time.Hour), ""), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fresh(tt.prev, tt.cur); got != tt.want {
				t.Errorf("fresh = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCanonical(t *testing.T) {
	one := uint64(1)
	tests := []struct {
		name  string
		a, b  any
		equal bool
	}{
		{"nil and empty slices", swarm.ContainerSpec{Image: "x", Env: nil}, swarm.ContainerSpec{Image: "x", Env: []string{}}, true},
		{"nil and empty maps", swarm.Annotations{Name: "x"}, swarm.Annotations{Name: "x", Labels: map[string]string{}}, true},
		{"nil and empty structs", swarm.TaskSpec{}, swarm.TaskSpec{Placement: &swarm.Placement{}, Resources: &swarm.ResourceRequirements{}}, true},
		{"different values", swarm.ContainerSpec{Image: "x"}, swarm.ContainerSpec{Image: "y"}, false},
		{"a zero and an unset pointer", swarm.ReplicatedService{}, swarm.ReplicatedService{Replicas: &one}, false},
		{"list order counts", swarm.ContainerSpec{Env: []string{"A=1", "B=2"}}, swarm.ContainerSpec{Env: []string{"B=2", "A=1"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := canonical(tt.a) == canonical(tt.b); got != tt.equal {
				t.Errorf("canonical equal = %v, want %v:\n%s\n%s", got, tt.equal, canonical(tt.a), canonical(tt.b))
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	// What the compose converter makes and what the engine stores of it.
	fromFile := swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: "s_web"},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: &swarm.ContainerSpec{Image: "web:1", Privileges: &swarm.Privileges{}},
			Networks:      []swarm.NetworkAttachmentConfig{{Target: "s_front", Aliases: []string{"web"}}},
		},
		EndpointSpec: &swarm.EndpointSpec{},
		UpdateConfig: &swarm.UpdateConfig{Parallelism: 1, Monitor: time.Second},
	}
	stored := swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: "s_web"},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: &swarm.ContainerSpec{Image: "web:1", Isolation: "default"},
			Networks:      []swarm.NetworkAttachmentConfig{{Target: "n1d", Aliases: []string{"web"}}},
			Runtime:       swarm.RuntimeContainer,
		},
		EndpointSpec: &swarm.EndpointSpec{Mode: swarm.ResolutionModeVIP},
		UpdateConfig: &swarm.UpdateConfig{Parallelism: 1, Monitor: time.Second, FailureAction: "pause", Order: "stop-first"},
	}
	ids := map[string]string{"s_front": "n1d"}
	if a, b := canonical(normalize(fromFile, ids)), canonical(normalize(stored, ids)); a != b {
		t.Errorf("normalized specs differ:\n%s\n%s", a, b)
	}
	if fromFile.TaskTemplate.Networks[0].Target != "s_front" || fromFile.EndpointSpec.Mode != "" || fromFile.UpdateConfig.Order != "" {
		t.Error("normalize changed its argument")
	}
	changed := stored
	changed.UpdateConfig = &swarm.UpdateConfig{Parallelism: 2}
	if canonical(normalize(changed, ids)) == canonical(normalize(stored, ids)) {
		t.Error("a changed update config compares equal")
	}
}

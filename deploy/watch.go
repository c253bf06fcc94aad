package deploy

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/docker/docker/api/types/swarm"
)

// verdictKind is what one look at a service says about a change.
type verdictKind int

const (
	// verdictPending: keep watching.
	verdictPending verdictKind = iota
	// verdictConverged: every task runs the new spec, the update is done.
	verdictConverged
	// verdictFailed: the change failed; a rollback may follow.
	verdictFailed
	// verdictRollingBack: the swarm rolls the service back by itself.
	verdictRollingBack
	// verdictRolledBack: the service is back on its previous spec.
	verdictRolledBack
	// verdictFinal: failed, and no rollback is possible.
	verdictFinal
)

// verdict is assess's reading of a service.
type verdict struct {
	kind verdictKind
	// reason says why a change failed or was rolled back.
	reason string
	// failure describes a failed task of the new spec, noticed while the
	// swarm's update still runs (it decides what happens next).
	failure string
	// progress is a one-line summary for the log.
	progress string
	// monitor is the service's update monitor period (set by watch).
	monitor time.Duration
}

// assess reads one observation of a service and its tasks (the tasks read
// before the service: a task of the new spec seen running then implies
// that the update status read after it is the update's) against the change
// being watched. It is pure.
//
// An update converges when every task the swarm wants running runs the
// service's current task spec, there are as many as it wants, and the
// swarm's update status, when this change has one, is completed. A change
// that replaces no task (0 replicas, a change outside the task spec) gets
// no update status at all from the swarm, so none is waited for: this is
// the hang of docker/cli#627. A status counts only when it started after
// the one seen before the change (manager clock against manager clock), so
// a completed status of an earlier update is never taken for this one.
func assess(ch *change, svc swarm.Service, tasks []swarm.Task) verdict {
	var state swarm.UpdateState
	var msg string
	if st := svc.UpdateStatus; st != nil && fresh(ch.prev, st) {
		state, msg = st.State, st.Message
	}
	want := taskKey(svc.Spec)
	desired := desiredTasks(svc)
	running, settled := tasksOn(want, tasks, desired)
	v := verdict{progress: progress(state, running, desired, ch.rollback) + stuckTask(tasks)}
	ours := canonical(svc.Spec) == ch.spec

	if ch.rollback {
		switch {
		case !ours:
			return verdict{kind: verdictFinal, reason: "the service was changed by someone else during the rollback", progress: v.progress}
		case state == swarm.UpdateStateRollbackCompleted:
			return verdict{kind: verdictRolledBack, reason: msg, progress: v.progress}
		case state == swarm.UpdateStateRollbackPaused:
			return verdict{kind: verdictFinal, reason: "rollback paused: " + msg, progress: v.progress}
		}
		return v
	}

	if !ours {
		switch state {
		case swarm.UpdateStateRollbackStarted:
			return verdict{kind: verdictRollingBack, reason: msg, failure: failedTask(ch, tasks), progress: v.progress}
		case swarm.UpdateStateRollbackCompleted:
			// The message now only says "rollback completed".
			return verdict{kind: verdictRolledBack, reason: "the swarm rolled the update back", failure: failedTask(ch, tasks), progress: v.progress}
		case swarm.UpdateStateRollbackPaused:
			return verdict{kind: verdictFinal, reason: "the swarm rolled the update back, but the rollback paused: " + msg, progress: v.progress}
		}
		return verdict{kind: verdictFinal, reason: "the service was changed by someone else during the deploy", progress: v.progress}
	}

	v.failure = failedTask(ch, tasks)
	switch state {
	case swarm.UpdateStatePaused:
		v.kind, v.reason = verdictFailed, msg
		if v.failure != "" {
			v.reason += ": " + v.failure
		}
		return v
	case swarm.UpdateStateRollbackStarted, swarm.UpdateStateRollbackPaused, swarm.UpdateStateRollbackCompleted:
		// A rollback that led back to this very spec: not this change's.
		return verdict{kind: verdictFinal, reason: "the service was rolled back by someone else during the deploy", progress: v.progress}
	case swarm.UpdateStateUpdating:
		// A failed task while the swarm still updates: its failure_action
		// decides (pause, rollback, continue); wait for it.
		return v
	}
	if v.failure != "" {
		v.kind, v.reason = verdictFailed, v.failure
		return v
	}
	if settled && (state == swarm.UpdateStateCompleted || state == "") {
		v.kind = verdictConverged
	}
	return v
}

// fresh reports whether the update status cur started after prev, the one
// seen before the change.
func fresh(prev, cur *swarm.UpdateStatus) bool {
	if cur == nil || cur.StartedAt == nil {
		return false
	}
	if prev == nil || prev.StartedAt == nil {
		return true
	}
	return cur.StartedAt.After(*prev.StartedAt)
}

// desiredTasks is the number of tasks the swarm wants running: the
// engine's count (API 1.41) or the replicas; -1 when unknown (a global
// service on an older engine).
func desiredTasks(svc swarm.Service) int {
	if svc.ServiceStatus != nil {
		return int(svc.ServiceStatus.DesiredTasks)
	}
	if r := svc.Spec.Mode.Replicated; r != nil && r.Replicas != nil {
		return int(*r.Replicas)
	}
	return -1
}

// tasksOn counts the tasks the swarm wants running that run the task spec
// want, and reports whether those are all of them and enough.
func tasksOn(want string, tasks []swarm.Task, desired int) (running int, settled bool) {
	settled = true
	for _, task := range tasks {
		if task.DesiredState != swarm.TaskStateRunning {
			continue
		}
		if task.Status.State == swarm.TaskStateRunning && specKey(task.Spec) == want {
			running++
		} else {
			settled = false
		}
	}
	return running, settled && running >= desired
}

// failedTask describes the first task of the change's spec, created after
// the change, that failed, was rejected or ended; "" when there is none.
func failedTask(ch *change, tasks []swarm.Task) string {
	for _, task := range tasks {
		if ch.before[task.ID] {
			continue
		}
		if !isEnded(task.Status.State) {
			continue
		}
		if specKey(task.Spec) != ch.task {
			continue
		}
		why := task.Status.Err
		if why == "" {
			why = task.Status.Message
		}
		id := task.ID
		if len(id) > 12 {
			id = id[:12]
		}
		return fmt.Sprintf("task %s %s: %s", id, task.Status.State, why)
	}
	return ""
}

// isEnded reports whether a task in state s failed, was rejected or ended.
func isEnded(s swarm.TaskState) bool {
	return s == swarm.TaskStateFailed || s == swarm.TaskStateRejected || s == swarm.TaskStateComplete
}

// stuckTask describes a task the swarm wants running that has not started
// for a reason it reports (no suitable node, an image it cannot pull), for
// the progress line and so for the message of a timeout; "" when there is
// none.
func stuckTask(tasks []swarm.Task) string {
	for _, task := range tasks {
		if task.DesiredState != swarm.TaskStateRunning || task.Status.State == swarm.TaskStateRunning || task.Status.Err == "" {
			continue
		}
		id := task.ID
		if len(id) > 12 {
			id = id[:12]
		}
		return fmt.Sprintf("; task %s %s: %s", id, task.Status.State, task.Status.Err)
	}
	return ""
}

func progress(state swarm.UpdateState, running, desired int, rollback bool) string {
	want := "?"
	if desired >= 0 {
		want = strconv.Itoa(desired)
	}
	spec := "new"
	if rollback {
		spec = "previous"
	}
	s := fmt.Sprintf("%d/%s tasks running the %s spec", running, want, spec)
	if state != "" {
		s = "update " + string(state) + ", " + s
	}
	return s
}

// taskKey is the canonical form of a service's task spec, as its tasks
// carry it.
func taskKey(spec swarm.ServiceSpec) string {
	ts := spec.TaskTemplate
	if len(ts.Networks) == 0 {
		// Services created with the deprecated top-level networks: the
		// swarm copies them into each task's spec.
		ts.Networks = spec.Networks //nolint:staticcheck // read to match what tasks carry
	}
	return specKey(ts)
}

// specKey is the canonical form of a task spec for comparing the tasks'
// copies with the service's. Placement is left out: a change of placement
// alone does not replace a task whose node still qualifies. Runtime is
// left out: the engine reports it for services but not for tasks.
func specKey(ts swarm.TaskSpec) string {
	ts.Placement = nil
	ts.Runtime = ""
	return canonical(ts)
}

// canonical returns v's JSON with every empty value (null, "", 0, false,
// {} and []) left out of objects and object keys sorted, so a spec read
// back from the engine equals the spec that was sent although nil and
// empty slices, maps and structs come back swapped.
func canonical(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "unencodable: " + err.Error()
	}
	var tree any
	if err := json.Unmarshal(b, &tree); err != nil {
		return "undecodable: " + err.Error()
	}
	out, err := json.Marshal(pruneEmpty(tree))
	if err != nil {
		return "unencodable: " + err.Error()
	}
	return string(out)
}

// pruneEmpty removes empty values from the objects of a decoded JSON tree;
// array elements keep their places.
func pruneEmpty(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			e = pruneEmpty(e)
			if isEmpty(e) {
				delete(v, k)
			} else {
				v[k] = e
			}
		}
		return v
	case []any:
		for i := range v {
			v[i] = pruneEmpty(v[i])
		}
		return v
	}
	return v
}

func isEmpty(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case string:
		return v == ""
	case bool:
		return !v
	case float64:
		return v == 0
	case map[string]any:
		return len(v) == 0
	case []any:
		return len(v) == 0
	}
	return false
}

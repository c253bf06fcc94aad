package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/swarm"
)

// MinStableFor is the least time new tasks are watched after convergence
// when RolloutOptions.StableFor is StableForMonitor.
const MinStableFor = 10 * time.Second

// StableForMonitor as RolloutOptions.StableFor watches new tasks for the
// service's update monitor period, at least MinStableFor.
const StableForMonitor time.Duration = -1

// stableFor is how long the new tasks of a service with the given update
// monitor period must keep running after convergence; 0 means they are not
// watched.
func stableFor(opts RolloutOptions, monitor time.Duration) time.Duration {
	switch {
	case opts.StableFor > 0:
		return opts.StableFor
	case opts.StableFor == StableForMonitor:
		return max(monitor, MinStableFor)
	}
	return 0
}

// stable watches a converged change for d: every task of the new spec must
// keep running (no exit, no restart, and healthy when the image has a
// HEALTHCHECK, which the swarm enforces by replacing an unhealthy task).
// It returns why the change is not stable, "" when it held. A change of
// the service by someone else, or the service's removal, ends the watch
// with a reason too: the rollback that follows refuses to undo another
// change.
func (t *Target) stable(ctx context.Context, ch *change, d time.Duration, opts RolloutOptions) string {
	fmt.Fprintf(opts.Log, "%s: converged; watching the new tasks for %s (stable_for)\n", ch.name, d)
	deadline := time.Now().Add(d)
	tick := time.NewTicker(opts.Poll)
	defer tick.Stop()
	since := map[string]time.Time{} // running tasks of the change → first seen running
	var lastErr error
	for {
		svc, tasks, err := t.observe(ctx, ch.id)
		switch {
		case errors.Is(err, errServiceGone):
			return "the service was removed while its new tasks were watched (stable_for)"
		case err != nil:
			lastErr = err
		default:
			lastErr = nil
			if canonical(svc.Spec) != ch.spec {
				return "the service was changed by someone else while its new tasks were watched (stable_for)"
			}
			if why := t.unstable(ctx, ch, tasks, since); why != "" {
				return why
			}
		}
		if ctx.Err() != nil {
			return fmt.Sprintf("deploy canceled (%v) while the new tasks were watched (stable_for)", context.Cause(ctx))
		}
		if time.Now().After(deadline) {
			if lastErr != nil {
				fmt.Fprintf(opts.Log, "%s: stable for %s (last poll: %v)\n", ch.name, d, lastErr)
			} else {
				fmt.Fprintf(opts.Log, "%s: stable for %s\n", ch.name, d)
			}
			return ""
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
}

// unstable looks at one observation of the change's tasks: the first task
// of the new spec that stopped by itself (failed, completed or rejected)
// or whose container is unhealthy is described; "" when all hold. since records when each running task was
// first seen running.
func (t *Target) unstable(ctx context.Context, ch *change, tasks []swarm.Task, since map[string]time.Time) string {
	for _, task := range tasks {
		if ch.before[task.ID] || specKey(task.Spec) != ch.task {
			continue
		}
		switch task.Status.State {
		case swarm.TaskStateRunning:
			if _, ok := since[task.ID]; !ok {
				since[task.ID] = task.Status.Timestamp
			}
			if st := t.containerState(ctx, task); unhealthy(st) {
				return fmt.Sprintf("task %s unhealthy: %s", shortID(task.ID), lastProbe(st.Health))
			}
		case swarm.TaskStateFailed, swarm.TaskStateComplete, swarm.TaskStateRejected:
			// A task the swarm shuts down on purpose (scaled down, node
			// drained) is not a failure of the image.
			return t.describeStop(ctx, task, since)
		}
	}
	return ""
}

// describeStop says how a task of the new spec stopped: "task X exited 3 at
// 12s", or "task X unhealthy: <the health check's last output>" when the
// swarm replaced it for failing its HEALTHCHECK.
func (t *Target) describeStop(ctx context.Context, task swarm.Task, since map[string]time.Time) string {
	id := shortID(task.ID)
	st := t.containerState(ctx, task)
	if unhealthy(st) {
		return fmt.Sprintf("task %s unhealthy: %s", id, lastProbe(st.Health))
	}
	code := -1
	if cs := task.Status.ContainerStatus; cs != nil {
		code = cs.ExitCode
	}
	if st != nil {
		code = st.ExitCode
	}
	what := fmt.Sprintf("task %s %s", id, task.Status.State)
	if code >= 0 && task.Status.State != swarm.TaskStateRejected {
		what = fmt.Sprintf("task %s exited %d", id, code)
	}
	if at := ranFor(st, task, since); at > 0 {
		what += fmt.Sprintf(" at %s", at.Round(time.Second))
	}
	why := task.Status.Err
	if why == "" {
		why = task.Status.Message
	}
	if why != "" {
		what += " (" + why + ")"
	}
	return what
}

// ranFor is how long a stopped task ran: from its container's times when
// the engine has them, else from when it was first seen running (or
// created) to its last state change; 0 when unknown.
func ranFor(st *container.State, task swarm.Task, since map[string]time.Time) time.Duration {
	if st != nil {
		start, err1 := time.Parse(time.RFC3339Nano, st.StartedAt)
		end, err2 := time.Parse(time.RFC3339Nano, st.FinishedAt)
		if err1 == nil && err2 == nil && !start.IsZero() && end.After(start) {
			return end.Sub(start)
		}
	}
	start, ok := since[task.ID]
	if !ok {
		start = task.Meta.CreatedAt
	}
	if start.IsZero() || !task.Status.Timestamp.After(start) {
		return 0
	}
	return task.Status.Timestamp.Sub(start)
}

// containerState inspects a task's container; nil when it cannot. Only
// the engine of the task's node knows the container: on a swarm of several
// nodes a task elsewhere is not inspected and its swarm status is all
// there is.
func (t *Target) containerState(ctx context.Context, task swarm.Task) *container.State {
	cs := task.Status.ContainerStatus
	if cs == nil || cs.ContainerID == "" {
		return nil
	}
	c, err := t.cli.ContainerInspect(ctx, cs.ContainerID)
	if err != nil || c.ContainerJSONBase == nil {
		return nil
	}
	return c.State
}

// unhealthy reports whether a container's HEALTHCHECK says unhealthy.
func unhealthy(st *container.State) bool {
	return st != nil && st.Health != nil && st.Health.Status == container.Unhealthy
}

// lastProbe is the output of the last run of a health check.
func lastProbe(h *container.Health) string {
	if len(h.Log) == 0 {
		return "no health check output"
	}
	last := h.Log[len(h.Log)-1]
	out := strings.TrimSpace(last.Output)
	if out == "" {
		out = "no output"
	}
	return fmt.Sprintf("%s (exit %d)", out, last.ExitCode)
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

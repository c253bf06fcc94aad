package deploy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"
)

// stackLabel is the label `docker stack deploy` puts on a stack's services,
// networks, secrets and configs.
const stackLabel = "com.docker.stack.namespace"

// maxUpdateAttempts bounds the retries of an update the swarm refused as
// out of sequence (someone else changed the service between our read and
// our write).
const maxUpdateAttempts = 5

// maxEngineRetries bounds how often a change whose task failed because of
// the Docker engine, not the image, is made again.
const maxEngineRetries = 2

// engineFaults are task errors of the Docker engine itself, not of the
// image or the spec: the same task started again runs.
var engineFaults = []string{
	// moby/moby#48783: an engine under memory pressure fails to remount a
	// task's secrets (or configs) tmpfs read-only ("unable to remount dir
	// as readonly: mount tmpfs:.../mounts/secrets ...: device or resource
	// busy").
	"unable to remount dir as readonly",
}

// engineFault reports whether a task failure (as failedTask describes it)
// is a fault of the engine.
func (o RolloutOptions) engineFault(failure string) bool {
	for _, f := range slices.Concat(engineFaults, o.engineFaults) {
		if failure != "" && strings.Contains(failure, f) {
			return true
		}
	}
	return false
}

// errServiceGone is returned by observe when the service no longer exists.
var errServiceGone = errors.New("the service was removed")

// Services returns the names of the services a deploy binding updates.
// Named services must exist (a short name is also looked up as
// stack_name) and, with a stack, belong to it. With no names, the stack's
// services (label com.docker.stack.namespace) whose image repository is
// imageRepo are returned, sorted; services of other stacks are never
// returned. Finding none is an error: the binding would deploy nothing.
func (t *Target) Services(ctx context.Context, stack string, services []string, imageRepo string) ([]string, error) {
	if len(services) > 0 {
		names := make([]string, 0, len(services))
		for _, name := range services {
			svc, err := t.lookup(ctx, stack, name)
			if err != nil {
				return nil, err
			}
			if got := svc.Spec.Labels[stackLabel]; stack != "" && got != stack {
				return nil, fmt.Errorf("service %q belongs to stack %q, not to stack %q: fix the deploy binding's stack or services", svc.Spec.Name, got, stack)
			}
			names = append(names, svc.Spec.Name)
		}
		return names, nil
	}
	if stack == "" {
		return nil, errors.New("the deploy binding names neither services nor a stack: set services, or stack to deploy the stack's services of the project's image")
	}
	want := repoName(imageRepo)
	if want == "" {
		return nil, fmt.Errorf("invalid image repository %q", imageRepo)
	}
	list, err := t.cli.ServiceList(ctx, swarm.ServiceListOptions{Filters: filters.NewArgs(filters.Arg("label", stackLabel+"="+stack))})
	if err != nil {
		return nil, fmt.Errorf("list services of stack %q on %s: %w", stack, t.host, err)
	}
	var names, others []string
	for _, svc := range list {
		if svc.Spec.Labels[stackLabel] != stack { // the filter is exact; be sure
			continue
		}
		cs := svc.Spec.TaskTemplate.ContainerSpec
		if cs != nil && repoName(cs.Image) == want {
			names = append(names, svc.Spec.Name)
		} else {
			others = append(others, svc.Spec.Name)
		}
	}
	if len(names) == 0 {
		if len(list) == 0 {
			return nil, fmt.Errorf("stack %q has no services on target %q (%s): deploy the stack once (`docker stack deploy`) or use compose_files", stack, t.name, t.host)
		}
		sort.Strings(others)
		return nil, fmt.Errorf("no service of stack %q runs an image of %s (its services: %s): name the services to update in the deploy binding", stack, want, strings.Join(others, ", "))
	}
	sort.Strings(names)
	return names, nil
}

// lookup inspects a service by name, trying stack_name first for a short
// name.
func (t *Target) lookup(ctx context.Context, stack, name string) (swarm.Service, error) {
	var (
		svc swarm.Service
		err error
	)
	if stack != "" && !strings.HasPrefix(name, stack+"_") {
		// The scoped name first: the engine also takes a short name as a
		// prefix of some service's ID.
		svc, _, err = t.cli.ServiceInspectWithRaw(ctx, stack+"_"+name, swarm.ServiceInspectOptions{})
	}
	if stack == "" || strings.HasPrefix(name, stack+"_") || cerrdefs.IsNotFound(err) {
		svc, _, err = t.cli.ServiceInspectWithRaw(ctx, name, swarm.ServiceInspectOptions{})
	}
	switch {
	case cerrdefs.IsNotFound(err):
		return svc, fmt.Errorf("service %q not found on deploy target %q (%s): check the deploy binding's services (`docker service ls` on a manager lists them)", name, t.name, t.host)
	case err != nil:
		return svc, fmt.Errorf("inspect service %q on %s: %w", name, t.host, err)
	}
	return svc, nil
}

// Rollout updates one service (name or ID) to img pinned by digest,
// forwarding opts.RegistryAuth to the agents and keeping the rest of the
// spec, then watches it until the swarm has converged (every task of the
// new spec running and the update completed) or the update failed (paused,
// rolled back by the service's own failure_action, a task of the new spec
// failed, or opts.Timeout passed). A failed update is rolled back to the
// previous spec when opts.Rollback is set. A service already pinned to
// img's digest is left alone (StatusUnchanged); a service with no tasks to
// replace (0 replicas) converges at once.
//
// An update the swarm refuses as out of sequence is retried after a fresh
// read. An update whose task failed because of the Docker engine, not the
// image (engineFaults, e.g. moby/moby#48783), is rolled back and made
// again, at most maxEngineRetries times, each with the bounds below; a new
// service's task that failed so is left to the swarm, which starts another.
// Canceling ctx stops the watch (the swarm carries on with the
// update) and returns StatusFailed. The outcome is always a Result, never
// a hang: each try is bounded by opts.Timeout plus opts.RollbackTimeout
// (and the few API calls around them), so the call by 1+maxEngineRetries
// times that.
func (t *Target) Rollout(ctx context.Context, service string, img Image, opts RolloutOptions) Result {
	start := time.Now()
	opts = opts.withDefaults()
	res := t.rollout(ctx, service, img, opts)
	if res.Service == "" {
		res.Service = service
	}
	res.Duration = time.Since(start)
	return res
}

func (t *Target) rollout(ctx context.Context, service string, img Image, opts RolloutOptions) (res Result) {
	var previous string // the image before the update
	defer func() { res.Previous, res.OfImage = previous, true }()
	if err := img.validate(); err != nil {
		return failed(service, err.Error())
	}
	if err := t.probeReady(ctx, service, opts.Probe); err != nil {
		return failed(service, err.Error())
	}
	ref := img.Ref()
	svc, ch, err := t.update(ctx, service, opts, func(svc swarm.Service) (swarm.ServiceSpec, bool) {
		spec := svc.Spec
		cs := spec.TaskTemplate.ContainerSpec
		if cs != nil {
			previous = cs.Image
		}
		if cs == nil || isJob(svc) || sameImage(cs.Image, ref) {
			return spec, false
		}
		pinned := *cs
		pinned.Image = ref
		spec.TaskTemplate.ContainerSpec = &pinned
		return spec, true
	})
	if err != nil {
		return failed(service, err.Error())
	}
	if ch == nil {
		if svc.Spec.TaskTemplate.ContainerSpec == nil {
			return failed(svc.Spec.Name, "not a container service: only services running containers can be deployed")
		}
		if isJob(svc) {
			return failed(svc.Spec.Name, "a job service (mode replicated-job or global-job): only services that keep running can be deployed")
		}
		return t.atImage(ctx, svc, opts)
	}
	fmt.Fprintf(opts.Log, "%s: updating to %s\n", ch.name, ref)
	return t.settle(ctx, ch, opts)
}

// failed returns a failed Result.
func failed(service, reason string) Result {
	return Result{Service: service, Status: StatusFailed, Error: reason}
}

// change is an update slipway issued and now watches.
type change struct {
	id, name string
	// spec is the canonical form of the service's spec as stored right
	// after the change; a different spec later means someone else changed
	// the service.
	spec string
	// task is the canonical form of the change's task spec (specKey), to
	// tell its tasks from others.
	task string
	// prev is the update status before the change: a status that started
	// no later belongs to an earlier update.
	prev *swarm.UpdateStatus
	// before holds the IDs of the tasks that existed before the change; a
	// failed task among them is not this change's failure.
	before map[string]bool
	// rollback marks the watch of a rollback.
	rollback bool
	// created marks a service slipway created: it has no previous spec.
	created bool
	// written is the spec slipway wrote, to write again when the change
	// failed because of the engine; nil for a rollback or a change slipway
	// did not make.
	written *swarm.ServiceSpec
	// retries counts the times the change was made again after a fault of
	// the engine (or, for a created service, the failed tasks passed over).
	retries int
}

// update reads the service, asks mutate for its new spec and writes it,
// retrying from a fresh read when the swarm reports the write out of
// sequence. It returns the service as read and a nil change when mutate
// reports nothing to change.
func (t *Target) update(ctx context.Context, name string, opts RolloutOptions, mutate func(swarm.Service) (swarm.ServiceSpec, bool)) (swarm.Service, *change, error) {
	for attempt := 1; ; attempt++ {
		svc, _, err := t.cli.ServiceInspectWithRaw(ctx, name, swarm.ServiceInspectOptions{})
		if err != nil {
			return svc, nil, fmt.Errorf("inspect service %q: %w", name, err)
		}
		spec, changed := mutate(svc)
		if !changed {
			return svc, nil, nil
		}
		before, err := t.taskIDs(ctx, svc.ID)
		if err != nil {
			return svc, nil, err
		}
		resp, err := t.cli.ServiceUpdate(ctx, svc.ID, svc.Version, spec, swarm.ServiceUpdateOptions{EncodedRegistryAuth: opts.RegistryAuth})
		if err != nil {
			if outOfSequence(err) && attempt < maxUpdateAttempts {
				continue
			}
			return svc, nil, fmt.Errorf("update service %s: %w", svc.Spec.Name, err)
		}
		for _, w := range resp.Warnings {
			fmt.Fprintf(opts.Log, "%s: warning: %s\n", svc.Spec.Name, strings.TrimSpace(w))
		}
		ch := &change{id: svc.ID, name: svc.Spec.Name, prev: svc.UpdateStatus, before: before, written: &spec}
		if err := t.recordSpec(ctx, ch); err != nil {
			return svc, nil, err
		}
		return svc, ch, nil
	}
}

// outOfSequence reports whether the swarm refused a write because the
// service changed since it was read. The engine sends no typed error for
// it, so its text is the only sign (swarmkit's store.ErrSequenceConflict).
func outOfSequence(err error) bool {
	return err != nil && strings.Contains(err.Error(), "update out of sequence")
}

// recordSpec stores the service's current spec in ch.
func (t *Target) recordSpec(ctx context.Context, ch *change) error {
	svc, _, err := t.cli.ServiceInspectWithRaw(ctx, ch.id, swarm.ServiceInspectOptions{})
	if err != nil {
		return fmt.Errorf("inspect service %s: %w", ch.name, err)
	}
	ch.spec, ch.task = canonical(svc.Spec), taskKey(svc.Spec)
	return nil
}

// taskIDs returns the IDs of the service's tasks.
func (t *Target) taskIDs(ctx context.Context, id string) (map[string]bool, error) {
	tasks, err := t.cli.TaskList(ctx, swarm.TaskListOptions{Filters: filters.NewArgs(filters.Arg("service", id))})
	if err != nil {
		return nil, fmt.Errorf("list tasks of service %s: %w", id, err)
	}
	ids := make(map[string]bool, len(tasks))
	for _, task := range tasks {
		ids[task.ID] = true
	}
	return ids, nil
}

// atImage is the outcome for a service already pinned to the image: left
// alone, unless its last update is still running (watched) or stopped
// (failed: "unchanged" would hide it).
func (t *Target) atImage(ctx context.Context, svc swarm.Service, opts RolloutOptions) Result {
	st := svc.UpdateStatus
	if st == nil || st.State == swarm.UpdateStateCompleted || st.State == swarm.UpdateStateRollbackCompleted {
		fmt.Fprintf(opts.Log, "%s: unchanged\n", svc.Spec.Name)
		return Result{Service: svc.Spec.Name, Status: StatusUnchanged}
	}
	switch st.State {
	case swarm.UpdateStatePaused, swarm.UpdateStateRollbackPaused:
		return failed(svc.Spec.Name, fmt.Sprintf("the service is already as deployed, but its last update is %s (%s): fix the service, then deploy again", st.State, st.Message))
	case swarm.UpdateStateRollbackStarted:
		return failed(svc.Spec.Name, "a rollback of the service is in progress: deploy again when it has finished")
	case swarm.UpdateStateUpdating:
		before, err := t.taskIDs(ctx, svc.ID)
		if err != nil {
			return failed(svc.Spec.Name, err.Error())
		}
		fmt.Fprintf(opts.Log, "%s: an update to the image is in progress; watching it\n", svc.Spec.Name)
		return t.settle(ctx, &change{id: svc.ID, name: svc.Spec.Name, spec: canonical(svc.Spec), task: taskKey(svc.Spec), before: before}, opts)
	}
	return failed(svc.Spec.Name, fmt.Sprintf("unknown update state %q", st.State))
}

// settle watches a change until it converged or failed, and rolls a
// failed one back when allowed.
func (t *Target) settle(ctx context.Context, ch *change, opts RolloutOptions) Result {
	v := t.watch(ctx, ch, opts)
	switch v.kind {
	case verdictConverged:
		if opts.Probe != nil {
			if why := t.probe(ctx, ch, *opts.Probe, opts); why != "" {
				return t.rollback(ctx, ch, why, opts)
			}
		}
		if d := stableFor(opts, v.monitor); d > 0 {
			if why := t.stable(ctx, ch, d, opts); why != "" {
				return t.rollback(ctx, ch, why, opts)
			}
		}
		fmt.Fprintf(opts.Log, "%s: converged\n", ch.name)
		return Result{Service: ch.name, Status: StatusConverged}
	case verdictRolledBack:
		fmt.Fprintf(opts.Log, "%s: rolled back by the swarm: %s\n", ch.name, v.reason)
		return t.again(ctx, ch, Result{Service: ch.name, Status: StatusRolledBack, Error: v.reason}, opts)
	case verdictFailed:
		return t.again(ctx, ch, t.rollback(ctx, ch, v.reason, opts), opts)
	}
	return failed(ch.name, v.reason) // verdictFinal: no rollback possible
}

// again makes a change rolled back because of a fault of the engine
// (engineFaults) once more and settles it; any other outcome res is
// returned as it is.
func (t *Target) again(ctx context.Context, ch *change, res Result, opts RolloutOptions) Result {
	if res.Status != StatusRolledBack || ch.written == nil || ch.retries >= maxEngineRetries || !opts.engineFault(res.Error) || ctx.Err() != nil {
		return res
	}
	n := ch.retries + 1
	fmt.Fprintf(opts.Log, "%s: the task failed because of the Docker engine, not the image; deploying again (retry %d of %d)\n", ch.name, n, maxEngineRetries)
	written := *ch.written
	_, next, err := t.update(ctx, ch.id, opts, func(svc swarm.Service) (swarm.ServiceSpec, bool) {
		spec := written
		// Keep the counter: a changed one would restart tasks by itself.
		spec.TaskTemplate.ForceUpdate = svc.Spec.TaskTemplate.ForceUpdate
		return spec, canonical(spec) != canonical(svc.Spec)
	})
	switch {
	case err != nil:
		res.Error += fmt.Sprintf("; deploying again failed: %v", err)
		return res
	case next == nil:
		return res // the service has that spec already (someone else wrote it)
	}
	next.retries = n
	return t.settle(ctx, next, opts)
}

// rollback rolls a failed change back to the previous spec when allowed
// and possible, and watches the rollback.
func (t *Target) rollback(ctx context.Context, ch *change, reason string, opts RolloutOptions) Result {
	switch {
	case !opts.Rollback:
		fmt.Fprintf(opts.Log, "%s: failed (rollback off): %s\n", ch.name, reason)
		return failed(ch.name, reason)
	case ch.created:
		return failed(ch.name, reason+"; the service was just created, so there is nothing to roll back to")
	case ctx.Err() != nil:
		return failed(ch.name, reason)
	}
	fmt.Fprintf(opts.Log, "%s: failed: %s; rolling back\n", ch.name, reason)
	var rb *change
	for attempt := 1; rb == nil; attempt++ {
		svc, _, err := t.cli.ServiceInspectWithRaw(ctx, ch.id, swarm.ServiceInspectOptions{})
		if err != nil {
			return failed(ch.name, fmt.Sprintf("%s; rollback: inspect: %v", reason, err))
		}
		if st := svc.UpdateStatus; st != nil && fresh(ch.prev, st) && isRollbackState(st.State) {
			// The swarm rolls back by itself (failure_action: rollback).
			rb = &change{id: ch.id, name: ch.name, spec: canonical(svc.Spec), task: taskKey(svc.Spec), prev: ch.prev, rollback: true}
			break
		}
		if canonical(svc.Spec) != ch.spec {
			return failed(ch.name, reason+"; not rolled back: the service was changed by someone else meanwhile")
		}
		if svc.PreviousSpec == nil {
			return failed(ch.name, reason+"; not rolled back: the service has no previous spec")
		}
		_, err = t.cli.ServiceUpdate(ctx, svc.ID, svc.Version, svc.Spec, swarm.ServiceUpdateOptions{Rollback: "previous"})
		if err != nil {
			if outOfSequence(err) && attempt < maxUpdateAttempts {
				continue
			}
			return failed(ch.name, fmt.Sprintf("%s; rollback: %v", reason, err))
		}
		rb = &change{id: ch.id, name: ch.name, prev: svc.UpdateStatus, rollback: true}
		if err := t.recordSpec(ctx, rb); err != nil {
			return failed(ch.name, fmt.Sprintf("%s; rollback: %v", reason, err))
		}
	}
	v := t.watch(ctx, rb, opts)
	if v.kind == verdictRolledBack {
		fmt.Fprintf(opts.Log, "%s: rolled back\n", ch.name)
		return Result{Service: ch.name, Status: StatusRolledBack, Error: reason}
	}
	return failed(ch.name, fmt.Sprintf("%s; rollback failed: %s", reason, v.reason))
}

// watch polls the service and its tasks every opts.Poll until assess gives
// a verdict or opts.Timeout has passed. Errors of single polls are
// tolerated (a manager may be electing a leader) until the deadline.
func (t *Target) watch(ctx context.Context, ch *change, opts RolloutOptions) verdict {
	limit := opts.Timeout
	if ch.rollback {
		limit = opts.RollbackTimeout
	}
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(opts.Poll)
	defer tick.Stop()
	var (
		firstFailure string
		lastProgress string
		lastErr      error
		why          string    // the swarm's reason for rolling back
		stableSince  time.Time // since when a new service has converged
	)
	for {
		svc, tasks, err := t.observe(ctx, ch.id)
		switch {
		case errors.Is(err, errServiceGone):
			return verdict{kind: verdictFinal, reason: errServiceGone.Error()}
		case err != nil && ctx.Err() == nil:
			lastErr = err
		case err == nil:
			lastErr = nil
			v := assess(ch, svc, tasks)
			v.monitor = monitorPeriod(svc)
			if v.progress != lastProgress {
				fmt.Fprintf(opts.Log, "%s: %s\n", ch.name, v.progress)
				lastProgress = v.progress
			}
			if v.kind == verdictFailed && ch.created && ch.retries < maxEngineRetries && opts.engineFault(v.failure) {
				// A new service has no update to roll back: the swarm
				// starts another task; watch that one.
				ch.retries++
				fmt.Fprintf(opts.Log, "%s: %s, a fault of the Docker engine, not the image; waiting for the swarm's next task (%d of %d)\n", ch.name, v.failure, ch.retries, maxEngineRetries)
				for _, task := range tasks {
					if isEnded(task.Status.State) {
						ch.before[task.ID] = true
					}
				}
				v.kind, v.failure = verdictPending, ""
			}
			if firstFailure == "" {
				firstFailure = v.failure
			}
			switch {
			case v.kind == verdictRollingBack && !ch.rollback:
				// The service rolls itself back: give the rollback its
				// own time, as a rollback slipway starts gets.
				ch = &change{id: ch.id, name: ch.name, spec: canonical(svc.Spec), task: taskKey(svc.Spec), prev: ch.prev, rollback: true}
				limit = opts.RollbackTimeout
				deadline = time.Now().Add(limit)
				why = v.reason
			case v.kind == verdictConverged && ch.created:
				// A new service has no update whose monitor period the
				// swarm waits out: its tasks must keep running for that
				// long here (a crash meanwhile is a failed task).
				if stableSince.IsZero() {
					stableSince = time.Now()
				}
				if time.Since(stableSince) >= monitorPeriod(svc) {
					return v
				}
			case v.kind == verdictPending || v.kind == verdictRollingBack:
				stableSince = time.Time{}
			default:
				if v.kind == verdictRolledBack && why != "" {
					v.reason = why
				}
				if v.kind == verdictRolledBack && firstFailure != "" && !strings.Contains(v.reason, firstFailure) {
					v.reason += ": " + firstFailure
				}
				return v
			}
		}
		if ctx.Err() != nil {
			return verdict{kind: verdictFinal, reason: fmt.Sprintf("deploy canceled (%v) while %s", context.Cause(ctx), orNothing(lastProgress))}
		}
		if time.Now().After(deadline) {
			what := "converge"
			if ch.rollback {
				what = "roll back"
			}
			reason := fmt.Sprintf("did not %s within %s (%s)", what, limit, orNothing(lastProgress))
			if firstFailure != "" {
				reason += ": " + firstFailure
			}
			if lastErr != nil {
				reason += fmt.Sprintf("; last poll: %v", lastErr)
			}
			if ch.rollback {
				// A rollback that does not finish is not rolled back again.
				return verdict{kind: verdictFinal, reason: reason}
			}
			return verdict{kind: verdictFailed, reason: reason}
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
}

// defaultMonitor is the swarm's update monitor period when a service sets
// none.
const defaultMonitor = 5 * time.Second

// monitorPeriod is how long the swarm watches a new task of the service
// for failure.
func monitorPeriod(svc swarm.Service) time.Duration {
	if c := svc.Spec.UpdateConfig; c != nil && c.Monitor > 0 {
		return c.Monitor
	}
	return defaultMonitor
}

func orNothing(progress string) string {
	if progress == "" {
		return "no progress seen"
	}
	return progress
}

// observe reads the service's tasks, then the service with its task
// counts. The order matters to assess: a task of the new spec seen running
// was started by an update whose status the later read of the service
// shows.
func (t *Target) observe(ctx context.Context, id string) (swarm.Service, []swarm.Task, error) {
	tasks, err := t.cli.TaskList(ctx, swarm.TaskListOptions{Filters: filters.NewArgs(filters.Arg("service", id))})
	if err != nil {
		return swarm.Service{}, nil, fmt.Errorf("list tasks: %w", err)
	}
	list, err := t.cli.ServiceList(ctx, swarm.ServiceListOptions{Filters: filters.NewArgs(filters.Arg("id", id)), Status: true})
	if err != nil {
		return swarm.Service{}, nil, fmt.Errorf("list service: %w", err)
	}
	i := slices.IndexFunc(list, func(s swarm.Service) bool { return s.ID == id })
	if i < 0 {
		return swarm.Service{}, nil, errServiceGone
	}
	return list[i], tasks, nil
}

// isJob reports whether the service runs to completion.
func isJob(svc swarm.Service) bool {
	return svc.Spec.Mode.ReplicatedJob != nil || svc.Spec.Mode.GlobalJob != nil
}

// isRollbackState reports whether s is a state of a rollback.
func isRollbackState(s swarm.UpdateState) bool {
	return s == swarm.UpdateStateRollbackStarted || s == swarm.UpdateStateRollbackPaused || s == swarm.UpdateStateRollbackCompleted
}

// Running returns the image the service's spec runs now (a reference, with
// its digest when pinned) and when the service was last changed.
func (t *Target) Running(ctx context.Context, service string) (image string, since time.Time, err error) {
	svc, _, err := t.cli.ServiceInspectWithRaw(ctx, service, swarm.ServiceInspectOptions{})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("inspect service %q on %s: %w", service, t.host, err)
	}
	if cs := svc.Spec.TaskTemplate.ContainerSpec; cs != nil {
		image = cs.Image
	}
	return image, svc.UpdatedAt, nil
}

// DigestOf returns the digest an image reference is pinned to, "" when it
// is not pinned.
func DigestOf(ref string) string { return digestOf(ref) }

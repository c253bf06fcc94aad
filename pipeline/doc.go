// Package pipeline runs builds, from a trigger to a build result:
//
//   - Plan (plan.go) works out a build from the config and its Trigger,
//     purely: event, full ref, tags in push order, context, Dockerfile,
//     build key and which of Docker Hub's settings apply.
//   - Queue.Enqueue (enqueue.go) is the one way into the durable queue, for
//     every producer (webhook, API, schedules, the requeue after a late
//     push); the workers (queue.go) take builds from it.
//   - A build is a run (run.go) through an ordered list of small stages
//     (stages.go), each a type with one Exec; Docker Hub's hooks, variables
//     and autotests (hub.go) wrap the build, test and push stages.
//
// Data flows one way: the stages call source, builder, registry, deploy and
// hub and write the result into the store; none of those packages calls
// back, and pipeline never imports the packages that drive it.
package pipeline

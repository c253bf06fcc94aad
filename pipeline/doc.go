// Package pipeline runs builds: one build's stages in order (source, build,
// test, push, deploy), each recording its outcome in the build record, and
// (in queue.go) the durable queue and the workers that take builds from it.
//
// Data flows one way: the runner calls source, builder and registry and
// writes the result into the store; none of those packages calls back.
package pipeline

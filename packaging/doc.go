// Package packaging holds the tests of how slipway is shipped: the
// Dockerfile at the module root, built by slipway's own pipeline, and the
// Swarm stack file deploy/stack.yml. It has no code of its own.
package packaging

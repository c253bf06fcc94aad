package deploy

import "slices"

// WithEngineFaults returns o with task errors that its rollouts count as
// faults of the engine, as they count engineFaults: the tests cannot make
// the engine fail at will, so they name a failure they can cause.
func WithEngineFaults(o RolloutOptions, faults ...string) RolloutOptions {
	o.engineFaults = append(slices.Clone(o.engineFaults), faults...)
	return o
}

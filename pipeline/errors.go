package pipeline

import "errors"

// Causes of a build's context being canceled; the final status follows the
// cause (context.Cause).
var (
	// ErrCanceled is the cause when a user canceled the build.
	ErrCanceled = errors.New("build canceled")
	// ErrSuperseded is the cause when a newer commit of the same branch
	// replaced the build.
	ErrSuperseded = errors.New("build superseded by a newer commit")
	// ErrTimeout is the cause when build_timeout passed.
	ErrTimeout = errors.New("build_timeout passed")
	// ErrShutdown is the cause when slipway stopped before the build ended;
	// the build is queued again at the next start.
	ErrShutdown = errors.New("slipway is shutting down")
	// ErrOlderCommit ends a push build whose commit is older than one
	// already built for its branch: building it would move tags backwards.
	ErrOlderCommit = errors.New("older than a commit pushed after it")
)

package builder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/containerd/platforms"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestLabel marks the containers Test creates, with the value "1".
const TestLabel = "io.slipway.test"

// logDrainTimeout bounds the wait for a test container's remaining output
// once it has exited.
const logDrainTimeout = 10 * time.Second

// ErrTestFailed is matched (errors.Is) by the error of a test command that
// exited with a non-zero code; errors.As gives the *TestFailedError.
var ErrTestFailed = errors.New("test failed")

// ErrTestTimeout is matched by the error of a test command that ran longer
// than its timeout and was killed.
var ErrTestTimeout = errors.New("test timed out")

// TestFailedError is the error of a test command that exited with a
// non-zero code. It matches ErrTestFailed.
type TestFailedError struct {
	// ExitCode is the command's exit code.
	ExitCode int
}

// Error returns "test command exited with code N".
func (e *TestFailedError) Error() string {
	return fmt.Sprintf("test command exited with code %d", e.ExitCode)
}

// Is reports whether target is ErrTestFailed.
func (e *TestFailedError) Is(target error) bool { return target == ErrTestFailed }

// TestOptions describes one test run.
type TestOptions struct {
	// Image is the image to run, by ID or reference.
	Image string
	// Command is the arguments, as in `docker run IMAGE ARGS` (exec form:
	// no shell, FROM scratch images have none): they follow the ENTRYPOINT
	// and replace the image's CMD; empty keeps the image's CMD (unless
	// Entrypoint is set, which drops it, as docker run --entrypoint does).
	Command []string
	// Entrypoint replaces the image's ENTRYPOINT when not nil, as `docker
	// run --entrypoint` does; an empty (non-nil) slice clears it, so Command
	// is the whole command line.
	Entrypoint []string
	// Timeout limits the command's run time from its start; zero means no
	// limit other than ctx.
	Timeout time.Duration
	// Name is the container's name; empty lets the engine choose one.
	Name string
	// Platform runs the image of that platform ("linux/arm64"), as
	// `docker run --platform`; "" is the engine's own.
	Platform string
}

// Test runs a new container of opts.Image with opts.Command and
// opts.Entrypoint as `docker run [--entrypoint E] IMAGE COMMAND...` would,
// without a TTY, streaming its stdout and stderr to log line by line as
// they come. It
// returns nil when the command exits 0, a *TestFailedError for another exit
// code, and an error matching ErrTestTimeout when the command outlives
// opts.Timeout (it is killed). When ctx is done the container is killed and
// Test returns ctx's cause. The container, labeled TestLabel=1, is always
// removed with its anonymous volumes before Test returns, even when ctx is
// done.
func (b *Builder) Test(ctx context.Context, opts TestOptions, log io.Writer) (err error) {
	cfg := &container.Config{
		Image:  opts.Image,
		Labels: map[string]string{TestLabel: "1"},
	}
	if len(opts.Command) > 0 {
		cfg.Cmd = opts.Command
	}
	switch {
	case opts.Entrypoint == nil:
		// The image's ENTRYPOINT, as docker run without --entrypoint.
	case len(opts.Entrypoint) == 0:
		// [""] is the engine's way of saying "no entrypoint" (docker run
		// --entrypoint ""); an empty list would be dropped from the JSON.
		cfg.Entrypoint = []string{""}
	default:
		cfg.Entrypoint = opts.Entrypoint
	}
	created, err := b.cli.ContainerCreate(ctx, cfg, &container.HostConfig{}, nil, ociPlatform(opts.Platform), opts.Name)
	if err != nil {
		return fmt.Errorf("create container from %s: %w", opts.Image, err)
	}
	id := created.ID
	defer func() {
		rmCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		rmErr := b.cli.ContainerRemove(rmCtx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
		if rmErr != nil && err == nil {
			err = fmt.Errorf("remove container %s: %w", id, rmErr)
		}
	}()

	// Waiting for the next exit before the start cannot miss an exit that
	// comes before the wait request would.
	waitCtx, stopWait := context.WithCancel(ctx)
	defer stopWait()
	waitC, waitErrC := b.cli.ContainerWait(waitCtx, id, container.WaitConditionNextExit)

	if err := b.cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return fmt.Errorf("start container from %s: %w", opts.Image, err)
	}
	var timeout <-chan time.Time
	if opts.Timeout > 0 {
		timer := time.NewTimer(opts.Timeout)
		defer timer.Stop()
		timeout = timer.C
	}

	logCtx, stopLogs := context.WithCancel(ctx)
	defer stopLogs()
	logDone := make(chan error, 1)
	go func() { logDone <- b.copyLogs(logCtx, id, log) }()
	// drain waits for the rest of the output of a container that has
	// stopped; the log stream ends with it.
	drain := func() error {
		select {
		case err := <-logDone:
			return err
		case <-time.After(logDrainTimeout):
			stopLogs()
			<-logDone
			return nil
		}
	}

	select {
	case res := <-waitC:
		logErr := drain()
		if res.Error != nil && res.Error.Message != "" {
			return fmt.Errorf("wait for container: %s", res.Error.Message)
		}
		if res.StatusCode != 0 {
			return &TestFailedError{ExitCode: int(res.StatusCode)}
		}
		return logErr
	case err := <-waitErrC:
		if ctx.Err() != nil {
			b.kill(ctx, id)
			stopLogs()
			<-logDone
			return context.Cause(ctx)
		}
		stopLogs()
		<-logDone
		return fmt.Errorf("wait for container: %w", err)
	case <-timeout:
		b.kill(ctx, id)
		_ = drain() // the timeout is the error to report
		return fmt.Errorf("%w after %s: the command was killed; raise test.timeout if it needs longer", ErrTestTimeout, opts.Timeout)
	case <-ctx.Done():
		b.kill(ctx, id)
		stopLogs()
		<-logDone
		return context.Cause(ctx)
	}
}

// copyLogs follows the container's stdout and stderr into log, each line
// whole.
func (b *Builder) copyLogs(ctx context.Context, id string, log io.Writer) error {
	rc, err := b.cli.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: true})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("follow container output: %w", err)
	}
	defer rc.Close()
	lw := newLogWriter(log, nil)
	stdout := &lineSplitter{lw: lw}
	stderr := &lineSplitter{lw: lw}
	_, copyErr := stdcopy.StdCopy(stdout, stderr, rc)
	if err := stdout.flush(); err != nil {
		return fmt.Errorf("write the test output: %w", err)
	}
	if err := stderr.flush(); err != nil {
		return fmt.Errorf("write the test output: %w", err)
	}
	if copyErr != nil && ctx.Err() == nil {
		return fmt.Errorf("follow container output: %w", copyErr)
	}
	return nil
}

// kill stops the container at once; removal follows.
func (b *Builder) kill(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	// Best effort: the forced removal that always follows kills it too.
	_ = b.cli.ContainerKill(ctx, id, "KILL")
}

// ociPlatform parses "os/arch[/variant]"; nil for "" or what does not
// parse (the engine's own platform).
func ociPlatform(p string) *ocispec.Platform {
	if p == "" {
		return nil
	}
	pl, err := platforms.Parse(p)
	if err != nil {
		return nil
	}
	return &pl
}

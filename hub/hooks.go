package hub

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Hook names, as the files in hooks/ are called.
const (
	HookPostCheckout = "post_checkout"
	HookPreBuild     = "pre_build"
	HookBuild        = "build" // replaces the build phase
	HookPostBuild    = "post_build"
	HookPreTest      = "pre_test"
	HookTest         = "test" // replaces the test phase
	HookPostTest     = "post_test"
	HookPrePush      = "pre_push"
	HookPush         = "push" // replaces the push phase
	HookPostPush     = "post_push"
)

// hookNames are the hooks Hub knows, in the order of the phases.
func hookNames() []string {
	return []string{
		HookPostCheckout, HookPreBuild, HookBuild, HookPostBuild, HookPreTest,
		HookTest, HookPostTest, HookPrePush, HookPush, HookPostPush,
	}
}

// DefaultHookTimeout bounds one hook when Run is given no timeout.
const DefaultHookTimeout = 10 * time.Minute

// hookDrainTimeout bounds the wait for a hook's output once its process
// group is gone; a process that left the group (setsid) may hold the pipe.
const hookDrainTimeout = 5 * time.Second

// ErrHookFailed is matched (errors.Is) by the error of a hook that exited
// with a non-zero code or was killed by a signal; errors.As gives the
// *HookError.
var ErrHookFailed = errors.New("hook failed")

// ErrHookTimeout is matched by the error of a hook that ran longer than
// its timeout; its whole process group was killed.
var ErrHookTimeout = errors.New("hook timed out")

// HookError is the error of a hook that did not exit 0. It matches
// ErrHookFailed.
type HookError struct {
	// Hook is the hook's name, such as "pre_build".
	Hook string
	// ExitCode is the exit code, or -1 when a signal ended the hook.
	ExitCode int
	// Signal names the signal that ended the hook, "" otherwise.
	Signal string
}

// Error returns "hook pre_build exited with code 2" (or "was killed by
// signal ...").
func (e *HookError) Error() string {
	if e.Signal != "" {
		return fmt.Sprintf("hook %s was killed by signal %s", e.Hook, e.Signal)
	}
	return fmt.Sprintf("hook %s exited with code %d", e.Hook, e.ExitCode)
}

// Is reports whether target is ErrHookFailed.
func (e *HookError) Is(target error) bool { return target == ErrHookFailed }

// Hooks are the hook files of one checkout. Hub looks for them in a hooks/
// directory "at the same directory level as your Dockerfile".
type Hooks struct {
	// Dir is the hooks directory.
	Dir string
	// WorkDir is the hooks' working directory. FindHooks sets it to the
	// parent of Dir; a caller whose build context differs from the
	// Dockerfile's directory sets it to the build context, where Hub runs
	// them (so that `docker build -f $DOCKERFILE_PATH .` works).
	WorkDir string
	// present maps hook names to their files.
	present map[string]string
}

// FindHooks returns the hooks in dir/hooks (dir being the directory that
// holds the Dockerfile). A missing hooks directory gives a Hooks with none;
// files in it with other names than Hub's hooks are ignored, as are
// directories. Hooks may be symbolic links.
func FindHooks(dir string) (*Hooks, error) {
	h := &Hooks{Dir: filepath.Join(dir, "hooks"), WorkDir: dir, present: make(map[string]string)}
	for _, name := range hookNames() {
		p := filepath.Join(h.Dir, name)
		fi, err := os.Stat(p)
		switch {
		case errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
			continue
		case err != nil:
			return nil, fmt.Errorf("find hooks: %w", err)
		case fi.Mode().IsRegular():
			h.present[name] = p
		}
	}
	return h, nil
}

// Has reports whether the hook called name exists.
func (h *Hooks) Has(name string) bool {
	_, ok := h.present[name]
	return ok
}

// Names returns the names of the hooks present, in the order of the
// phases they belong to.
func (h *Hooks) Names() []string {
	var out []string
	for _, n := range hookNames() {
		if h.Has(n) {
			out = append(out, n)
		}
	}
	return out
}

// HookEnv is what a hook learns about the build, as Hub gives it.
type HookEnv struct {
	// SourceBranch is the branch or tag name being built.
	SourceBranch string
	// SourceCommit is the full commit hash.
	SourceCommit string
	// CommitMsg is the commit's message.
	CommitMsg string
	// DockerRepo is the image repository, such as "docker.io/acme/web".
	DockerRepo string
	// DockerfilePath is the Dockerfile relative to the build context.
	DockerfilePath string
	// DockerTag is the tag being built; IMAGE_NAME is DockerRepo:DockerTag.
	DockerTag string
	// DockerHost is the engine slipway uses ("unix:///var/run/docker.sock",
	// "tcp://..."), so that the docker CLI in a hook reaches the same
	// engine. Default "": DOCKER_HOST of slipway's environment, if set.
	DockerHost string
	// DockerConfig is a directory with a config.json for the docker CLI
	// (DOCKER_CONFIG), e.g. with the push credentials a hooks/push needs.
	// Default "": unset, so the CLI reads $HOME/.docker.
	DockerConfig string
	// Extra are the project's build environment variables. They cannot
	// replace Hub's variables above.
	Extra map[string]string
	// Secrets are build environment variables whose values are replaced by
	// "***" in the hook's output. They cannot replace Hub's variables.
	Secrets map[string]string
}

// ImageName is DOCKER_REPO:DOCKER_TAG.
func (e HookEnv) ImageName() string { return e.DockerRepo + ":" + e.DockerTag }

// Vars returns Hub's variables: SOURCE_BRANCH, SOURCE_COMMIT, COMMIT_MSG,
// DOCKER_REPO, DOCKERFILE_PATH, DOCKER_TAG and IMAGE_NAME. The caller also
// gives them to the autotest and, when the Dockerfile declares them, to the
// build as build args.
func (e HookEnv) Vars() map[string]string {
	return map[string]string{
		EnvSourceBranch:   e.SourceBranch,
		EnvSourceCommit:   e.SourceCommit,
		EnvCommitMsg:      e.CommitMsg,
		EnvDockerRepo:     e.DockerRepo,
		EnvDockerfilePath: e.DockerfilePath,
		EnvDockerTag:      e.DockerTag,
		EnvImageName:      e.ImageName(),
	}
}

// passThrough are the variables of slipway's own environment a hook sees:
// enough to find programs and reach the engine, nothing else (slipway's
// environment may hold its secrets).
func passThrough() []string {
	return []string{"PATH", "HOME", "TMPDIR", "LANG", "DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"}
}

// Environ returns the hook's whole environment, sorted: PATH, HOME, TMPDIR,
// LANG and the DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH of
// slipway's environment when set (PATH defaults to the usual system path),
// then Extra and Secrets, then DockerHost and DockerConfig when set, then
// Hub's variables (Vars), later ones winning. Nothing else of slipway's
// environment reaches a hook.
func (e HookEnv) Environ() []string {
	env := make(map[string]string)
	for _, k := range passThrough() {
		if v, ok := os.LookupEnv(k); ok {
			env[k] = v
		}
	}
	if env["PATH"] == "" {
		env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	for k, v := range e.Extra {
		env[k] = v
	}
	for k, v := range e.Secrets {
		env[k] = v
	}
	if e.DockerHost != "" {
		env["DOCKER_HOST"] = e.DockerHost
	}
	if e.DockerConfig != "" {
		env["DOCKER_CONFIG"] = e.DockerConfig
	}
	for k, v := range e.Vars() {
		env[k] = v
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		if k != "" && !strings.ContainsAny(k, "=\x00") && !strings.Contains(v, "\x00") {
			out = append(out, k+"="+v)
		}
	}
	sort.Strings(out)
	return out
}

// Run runs the hook called name, if it exists (ran reports whether it did),
// as a process on this host: the file itself when it is executable, else
// the interpreter of its #! line, else /bin/sh. It runs in h.WorkDir with
// env.Environ() as its whole environment and no stdin, in a PID namespace
// of its own when the kernel lets slipway make one (root, or
// CAP_SYS_ADMIN), and in a process group of its own. Its stdout and stderr
// go to log line by line, each line prefixed with "[hook name] " and the
// values of env.Secrets replaced by "***"; log is written from one
// goroutine at a time.
//
// A non-zero exit gives a *HookError (ErrHookFailed). A hook still running
// after timeout (DefaultHookTimeout when zero or less) or when ctx is done
// is killed with every process it started, and Run returns an error
// matching ErrHookTimeout, or ctx's cause. Processes the hook left running
// when it exits are killed too. The hook is the first process (PID 1) of
// its PID namespace, and the kernel kills every other process of the
// namespace when it ends: no descendant escapes, not one that called
// setsid (which leaves the process group) nor one whose parent exited.
// Without a PID namespace (the kernel refuses one, see the log's note),
// only the process group is killed, which setsid escapes.
func (h *Hooks) Run(ctx context.Context, name string, env HookEnv, timeout time.Duration, log io.Writer) (ran bool, err error) {
	file, ok := h.present[name]
	if !ok {
		return false, nil
	}
	if timeout <= 0 {
		timeout = DefaultHookTimeout
	}
	argv, err := hookCommand(file)
	if err != nil {
		return true, fmt.Errorf("hook %s: %w", name, err)
	}
	out := newPrefixWriter(log, "[hook "+name+"] ", secretValues(env.Secrets))

	// One pipe for stdout and stderr keeps their lines in order. Wait does
	// not wait for it (it is an *os.File), so a background child holding
	// it cannot keep Run from killing the group.
	pr, pw, err := os.Pipe()
	if err != nil {
		return true, fmt.Errorf("hook %s: %w", name, err)
	}
	defer pr.Close()
	var cmd *exec.Cmd
	for _, isolate := range []bool{true, false} {
		cmd = exec.Command(argv[0], argv[1:]...)
		cmd.Dir = h.WorkDir
		cmd.Env = env.Environ()
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if isolate {
			cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWPID
		}
		cmd.Stdout, cmd.Stderr = pw, pw
		err = cmd.Start()
		if isolate && (errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOSPC)) {
			fmt.Fprintf(out, "note: no PID namespace for the hook (%v); a child that calls setsid can outlive it\n", err)
			continue
		}
		break
	}
	if err != nil {
		pw.Close()
		return true, fmt.Errorf("hook %s: start %s: %w", name, file, err)
	}
	pw.Close()
	// The hook leads its process group; in its PID namespace it is PID 1,
	// so killing it ends every process there.
	pgid := cmd.Process.Pid
	killGroup := func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) }

	copied := make(chan error, 1)
	go func() {
		_, err := io.Copy(out, pr)
		if err != nil {
			// Keep draining so that the hook never blocks on a full pipe.
			_, _ = io.Copy(io.Discard, pr)
		}
		if ferr := out.flush(); err == nil {
			err = ferr
		}
		copied <- err
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var stopped error
	var waitErr error
	select {
	case waitErr = <-exited:
	case <-timer.C:
		killGroup()
		waitErr = <-exited
		stopped = fmt.Errorf("hook %s: %w after %s: it was killed with its child processes", name, ErrHookTimeout, timeout)
	case <-ctx.Done():
		killGroup()
		waitErr = <-exited
		stopped = fmt.Errorf("hook %s: %w", name, context.Cause(ctx))
	}
	// The leader is reaped; the group lives on while children remain.
	killGroup()
	var copyErr error
	select {
	case copyErr = <-copied:
	case <-time.After(hookDrainTimeout):
		pr.Close() // a process outside the group holds the pipe
		copyErr = <-copied
	}
	if stopped != nil {
		return true, stopped
	}
	if waitErr != nil {
		var ee *exec.ExitError
		if errors.As(waitErr, &ee) {
			he := &HookError{Hook: name, ExitCode: ee.ExitCode()}
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				he.Signal = ws.Signal().String()
			}
			return true, he
		}
		return true, fmt.Errorf("hook %s: %w", name, waitErr)
	}
	if copyErr != nil && !errors.Is(copyErr, os.ErrClosed) {
		return true, fmt.Errorf("hook %s: write log: %w", name, copyErr)
	}
	return true, nil
}

// hookCommand is how a hook file is started: directly when executable,
// else through its #! interpreter, else /bin/sh (Hub's hooks often lack the
// executable bit, and Hub runs them anyway).
func hookCommand(file string) ([]string, error) {
	fi, err := os.Stat(file)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o111 != 0 {
		return []string{file}, nil
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	line, err := bufio.NewReaderSize(f, 512).ReadSlice('\n')
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, err
	}
	if interp, ok := bytes.CutPrefix(line, []byte("#!")); ok {
		// Linux passes everything after the interpreter as one argument.
		prog, arg, _ := strings.Cut(strings.TrimSpace(string(interp)), " ")
		if prog != "" {
			if arg = strings.TrimSpace(arg); arg != "" {
				return []string{prog, arg, file}, nil
			}
			return []string{prog, file}, nil
		}
	}
	return []string{"/bin/sh", file}, nil
}

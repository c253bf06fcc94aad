// Package gitfixture builds real git repositories for tests: a non-bare
// repository in t.TempDir() written with the git CLI, reachable through a
// file:// URL or a smart-HTTP server (git http-backend) on 127.0.0.1 with
// optional basic auth.
//
// Every helper fails the test on error (never skips): tests that need git
// must not pass without it. Commits use a fixed author ("Slipway Test
// <test@slipway.invalid>") and ignore the user's and the system's git config.
// A Repo is not safe for concurrent use.
package gitfixture

import (
	"bytes"
	"io"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipwayci/slipway/internal/gitref"
)

// Repo is a non-bare repository in a test's temporary directory. Its
// default branch is main.
type Repo struct {
	// Dir is the work tree (with .git inside).
	Dir string
}

// New creates an empty repository.
func New(t testing.TB) *Repo {
	t.Helper()
	r := &Repo{Dir: t.TempDir()}
	r.Git(t, "-c", "init.defaultBranch=main", "init", "-q")
	return r
}

// env is the environment of every git command: no user or system config, a
// fixed identity.
func env() []string {
	return append(os.Environ(),
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=Slipway Test", "GIT_AUTHOR_EMAIL=test@slipway.invalid",
		"GIT_COMMITTER_NAME=Slipway Test", "GIT_COMMITTER_EMAIL=test@slipway.invalid",
		"GIT_TERMINAL_PROMPT=0",
	)
}

// Git runs git with args in the repository and returns its trimmed stdout.
func (r *Repo) Git(t testing.TB, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.Dir
	cmd.Env = env()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(stdout.String())
}

// switchTo checks out branch, creating it from the current HEAD when new
// (on an empty repository, as an unborn branch).
func (r *Repo) switchTo(t testing.TB, branch string) {
	t.Helper()
	switch {
	case !r.ok("rev-parse", "--verify", "--quiet", "HEAD"):
		r.Git(t, "symbolic-ref", "HEAD", gitref.Branch(branch).String()) // unborn
	case r.ok("rev-parse", "--verify", "--quiet", gitref.Branch(branch).String()):
		r.Git(t, "checkout", "-q", branch)
	default:
		r.Git(t, "checkout", "-q", "-b", branch)
	}
}

// ok runs git and reports whether it succeeded.
func (r *Repo) ok(args ...string) bool {
	cmd := exec.Command("git", args...)
	cmd.Dir, cmd.Env = r.Dir, env()
	return cmd.Run() == nil
}

// write creates the file at path (slash-separated, inside the repository)
// with its parent directories.
func (r *Repo) write(t testing.TB, path string) string {
	t.Helper()
	full := filepath.Join(r.Dir, filepath.FromSlash(path))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	return full
}

// commit stages everything and commits it on the current branch.
func (r *Repo) commit(t testing.TB, msg string) string {
	t.Helper()
	r.Git(t, "add", "-A")
	r.Git(t, "commit", "-q", "--allow-empty", "-m", msg)
	return r.Git(t, "rev-parse", "HEAD")
}

// Commit writes files (slash path -> content, mode 0644) on branch, creating
// the branch from the current HEAD when it is new, commits them with msg and
// returns the commit's 40-hex hash.
func (r *Repo) Commit(t testing.TB, branch string, files map[string]string, msg string) string {
	t.Helper()
	r.switchTo(t, branch)
	for path, content := range files {
		if err := os.WriteFile(r.write(t, path), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return r.commit(t, msg)
}

// CommitFile copies the host file src into the repository at path with mode
// (git keeps only 0755 vs 0644), commits it on branch and returns the commit.
// It is meant for binaries, which do not fit Commit's strings.
func (r *Repo) CommitFile(t testing.TB, branch, path, src string, mode os.FileMode, msg string) string {
	t.Helper()
	r.switchTo(t, branch)
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	full := r.write(t, path)
	out, err := os.OpenFile(full, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode.Perm())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(full, mode.Perm()); err != nil {
		t.Fatal(err)
	}
	return r.commit(t, msg)
}

// CommitSymlink commits a symlink at path pointing to target (not checked)
// on branch and returns the commit.
func (r *Repo) CommitSymlink(t testing.TB, branch, path, target, msg string) string {
	t.Helper()
	r.switchTo(t, branch)
	full := r.write(t, path)
	_ = os.Remove(full)
	if err := os.Symlink(target, full); err != nil {
		t.Fatal(err)
	}
	return r.commit(t, msg)
}

// Remove deletes path (a file or a directory) on branch, commits and returns
// the commit.
func (r *Repo) Remove(t testing.TB, branch, path, msg string) string {
	t.Helper()
	r.switchTo(t, branch)
	r.Git(t, "rm", "-r", "-q", "--", path)
	return r.commit(t, msg)
}

// Tag creates the lightweight tag name at sha. Use Git(t, "tag", "-a", ...)
// for an annotated one.
func (r *Repo) Tag(t testing.TB, name, sha string) {
	t.Helper()
	r.Git(t, "tag", name, sha)
}

// URL returns the repository's file:// URL.
func (r *Repo) URL() string {
	return "file://" + filepath.ToSlash(r.Dir)
}

// ServeHTTP serves the repository over git's smart-HTTP protocol (git
// http-backend through net/http/cgi) on 127.0.0.1 and returns its URL. With a
// non-empty username every request needs that basic-auth user and password
// (401 otherwise). The server is closed when the test ends.
func (r *Repo) ServeHTTP(t testing.TB, username, password string) string {
	t.Helper()
	gitBin, err := exec.LookPath("git")
	if err != nil {
		t.Fatalf("git is needed to serve a fixture repository: %v", err)
	}
	backend := &cgi.Handler{
		Path: gitBin,
		Args: []string{"http-backend"},
		Env: []string{
			"GIT_PROJECT_ROOT=" + filepath.Dir(r.Dir),
			"GIT_HTTP_EXPORT_ALL=1",
			"GIT_CONFIG_NOSYSTEM=1",
			"GIT_CONFIG_GLOBAL=/dev/null",
		},
		InheritEnv: []string{"PATH", "HOME"},
	}
	h := http.Handler(backend)
	if username != "" {
		h = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			u, p, ok := req.BasicAuth()
			if !ok || u != username || p != password {
				w.Header().Set("WWW-Authenticate", `Basic realm="gitfixture"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			backend.ServeHTTP(w, req)
		})
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL + "/" + filepath.Base(r.Dir)
}

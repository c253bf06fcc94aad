package gitfixture_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/slipwayci/slipway/source/gitfixture"
)

// TestServeHTTP checks the fixture with the git CLI itself, independently
// of go-git: the branch and tag are listed, and wrong credentials fail.
func TestServeHTTP(t *testing.T) {
	t.Parallel()
	r := gitfixture.New(t)
	sha := r.Commit(t, "main", map[string]string{"a/b.txt": "b"}, "one")
	r.Tag(t, "v1", sha)
	feature := r.Commit(t, "feature", map[string]string{"c": "c"}, "two")
	if got := r.Git(t, "rev-parse", "main"); got != sha {
		t.Errorf("main = %s, want %s", got, sha)
	}
	if got := r.Git(t, "rev-parse", "feature^"); got != sha {
		t.Errorf("feature's parent = %s, want main's %s (branch created from HEAD)", got, sha)
	}

	url := r.ServeHTTP(t, "u", "p")
	out, err := lsRemote(strings.Replace(url, "http://", "http://u:p@", 1))
	if err != nil {
		t.Fatalf("ls-remote: %v\n%s", err, out)
	}
	for _, want := range []string{sha + "\trefs/heads/main", feature + "\trefs/heads/feature", sha + "\trefs/tags/v1"} {
		if !strings.Contains(out, want) {
			t.Errorf("ls-remote output lacks %q:\n%s", want, out)
		}
	}
	if out, err := lsRemote(strings.Replace(url, "http://", "http://u:wrong@", 1)); err == nil {
		t.Errorf("ls-remote with a wrong password succeeded:\n%s", out)
	}
}

func lsRemote(url string) (string, error) {
	cmd := exec.Command("git", "ls-remote", url)
	cmd.Env = append(cmd.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

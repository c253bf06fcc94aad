package pipeline

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipwayci/slipway/config"
)

// TestBuildArgs: Hub's variables and the build environment become build
// args only when declared; the project's build args win.
func TestBuildArgs(t *testing.T) {
	p := &config.Project{
		BuildArgs:       map[string]string{"SOURCE_BRANCH": "from-build-args", "PLAIN": "p"},
		SecretBuildArgs: map[string]config.Secret{"TOKEN": "t"},
		BuildEnv:        map[string]string{"NODE_ENV": "production", "UNDECLARED": "u"},
		SecretBuildEnv:  map[string]config.Secret{"NPM_TOKEN": "n", "PLAIN": "hidden"},
	}
	h := &hubState{declared: map[string]bool{"SOURCE_BRANCH": true, "SOURCE_COMMIT": true, "NODE_ENV": true, "NPM_TOKEN": true, "PLAIN": true}}
	h.env.SourceBranch, h.env.SourceCommit = "main", "abc"
	plain, secret, err := h.buildArgs(p)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(plain, map[string]string{"SOURCE_BRANCH": "from-build-args", "SOURCE_COMMIT": "abc", "NODE_ENV": "production", "PLAIN": "p"}); diff != "" {
		t.Errorf("plain build args (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(secret, map[string]string{"TOKEN": "t", "NPM_TOKEN": "n"}); diff != "" {
		t.Errorf("secret build args (-got +want):\n%s", diff)
	}

	plain, secret = projectArgs(p)
	if !cmp.Equal(plain, p.BuildArgs) || !cmp.Equal(secret, map[string]string{"TOKEN": "t"}) {
		t.Errorf("a project without Hub's settings: %v %v, want its own build args", plain, secret)
	}
}

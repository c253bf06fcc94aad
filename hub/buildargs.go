package hub

import (
	"fmt"
	"io"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// Names of the variables Hub gives builds, tests and hooks.
const (
	EnvSourceBranch   = "SOURCE_BRANCH"
	EnvSourceCommit   = "SOURCE_COMMIT"
	EnvCommitMsg      = "COMMIT_MSG"
	EnvDockerRepo     = "DOCKER_REPO"
	EnvDockerfilePath = "DOCKERFILE_PATH"
	EnvDockerTag      = "DOCKER_TAG"
	EnvImageName      = "IMAGE_NAME"
)

// BuildArgsDeclared returns the names of the build args the Dockerfile
// declares with ARG, in any stage or before the first FROM: the names of
// "ARG A", "ARG A=default" and of each of "ARG A B=x C". It parses with
// BuildKit's Dockerfile parser, so comments, line continuations, the escape
// directive and heredocs are read as the engine reads them.
//
// The caller passes Hub's variables (SOURCE_COMMIT and the others) as build
// args only when declared, as an undeclared build arg makes the classic
// builder warn and some Dockerfiles change behaviour on an unexpected arg.
func BuildArgsDeclared(dockerfile io.Reader) (map[string]bool, error) {
	res, err := parser.Parse(dockerfile)
	if err != nil {
		return nil, fmt.Errorf("parse dockerfile: %w", err)
	}
	out := make(map[string]bool)
	for _, n := range res.AST.Children {
		if !strings.EqualFold(n.Value, "arg") {
			continue
		}
		for w := n.Next; w != nil; w = w.Next {
			name, _, _ := strings.Cut(w.Value, "=")
			if name != "" {
				out[name] = true
			}
		}
	}
	return out, nil
}

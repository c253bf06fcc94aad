package builder

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// ArgInRun is a build arg whose value a RUN step records in the image's
// history: the engine (classic and BuildKit alike) writes the build args in
// scope of each RUN into its history entry ("|1 TOKEN=value /bin/sh -c …"),
// which `docker history --no-trunc` shows to anyone who can pull the image.
type ArgInRun struct {
	// Name is the build arg.
	Name string
	// ArgLine is the line of the ARG instruction that brings it into scope.
	ArgLine int
	// RunLine is the line of the first RUN in its scope.
	RunLine int
	// Stage names the stage ("" for an unnamed one).
	Stage string
}

// String describes the use: `ARG TOKEN (line 3) is in scope of RUN at line 5`.
func (a ArgInRun) String() string {
	s := fmt.Sprintf("ARG %s (line %d) is in scope of RUN at line %d", a.Name, a.ArgLine, a.RunLine)
	if a.Stage != "" {
		s += " in stage " + a.Stage
	}
	return s
}

// ArgsInRunHistory reports, for each of names, the first RUN step whose
// history entry in the built image would hold its value: a RUN after an ARG
// of that name in the stage built (target, "" for the last stage) or in a
// stage it is built FROM. A value only used in other stages stays out of
// the image. It reads the Dockerfile with BuildKit's parser, as the engine
// does; the result is in the order of names.
func ArgsInRunHistory(dockerfile io.Reader, target string, names []string) ([]ArgInRun, error) {
	res, err := parser.Parse(dockerfile)
	if err != nil {
		return nil, fmt.Errorf("parse dockerfile: %w", err)
	}
	stages := splitStages(res.AST)
	if len(stages) == 0 {
		return nil, nil
	}
	byName := map[string]int{}
	for i, s := range stages {
		if s.name != "" {
			byName[s.name] = i
		}
	}
	built := len(stages) - 1
	if target != "" {
		i, ok := byName[strings.ToLower(target)]
		if !ok {
			return nil, fmt.Errorf("dockerfile has no stage %q (target)", target)
		}
		built = i
	}
	// The stages whose history the built image carries: it and the stages
	// it is built FROM, base first.
	var chain []int
	for i := built; ; {
		chain = append([]int{i}, chain...)
		base, ok := byName[strings.ToLower(stages[i].base)]
		if !ok || base >= i {
			break
		}
		i = base
	}

	found := map[string]ArgInRun{}
	for _, i := range chain {
		st := stages[i]
		inScope := map[string]int{} // ARG name -> its line
		for _, n := range st.nodes {
			switch strings.ToLower(n.Value) {
			case "arg":
				for w := n.Next; w != nil; w = w.Next {
					name, _, _ := strings.Cut(w.Value, "=")
					if _, ok := inScope[name]; !ok && name != "" {
						inScope[name] = n.StartLine
					}
				}
			case "run":
				for name, argLine := range inScope {
					if _, done := found[name]; !done && slices.Contains(names, name) {
						found[name] = ArgInRun{Name: name, ArgLine: argLine, RunLine: n.StartLine, Stage: st.name}
					}
				}
			}
		}
	}
	var out []ArgInRun
	for _, n := range names {
		if a, ok := found[n]; ok {
			out = append(out, a)
		}
	}
	return out, nil
}

// stage is one FROM and the instructions up to the next.
type stage struct {
	name  string // lower-cased "AS" name, "" when unnamed
	base  string // the FROM image or stage
	nodes []*parser.Node
}

// splitStages cuts a Dockerfile's instructions into stages; those before
// the first FROM (meta ARGs) belong to none.
func splitStages(ast *parser.Node) []stage {
	var stages []stage
	for _, n := range ast.Children {
		if strings.EqualFold(n.Value, "from") {
			var s stage
			if n.Next != nil {
				s.base = n.Next.Value
				if as := n.Next.Next; as != nil && strings.EqualFold(as.Value, "as") && as.Next != nil {
					s.name = strings.ToLower(as.Next.Value)
				}
			}
			stages = append(stages, s)
			continue
		}
		if len(stages) > 0 {
			stages[len(stages)-1].nodes = append(stages[len(stages)-1].nodes, n)
		}
	}
	return stages
}

package basewatch

import (
	"context"
	"slices"

	"github.com/distribution/reference"

	"github.com/slipwayci/slipway/config"
)

// graph is the upstream chains between projects: an edge from A to B when
// B's build recorded a base that is A's image.
type graph struct {
	byRepo map[string]string // image repository (short form) → project
	down   map[string][]string
	up     map[string][]string
}

func newGraph(projects []config.Project) *graph {
	g := &graph{byRepo: map[string]string{}, down: map[string][]string{}, up: map[string][]string{}}
	for _, p := range projects {
		if named, err := reference.ParseNormalizedNamed(p.Image); err == nil {
			g.byRepo[reference.FamiliarName(named)] = p.Name
		}
	}
	return g
}

// upstreamOf is the project whose image ref is ("" when none).
func (g *graph) upstreamOf(ref string) string {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ""
	}
	return g.byRepo[reference.FamiliarName(named)]
}

// link records that down is built FROM up's image.
func (g *graph) link(up, down string) {
	if !slices.Contains(g.down[up], down) {
		g.down[up] = append(g.down[up], down)
		g.up[down] = append(g.up[down], up)
	}
}

// cycleThrough returns a cycle of upstream chains through name ([name, …,
// name]), or nil.
func (g *graph) cycleThrough(name string) []string {
	return cycleFrom(g.down, name)
}

// cycleFrom finds a path from start back to start along edges.
func cycleFrom(edges map[string][]string, start string) []string {
	seen := map[string]bool{}
	var path []string
	var walk func(n string) bool
	walk = func(n string) bool {
		path = append(path, n)
		for _, next := range edges[n] {
			if next == start {
				path = append(path, start)
				return true
			}
			if !seen[next] {
				seen[next] = true
				if walk(next) {
					return true
				}
			}
		}
		path = path[:len(path)-1]
		return false
	}
	if walk(start) {
		return path
	}
	return nil
}

// busyUpstream returns a project upstream of name (directly or not) that
// is about to be rebuilt (want) or has a build queued or running (active);
// "" when none.
func (g *graph) busyUpstream(ctx context.Context, name string, want map[string]bool, active func(context.Context, string) bool) string {
	seen := map[string]bool{name: true}
	queue := slices.Clone(g.up[name])
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		if seen[u] {
			continue
		}
		seen[u] = true
		if want[u] || active(ctx, u) {
			return u
		}
		queue = append(queue, g.up[u]...)
	}
	return ""
}

// Cycle returns an upstream chain cycle among projects given the bases of
// each (image references their Dockerfiles build FROM), as project names
// [A, B, …, A]; nil when there is none.
func Cycle(projects []config.Project, bases map[string][]string) []string {
	g := newGraph(projects)
	for _, p := range projects {
		for _, ref := range bases[p.Name] {
			if up := g.upstreamOf(ref); up != "" {
				g.link(up, p.Name)
			}
		}
	}
	for _, p := range projects {
		if c := g.cycleThrough(p.Name); c != nil {
			return c
		}
	}
	return nil
}

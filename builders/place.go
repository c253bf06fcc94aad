package builders

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strings"
)

// Candidate is a builder as placement sees it at one instant.
type Candidate struct {
	Name string
	// Labels are the builder's effective labels (the engine's arch and os
	// under the configured ones).
	Labels map[string]string
	// Healthy is the outcome of the last health check; Err its failure.
	Healthy bool
	Err     string
	// Draining builders take no new builds.
	Draining bool
	// Running and Concurrency are the builds it runs and may run.
	Running, Concurrency int
	// Excluded builders failed an earlier attempt of the same build.
	Excluded bool
}

// available reports whether c can take a build now.
func (c Candidate) available() bool {
	return c.Healthy && !c.Draining && !c.Excluded && c.Running < c.Concurrency
}

// usable reports whether c could take the build once a slot frees.
func (c Candidate) usable() bool { return c.Healthy && !c.Draining && !c.Excluded }

// state says why c takes no build now.
func (c Candidate) state() string {
	switch {
	case c.Excluded:
		return "failed this build's earlier attempt"
	case !c.Healthy && c.Err != "":
		return "unhealthy: " + c.Err
	case !c.Healthy:
		return "unhealthy"
	case c.Draining:
		return "draining"
	case c.Running >= c.Concurrency:
		return fmt.Sprintf("full (%d/%d builds)", c.Running, c.Concurrency)
	}
	return "available"
}

// Decision is where a build goes and why.
type Decision struct {
	// Builder is the chosen builder; "" when the build must wait (Wait)
	// or cannot run (Err).
	Builder string
	// Reason says why Builder, for the log and the build result.
	Reason string
	// Wait is set when every matching builder is busy: a slot will free.
	Wait bool
	// Sticky is the project's sticky builder among the matching ones,
	// whatever the decision ("" when none matches).
	Sticky string
}

// Place chooses a builder for a build of project among cands whose labels
// include want (builder_labels and the platform's os and arch). It is pure.
//
// The sticky builder is the matching builder with the highest rendezvous
// score for the project (HRW hashing: each project keeps its builder as
// builders come and go, and only the projects of a removed builder move),
// so a project's layer cache stays warm. When the sticky builder cannot take
// the build now (unhealthy, draining, full, failed an earlier attempt), the
// least loaded available matching builder takes it, ties going to the
// higher score. When every usable matching builder is full, Wait is set;
// when none is usable at all, Place returns an error naming the labels and
// the state of every builder.
func Place(cands []Candidate, project string, want map[string]string) (Decision, error) {
	var matching []Candidate
	for _, c := range cands {
		if matches(c.Labels, want) {
			matching = append(matching, c)
		}
	}
	if len(matching) == 0 {
		return Decision{}, fmt.Errorf("%w %s: builders: %s", ErrNoBuilder, describeLabels(want), describe(cands, true))
	}
	slices.SortStableFunc(matching, func(a, b Candidate) int { return cmp.Compare(score(project, b.Name), score(project, a.Name)) })
	sticky := matching[0]
	if sticky.available() {
		return Decision{Builder: sticky.Name, Reason: "sticky builder of " + project, Sticky: sticky.Name}, nil
	}
	var best *Candidate
	usable := false
	for i := range matching {
		c := &matching[i]
		usable = usable || c.usable()
		if c.available() && (best == nil || load(*c) < load(*best)) {
			best = c
		}
	}
	if best != nil {
		return Decision{Builder: best.Name, Reason: fmt.Sprintf("least loaded (%d/%d builds): sticky builder %s is %s", best.Running, best.Concurrency, sticky.Name, sticky.state()), Sticky: sticky.Name}, nil
	}
	if usable {
		return Decision{Wait: true, Reason: "every matching builder is full", Sticky: sticky.Name}, nil
	}
	return Decision{Sticky: sticky.Name}, fmt.Errorf("%w %s: builders: %s", ErrNoHealthyBuilder, describeLabels(want), describe(matching, false))
}

// load is the share of a builder's slots in use.
func load(c Candidate) float64 { return float64(c.Running) / float64(max(c.Concurrency, 1)) }

// score is the rendezvous (highest random weight) score of builder for
// project.
func score(project, builder string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(project))
	h.Write([]byte{0})
	h.Write([]byte(builder))
	// FNV's low bits mix poorly for short keys; a finalizer spreads them.
	x := h.Sum64()
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// matches reports whether labels include every label of want.
func matches(labels, want map[string]string) bool {
	for k, v := range want {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// describeLabels spells labels as {k: v, …} in key order.
func describeLabels(l map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(l)) {
		parts = append(parts, k+": "+l[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// describe lists builders with their labels and, unless labelsOnly, their
// state.
func describe(cands []Candidate, labelsOnly bool) string {
	var parts []string
	for _, c := range cands {
		s := c.Name + " " + describeLabels(c.Labels)
		if !labelsOnly {
			s += " " + c.state()
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

package source_test

import (
	"fmt"
	"testing"

	"github.com/slipwayci/slipway/source"
	"github.com/slipwayci/slipway/source/gitfixture"
)

func TestIsAncestor(t *testing.T) {
	t.Parallel()
	fx := gitfixture.New(t)
	c1 := fx.Commit(t, "main", map[string]string{"v.txt": "1"}, "one")
	c2 := fx.Commit(t, "main", map[string]string{"v.txt": "2"}, "two")
	other := fx.Commit(t, "side", map[string]string{"s.txt": "s"}, "side")
	c := newCache(t, source.Options{})

	if ok, err := c.IsAncestor(t.Context(), "p", c1, c2); err != nil || ok {
		t.Fatalf("before any clone: IsAncestor = %v, %v; want false, nil", ok, err)
	}
	checkout(t, c, source.Request{Project: "p", URL: fx.URL(), Ref: "main"})

	for _, tc := range []struct {
		name string
		a, d string
		want bool
	}{
		{"older is ancestor of newer", c1, c2, true},
		{"newer is not ancestor of older", c2, c1, false},
		{"a commit is its own ancestor", c2, c2, true},
		{"commit of an unfetched branch is unknown", other, c2, false},
		{"not a commit id", "main", c2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.IsAncestor(t.Context(), "p", tc.a, tc.d)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("IsAncestor(%s, %s) = %v, want %v", tc.a, tc.d, got, tc.want)
			}
		})
	}
}

func TestNewestDescendant(t *testing.T) {
	t.Parallel()
	fx := gitfixture.New(t)
	c1 := fx.Commit(t, "main", map[string]string{"v.txt": "1"}, "one")
	c2 := fx.Commit(t, "main", map[string]string{"v.txt": "2"}, "two")
	s1 := fx.Commit(t, "side", map[string]string{"s.txt": "s"}, "side, from two")
	c3 := fx.Commit(t, "main", map[string]string{"v.txt": "3"}, "three")
	unknown := fx.Commit(t, "far", map[string]string{"f.txt": "f"}, "never fetched")
	c := newCache(t, source.Options{})
	if got, ok, err := c.NewestDescendant(t.Context(), "p", c1, []string{c2}); err != nil || ok {
		t.Fatalf("before any clone: NewestDescendant = %q, %v, %v; want none", got, ok, err)
	}
	checkout(t, c, source.Request{Project: "p", URL: fx.URL(), Ref: "main"})
	checkout(t, c, source.Request{Project: "p", URL: fx.URL(), Ref: "side"})

	for _, tc := range []struct {
		name       string
		commit     string
		candidates []string
		want       string // "" for none
	}{
		{"a newer commit of the branch", c2, []string{c3, c1}, c3},
		{"only older commits", c2, []string{c1}, ""},
		{"the first descendant in the given order", c2, []string{s1, c3}, s1},
		{"the first descendant, older ones before it", c1, []string{c1, c2, c3}, c2},
		{"a diverged branch does not descend", c3, []string{s1, c2, c1}, ""},
		{"a commit does not descend from itself", c2, []string{c2}, ""},
		{"unknown candidates are skipped", c1, []string{unknown, "main", c3}, c3},
		{"an unknown commit has no descendant", unknown, []string{c3}, ""},
		{"no candidates", c1, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := c.NewestDescendant(t.Context(), "p", tc.commit, tc.candidates)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want || ok != (tc.want != "") {
				t.Errorf("NewestDescendant(%s, %v) = %q, %v; want %q", tc.commit, tc.candidates, got, ok, tc.want)
			}
		})
	}
}

// BenchmarkLateCommitCheck is the pipeline's check of a push build against
// the 100 builds of its branch before it (is any of their commits a
// descendant of the build's?), on a history of 300 commits: IsAncestor per
// build against one NewestDescendant.
func BenchmarkLateCommitCheck(b *testing.B) {
	fx := gitfixture.New(b)
	var commits []string
	for i := range 300 {
		commits = append(commits, fx.Commit(b, "main", map[string]string{"v.txt": fmt.Sprint(i)}, "next"))
	}
	c, err := source.NewCache(source.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	co, err := c.Checkout(b.Context(), source.Request{Project: "p", URL: fx.URL(), Ref: "main"})
	if err != nil {
		b.Fatal(err)
	}
	co.Close()
	newest := commits[len(commits)-1]
	var older []string
	for i := range 100 {
		older = append(older, commits[len(commits)-2-2*i])
	}
	b.Run("IsAncestor per build", func(b *testing.B) {
		for b.Loop() {
			for _, o := range older {
				if ok, err := c.IsAncestor(b.Context(), "p", newest, o); err != nil || ok {
					b.Fatal(ok, err)
				}
			}
		}
	})
	b.Run("NewestDescendant", func(b *testing.B) {
		for b.Loop() {
			if _, ok, err := c.NewestDescendant(b.Context(), "p", newest, older); err != nil || ok {
				b.Fatal(ok, err)
			}
		}
	})
}

package source_test

import (
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

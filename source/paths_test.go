package source_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipwayci/slipway/source"
	"github.com/slipwayci/slipway/source/gitfixture"
)

func TestPathFilter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name             string
		include, exclude []string
		file             string
		want             bool
	}{
		{"no patterns: every file", nil, nil, "docs/a.md", true},
		{"double star below a directory", []string{"services/web/**"}, nil, "services/web/x.go", true},
		{"double star deep", []string{"services/web/**"}, nil, "services/web/internal/a/b.go", true},
		{"other service", []string{"services/web/**"}, nil, "services/api/x.go", false},
		{"prefix of a name is not its directory", []string{"services/web/**"}, nil, "services/webber/x.go", false},
		{"directory pattern matches its contents", []string{"docs/"}, nil, "docs/guide/a.md", true},
		{"plain name at any depth", []string{"Dockerfile"}, nil, "services/web/Dockerfile", true},
		{"anchored name only at the root", []string{"/Dockerfile"}, nil, "services/web/Dockerfile", false},
		{"anchored name at the root", []string{"/Dockerfile"}, nil, "Dockerfile", true},
		{"exclude wins", []string{"services/web/**"}, []string{"**/*.md"}, "services/web/README.md", false},
		{"exclude alone", nil, []string{"docs/**"}, "docs/a.md", false},
		{"exclude alone keeps the rest", nil, []string{"docs/**"}, "go.mod", true},
		{"glob without slash matches base names", nil, []string{"*.md"}, "a/b/c.md", false},
		{"negation takes back", []string{"services/**", "!services/api/**"}, nil, "services/api/x.go", false},
		{"negation leaves the rest", []string{"services/**", "!services/api/**"}, nil, "services/web/x.go", true},
		{"leading double star", []string{"**/go.mod"}, nil, "services/web/go.mod", true},
		{"middle double star", []string{"services/**/testdata"}, nil, "services/web/pkg/testdata/a.json", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := source.NewPathFilter(tc.include, tc.exclude)
			if got := f.Match(tc.file); got != tc.want {
				t.Errorf("NewPathFilter(%q, %q).Match(%q) = %v, want %v", tc.include, tc.exclude, tc.file, got, tc.want)
			}
		})
	}
}

func TestChangedFiles(t *testing.T) {
	t.Parallel()
	fx := gitfixture.New(t)
	c1 := fx.Commit(t, "main", map[string]string{"docs/a.md": "a", "services/web/x.go": "package web"}, "one")
	c2 := fx.Commit(t, "main", map[string]string{"docs/b.md": "b"}, "docs only")
	feature := fx.Commit(t, "feature", map[string]string{"services/web/y.go": "package web"}, "web")
	// main moves on after the branch was cut: its changes are not the
	// branch's.
	fx.Commit(t, "main", map[string]string{"services/api/z.go": "package api"}, "api")
	fx.Git(t, "checkout", "-q", "-b", "rewritten", c2)
	rewritten := fx.Commit(t, "rewritten", map[string]string{"docs/c.md": "c"}, "rewritten")
	zeros := strings.Repeat("0", 40)
	c := newCache(t, source.Options{})

	for _, tc := range []struct {
		name string
		req  source.ChangesRequest
		want source.Changes
	}{
		{"push compares with before", source.ChangesRequest{Ref: "refs/heads/main", Before: c1, After: c2},
			source.Changes{Files: []string{"docs/b.md"}, Base: c1}},
		{"new branch compares with the merge base of the default branch", source.ChangesRequest{Ref: "refs/heads/feature", Before: zeros, After: feature},
			source.Changes{Files: []string{"services/web/y.go"}, Base: c2}},
		{"force-push compares with the merge base, not before", source.ChangesRequest{Ref: "refs/heads/rewritten", Before: feature, After: rewritten, Forced: true},
			source.Changes{Files: []string{"docs/c.md"}, Base: c2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req
			req.Project, req.URL, req.DefaultBranch = "p", fx.URL(), "refs/heads/main"
			got, err := c.ChangedFiles(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ChangedFiles (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("new default branch has no base", func(t *testing.T) {
		_, err := c.ChangedFiles(t.Context(), source.ChangesRequest{Project: "p", URL: fx.URL(), Ref: "refs/heads/main",
			Before: zeros, After: c2, DefaultBranch: "refs/heads/main"})
		if !errors.Is(err, source.ErrNoBase) {
			t.Fatalf("ChangedFiles of a new default branch: error %v, want ErrNoBase", err)
		}
	})
}

// BenchmarkChangedFiles measures what a delivery of a project with a path
// filter waits for with a warm clone cache: an incremental fetch of the
// branch (nothing new) and the tree diff of a push of one commit over 500
// files.
func BenchmarkChangedFiles(b *testing.B) {
	fx := gitfixture.New(b)
	files := map[string]string{}
	for i := range 500 {
		files[fmt.Sprintf("services/s%d/f%d.go", i%20, i)] = fmt.Sprintf("package s%d // %d", i%20, i)
	}
	before := fx.Commit(b, "main", files, "many files")
	after := fx.Commit(b, "main", map[string]string{"docs/a.md": "a", "services/s3/f3.go": "changed"}, "push")
	c, err := source.NewCache(source.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	req := source.ChangesRequest{Project: "p", URL: fx.URL(), Ref: "refs/heads/main", Before: before, After: after, DefaultBranch: "refs/heads/main"}
	if _, err := c.ChangedFiles(b.Context(), req); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		got, err := c.ChangedFiles(b.Context(), req)
		if err != nil || len(got.Files) != 2 {
			b.Fatalf("ChangedFiles = %v, %v", got, err)
		}
	}
}

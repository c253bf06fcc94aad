package source_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/image"
	"github.com/google/go-cmp/cmp"

	"github.com/slipwayci/slipway/builder"
	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/source"
	"github.com/slipwayci/slipway/source/gitfixture"
)

// gitTarEntry is what a context tar says about one entry.
type gitTarEntry struct {
	Mode    int64
	Type    byte
	Size    int64
	ModTime int64
	Link    string
	Body    string
}

// contextTar reads the build context of co into name -> entry, and extracts
// it into a fresh directory, returned too.
func contextEntries(t *testing.T, co *source.Checkout) (map[string]gitTarEntry, string) {
	t.Helper()
	rc, _, err := source.Context(t.Context(), co.Dir, "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	dir := t.TempDir()
	got := map[string]gitTarEntry{}
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		got[hdr.Name] = gitTarEntry{hdr.Mode, hdr.Typeflag, hdr.Size, hdr.ModTime.UnixNano(), hdr.Linkname, string(body)}
		p := filepath.Join(dir, filepath.FromSlash(hdr.Name))
		switch hdr.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, 0o755)
		case tar.TypeSymlink:
			err = os.Symlink(hdr.Linkname, p)
		case tar.TypeReg:
			err = os.WriteFile(p, body, os.FileMode(hdr.Mode)&0o777)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return got, dir
}

// gitIn runs git in dir with no user or system config and returns its
// trimmed output.
func gitIn(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CEILING_DIRECTORIES="+filepath.Dir(dir))
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// mustGit is gitIn failing the test on an error.
func mustGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := gitIn(t, dir, args...)
	if err != nil {
		t.Fatalf("git %s in the extracted context: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// gitOnly keeps the .git entries of a context.
func gitOnly(entries map[string]gitTarEntry) map[string]gitTarEntry {
	out := map[string]gitTarEntry{}
	for name, e := range entries {
		if name == ".git/" || strings.HasPrefix(name, ".git/") {
			out[name] = e
		}
	}
	return out
}

// goProgram is a repository a RUN step could `go build` with VCS stamping.
func goProgram(t *testing.T) (*gitfixture.Repo, string) {
	t.Helper()
	repo := gitfixture.New(t)
	repo.Commit(t, "main", map[string]string{"README": "first\n"}, "first")
	head := repo.Commit(t, "main", map[string]string{
		"Dockerfile":       "FROM scratch\nCOPY .git/ /g/\nCOPY . /src/\n",
		"go.mod":           "module example.com/stamped\n\ngo 1.21\n",
		"main.go":          "package main\n\nfunc main() {}\n",
		"sub/dir/data.txt": "data\n",
	}, "a go program")
	script := filepath.Join(t.TempDir(), "run.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	repo.CommitFile(t, "main", "run.sh", script, 0o755, "a script")
	head = repo.CommitSymlink(t, "main", "link", "sub/dir/data.txt", "a symlink")
	return repo, head
}

// TestGitDirIsARealShallowRepositoryOfTheCommit: the context holds a .git
// that git reads (HEAD on the branch, describe, a clean status, fsck), that
// go build stamps its VCS fields from, and that is byte-identical for the
// same commit whichever cache and work tree it came from.
func TestGitDirIsARealShallowRepositoryOfTheCommit(t *testing.T) {
	repo, head := goProgram(t)
	req := source.Request{Project: "gitdir", URL: repo.URL(), Ref: "main", GitDir: true}

	cache := newCache(t, source.Options{})
	first := checkout(t, cache, req)
	entries, dir := contextEntries(t, first)

	if got := mustGit(t, dir, "rev-parse", "HEAD"); got != head {
		t.Errorf("git rev-parse HEAD = %s, want %s", got, head)
	}
	if got := mustGit(t, dir, "symbolic-ref", "HEAD"); got != "refs/heads/main" {
		t.Errorf("git symbolic-ref HEAD = %s, want refs/heads/main", got)
	}
	if got := mustGit(t, dir, "describe", "--always"); got != head[:7] {
		t.Errorf("git describe --always = %s, want %s", got, head[:7])
	}
	if got := mustGit(t, dir, "status", "--porcelain"); got != "" {
		t.Errorf("git status --porcelain in a fresh context = %q, want clean", got)
	}
	if got := mustGit(t, dir, "rev-parse", "--is-shallow-repository"); got != "true" {
		t.Errorf("git rev-parse --is-shallow-repository = %s, want true", got)
	}
	if got := mustGit(t, dir, "log", "--format=%H"); got != head {
		t.Errorf("git log = %q, want the built commit only", got)
	}
	mustGit(t, dir, "fsck", "--strict", "--no-dangling")

	// go build stamps the commit, as it does in a clone.
	bin := filepath.Join(t.TempDir(), "stamped")
	build := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "GOFLAGS=", "GOTOOLCHAIN=local", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build in the extracted context: %v\n%s", err, out)
	}
	info, err := exec.Command("go", "version", "-m", bin).CombinedOutput()
	if err != nil {
		t.Fatalf("go version -m: %v\n%s", err, info)
	}
	for _, want := range []string{"vcs.revision=" + head, "vcs.modified=false"} {
		if !strings.Contains(string(info), want) {
			t.Errorf("go version -m lacks %s:\n%s", want, info)
		}
	}

	// The same commit from another cache (a fresh clone) and again from the
	// first (a fetch into a new work tree): the same bytes.
	second := checkout(t, newCache(t, source.Options{}), req)
	again := checkout(t, cache, req)
	want := gitOnly(entries)
	if len(want) < 8 {
		t.Fatalf("the context's .git has %d entries, want a repository: %v", len(want), want)
	}
	for _, co := range []*source.Checkout{second, again} {
		got, _ := contextEntries(t, co)
		if diff := cmp.Diff(want, gitOnly(got)); diff != "" {
			t.Errorf(".git of %s differs from the first checkout's (-first +this):\n%s", co.Dir, diff)
		}
	}
}

// TestGitDirAtATagAndWhenLeftOut: at an annotated tag HEAD is detached and
// describe names the tag; .dockerignore and git_dir: false leave .git out.
func TestGitDirAtATagAndWhenLeftOut(t *testing.T) {
	repo, head := goProgram(t)
	repo.Git(t, "tag", "-a", "-m", "release", "v1.2.0", head)
	c := newCache(t, source.Options{})

	co := checkout(t, c, source.Request{Project: "tag", URL: repo.URL(), Ref: "refs/tags/v1.2.0", GitDir: true})
	_, dir := contextEntries(t, co)
	if got := mustGit(t, dir, "rev-parse", "HEAD"); got != head {
		t.Errorf("git rev-parse HEAD = %s, want %s", got, head)
	}
	if out, err := gitIn(t, dir, "symbolic-ref", "-q", "HEAD"); err == nil {
		t.Errorf("HEAD is on %s, want detached at the tag", out)
	}
	if got := mustGit(t, dir, "describe", "--always"); got != "v1.2.0" {
		t.Errorf("git describe --always = %s, want v1.2.0", got)
	}
	if got := mustGit(t, dir, "status", "--porcelain"); got != "" {
		t.Errorf("git status --porcelain = %q, want clean", got)
	}
	mustGit(t, dir, "fsck", "--strict", "--no-dangling")

	for _, tc := range []struct {
		name string
		req  source.Request
		edit func()
	}{
		{name: "git_dir false", req: source.Request{Project: "off", URL: repo.URL(), Ref: "main"}},
		{name: ".dockerignore", req: source.Request{Project: "ignored", URL: repo.URL(), Ref: "ignored", GitDir: true}, edit: func() {
			repo.Commit(t, "ignored", map[string]string{".dockerignore": ".git\n"}, "ignore .git")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.edit != nil {
				tc.edit()
			}
			co := checkout(t, c, tc.req)
			entries, _ := contextEntries(t, co)
			if got := gitOnly(entries); len(got) != 0 {
				t.Errorf("the context holds .git entries: %v", names(got))
			}
			if _, ok := entries["main.go"]; !ok {
				t.Errorf("the context lacks main.go: %v", names(entries))
			}
		})
	}
}

// TestGitDirKeepsTheLayerCache: the engine builds a Dockerfile that copies
// .git from two checkouts of one commit (two caches, two work trees) into the
// same image, the second from its layer cache.
func TestGitDirKeepsTheLayerCache(t *testing.T) {
	cli := testenv.Docker(t)
	repo, _ := goProgram(t)
	req := source.Request{Project: "cachehit", URL: repo.URL(), Ref: "main", GitDir: true}
	for _, mode := range []builder.Mode{builder.ModeClassic, builder.ModeBuildKit} {
		t.Run(string(mode), func(t *testing.T) {
			b := builder.New(cli, mode)
			name := testenv.Name(t, "slipway-gitdir")
			var ids []string
			var last bytes.Buffer
			for i := range 2 {
				co := checkout(t, newCache(t, source.Options{}), req)
				rc, dockerfile, err := source.Context(t.Context(), co.Dir, "", "")
				if err != nil {
					t.Fatal(err)
				}
				last.Reset()
				img, err := b.Build(t.Context(), builder.BuildOptions{
					Context:    rc,
					Dockerfile: dockerfile,
					Tags:       []string{fmt.Sprintf("%s:%d", name, i)},
				}, &last)
				if err != nil {
					t.Fatalf("build %d: %v\n%s", i, err, last.String())
				}
				ids = append(ids, img.ID)
			}
			t.Cleanup(func() {
				for i := range 2 {
					_, _ = cli.ImageRemove(context.WithoutCancel(t.Context()), fmt.Sprintf("%s:%d", name, i), image.RemoveOptions{Force: true, PruneChildren: true})
				}
			})
			if ids[0] != ids[1] {
				t.Errorf("the same commit built %s, then %s: the .git busted the layer cache; second build:\n%s", ids[0], ids[1], last.String())
			}
			if log := last.String(); !strings.Contains(log, "Using cache") && !strings.Contains(log, "CACHED") {
				t.Errorf("the second build did not use the layer cache:\n%s", log)
			}
		})
	}
}

// BenchmarkCheckoutGitDir checks out a commit of 2000 files (16 MiB, half
// of it incompressible) with and without its .git, and reports the .git's
// size next to the tree's.
func BenchmarkCheckoutGitDir(b *testing.B) {
	repo := gitfixture.New(b)
	files := map[string]string{"Dockerfile": "FROM scratch\n"}
	for i := range 2000 {
		body := make([]byte, 8<<10)
		if i%2 == 0 {
			rand.Read(body)
		}
		files[fmt.Sprintf("d%02d/f%04d", i%40, i)] = string(body)
	}
	repo.Commit(b, "main", files, "2000 files")
	c, err := source.NewCache(source.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	for _, gitDir := range []bool{false, true} {
		b.Run(fmt.Sprintf("git_dir=%t", gitDir), func(b *testing.B) {
			req := source.Request{Project: "bench", URL: repo.URL(), Ref: "main", GitDir: gitDir}
			var size int64
			for b.Loop() {
				co, err := c.Checkout(b.Context(), req)
				if err != nil {
					b.Fatal(err)
				}
				size = 0
				filepath.WalkDir(filepath.Join(co.Dir, ".git"), func(_ string, d fs.DirEntry, err error) error {
					if err == nil && d.Type().IsRegular() {
						fi, _ := d.Info()
						size += fi.Size()
					}
					return nil
				})
				co.Close()
			}
			b.ReportMetric(float64(size), ".git-bytes")
		})
	}
}

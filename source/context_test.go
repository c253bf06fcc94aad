package source_test

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipwayci/slipway/source"
)

// makeTree writes files into a new directory and returns it. A key ending
// in "/" is an empty directory; a value starting with "-> " is a symlink.
func makeTree(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(content, "-> "); ok {
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// tarEntry is what the tests look at in a tar entry.
type tarEntry struct {
	Type     byte
	Mode     int64
	Content  string
	Linkname string
}

// readTar reads the whole stream and closes it.
func readTar(t *testing.T, rc io.ReadCloser) map[string]tarEntry {
	t.Helper()
	defer rc.Close()
	got := map[string]tarEntry{}
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Uid != 0 || hdr.Gid != 0 || hdr.Uname != "" || hdr.Gname != "" {
			t.Errorf("%s: owner %d:%d (%q:%q), want 0:0", hdr.Name, hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname)
		}
		if _, dup := got[hdr.Name]; dup {
			t.Errorf("%s appears twice", hdr.Name)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		got[hdr.Name] = tarEntry{Type: hdr.Typeflag, Mode: hdr.Mode, Content: string(b), Linkname: hdr.Linkname}
	}
}

// names are the sorted keys of m.
func names[V any](m map[string]V) []string {
	var n []string
	for k := range m {
		n = append(n, k)
	}
	slices.Sort(n)
	return n
}

// contextFiles is the repository the .dockerignore table runs against.
var contextFiles = map[string]string{
	"Dockerfile":        "FROM scratch\n",
	"a.log":             "a",
	"keep.log":          "k",
	"root.txt":          "r",
	"src/main.go":       "package main",
	"src/tmp/x":         "x",
	"tmp/y":             "y",
	"deep/a/tmp/z":      "z",
	"docs/readme.md":    "d",
	"docs/keep/this.md": "t",
	"sub/root.txt":      "s",
	"empty/":            "",
}

func TestContextDockerignore(t *testing.T) {
	t.Parallel()
	all := []string{
		".dockerignore", "Dockerfile", "a.log", "deep/", "deep/a/", "deep/a/tmp/", "deep/a/tmp/z",
		"docs/", "docs/keep/", "docs/keep/this.md", "docs/readme.md", "empty/", "keep.log", "root.txt",
		"src/", "src/main.go", "src/tmp/", "src/tmp/x", "sub/", "sub/root.txt", "tmp/", "tmp/y",
	}
	without := func(drop ...string) []string {
		return slices.DeleteFunc(slices.Clone(all), func(n string) bool { return slices.Contains(drop, n) })
	}
	for _, tc := range []struct {
		name         string
		dockerignore string
		want         []string
	}{
		{"empty file", "", all},
		{"extension", "*.log", without("a.log", "keep.log")},
		{"exception", "*.log\n!keep.log", without("a.log")},
		{"exception before the rule loses", "!keep.log\n*.log", without("a.log", "keep.log")},
		{"double star dir", "**/tmp", without("tmp/", "tmp/y", "src/tmp/", "src/tmp/x", "deep/a/tmp/", "deep/a/tmp/z")},
		{"double star files", "**/*.go\n**/*.md", without("src/main.go", "docs/readme.md", "docs/keep/this.md")},
		{"dir pruned", "docs/", without("docs/", "docs/readme.md", "docs/keep/", "docs/keep/this.md")},
		// The directories themselves stay ignored; only the exception's
		// file is sent, as docker build does.
		{"dir with an exception inside", "docs/\n!docs/keep/this.md", without("docs/", "docs/readme.md", "docs/keep/")},
		{"leading slash anchors at the root", "/root.txt", without("root.txt")},
		{"no slash is still anchored", "root.txt", without("root.txt")},
		{"single star does not cross dirs", "*/root.txt", without("sub/root.txt")},
		{"comments and blank lines", "# *.log\n\n   \n\t\n#root.txt\ntmp", without("tmp/", "tmp/y")},
		{"dot slash and trailing spaces", "./tmp/y   \n", without("tmp/y")},
		{"ignoring the Dockerfile and itself still sends them", "Dockerfile\n.dockerignore", all},
		{"everything but src", "*\n!src", []string{".dockerignore", "Dockerfile", "src/", "src/main.go", "src/tmp/", "src/tmp/x"}},
		{"everything but one file deep down", "*\n!deep/a/tmp/z", []string{".dockerignore", "Dockerfile", "deep/a/tmp/z"}},
		{"question mark", "?.log", without("a.log")},
		{"character class", "[ak]*.log", without("a.log", "keep.log")},
		{"empty dir", "empty", without("empty/")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			files := maps(contextFiles, map[string]string{".dockerignore": tc.dockerignore})
			dir := makeTree(t, files)
			rc, dockerfile, err := source.Context(t.Context(), dir, ".", "Dockerfile")
			if err != nil {
				t.Fatal(err)
			}
			if dockerfile != "Dockerfile" {
				t.Errorf("dockerfile = %q, want Dockerfile", dockerfile)
			}
			if diff := cmp.Diff(tc.want, names(readTar(t, rc))); diff != "" {
				t.Errorf("tar names with .dockerignore %q (-want +got):\n%s", tc.dockerignore, diff)
			}
		})
	}
}

// maps merges ms into a new map, later ones winning.
func maps(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

func TestContextLayouts(t *testing.T) {
	t.Parallel()
	generated := regexp.MustCompile(`^\.dockerfile\.[0-9a-f]{20}$`)
	for _, tc := range []struct {
		name                string
		files               map[string]string
		context, dockerfile string
		wantDockerfile      string // "generated": a .dockerfile.<random> name
		want                []string
		wantIgnore          string // content of .dockerignore in the tar, "" to skip
	}{
		{
			name:    "no dockerignore",
			files:   map[string]string{"Dockerfile": "FROM scratch\n", "a": "a"},
			context: ".", dockerfile: "Dockerfile", wantDockerfile: "Dockerfile",
			want: []string{"Dockerfile", "a"},
		},
		{
			name:    "empty settings mean . and Dockerfile",
			files:   map[string]string{"Dockerfile": "FROM scratch\n", "a": "a"},
			context: "", dockerfile: "", wantDockerfile: "Dockerfile",
			want: []string{"Dockerfile", "a"},
		},
		{
			name: "sub-directory context with its own dockerignore",
			files: map[string]string{
				"Dockerfile": "root", ".dockerignore": "*", "other.txt": "o",
				"app/Dockerfile": "FROM scratch\n", "app/.dockerignore": "*.tmp\n", "app/x.tmp": "", "app/main.go": "m",
			},
			context: "app", dockerfile: "Dockerfile", wantDockerfile: "Dockerfile",
			want: []string{".dockerignore", "Dockerfile", "main.go"},
		},
		{
			name: "dockerfile in an ignored sub-directory of the context",
			files: map[string]string{
				".dockerignore": "build\n", "build/Dockerfile.prod": "FROM scratch\n", "build/other": "o", "a": "a",
			},
			context: ".", dockerfile: "build/Dockerfile.prod", wantDockerfile: "build/Dockerfile.prod",
			want: []string{".dockerignore", "a", "build/Dockerfile.prod"},
		},
		{
			name: "dockerfile symlink resolved inside the context",
			files: map[string]string{
				"Dockerfile": "-> docker/Dockerfile.real", "docker/Dockerfile.real": "FROM scratch\n",
			},
			context: ".", dockerfile: "Dockerfile", wantDockerfile: "docker/Dockerfile.real",
			want: []string{"Dockerfile", "docker/", "docker/Dockerfile.real"},
		},
		{
			name: "dockerfile outside the context",
			files: map[string]string{
				"docker/Dockerfile": "FROM scratch\n", "app/main.go": "m", "app/.dockerignore": "*.tmp",
			},
			context: "app", dockerfile: "../docker/Dockerfile", wantDockerfile: "generated",
			want:       []string{".dockerignore", "generated", "main.go"},
			wantIgnore: "*.tmp\ngenerated\n",
		},
		{
			name: "dockerfile outside a context without dockerignore",
			files: map[string]string{
				"Dockerfile": "FROM scratch\n", "app/main.go": "m",
			},
			context: "app", dockerfile: "../Dockerfile", wantDockerfile: "generated",
			want:       []string{".dockerignore", "generated", "main.go"},
			wantIgnore: ".dockerignore\ngenerated\n",
		},
		{
			name: "symlinks are sent as symlinks",
			files: map[string]string{
				"Dockerfile": "FROM scratch\n", "target.txt": "t", "link": "-> target.txt", "abs": "-> /etc/passwd", "up": "-> ../../..",
			},
			context: ".", dockerfile: "Dockerfile", wantDockerfile: "Dockerfile",
			want: []string{"Dockerfile", "abs", "link", "target.txt", "up"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := makeTree(t, tc.files)
			rc, dockerfile, err := source.Context(t.Context(), dir, tc.context, tc.dockerfile)
			if err != nil {
				t.Fatal(err)
			}
			got := readTar(t, rc)
			want := slices.Clone(tc.want)
			if tc.wantDockerfile == "generated" {
				if !generated.MatchString(dockerfile) {
					t.Fatalf("dockerfile = %q, want a generated .dockerfile.<hex> name", dockerfile)
				}
				for i, n := range want {
					if n == "generated" {
						want[i] = dockerfile
					}
				}
				slices.Sort(want)
				tc.wantIgnore = strings.ReplaceAll(tc.wantIgnore, "generated", dockerfile)
			} else if dockerfile != tc.wantDockerfile {
				t.Errorf("dockerfile = %q, want %q", dockerfile, tc.wantDockerfile)
			}
			if diff := cmp.Diff(want, names(got)); diff != "" {
				t.Errorf("tar names (-want +got):\n%s", diff)
			}
			if e := got[dockerfile]; e.Type != tar.TypeReg || e.Content != "FROM scratch\n" {
				t.Errorf("dockerfile entry %q = %+v, want the Dockerfile's content", dockerfile, e)
			}
			if tc.wantIgnore != "" {
				if got := got[".dockerignore"].Content; got != tc.wantIgnore {
					t.Errorf(".dockerignore sent = %q, want %q", got, tc.wantIgnore)
				}
			}
			for name, e := range got {
				if target, ok := strings.CutPrefix(tc.files[name], "-> "); ok && name != dockerfile {
					if e.Type != tar.TypeSymlink || e.Linkname != target {
						t.Errorf("%s = %+v, want a symlink to %s", name, e, target)
					}
				}
			}
		})
	}
}

func TestContextModes(t *testing.T) {
	t.Parallel()
	dir := makeTree(t, map[string]string{"Dockerfile": "FROM scratch\n", "bin/run": "#!/bin/sh\n"})
	if err := os.Chmod(filepath.Join(dir, "bin/run"), 0o755); err != nil {
		t.Fatal(err)
	}
	rc, _, err := source.Context(t.Context(), dir, ".", "Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	got := readTar(t, rc)
	want := map[string]tarEntry{
		"Dockerfile": {Type: tar.TypeReg, Mode: 0o644, Content: "FROM scratch\n"},
		"bin/":       {Type: tar.TypeDir, Mode: 0o755},
		"bin/run":    {Type: tar.TypeReg, Mode: 0o755, Content: "#!/bin/sh\n"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
}

func TestContextRefusesEscapes(t *testing.T) {
	t.Parallel()
	outside := makeTree(t, map[string]string{"Dockerfile": "FROM scratch\n", "secret": "s"})
	for _, tc := range []struct {
		name                string
		files               map[string]string
		context, dockerfile string
		wantErr             error
	}{
		{"dotdot context", nil, "../x", "Dockerfile", source.ErrOutsideCheckout},
		{"dotdot inside the context", nil, "a/../../x", "Dockerfile", source.ErrOutsideCheckout},
		{"absolute context", nil, outside, "Dockerfile", source.ErrOutsideCheckout},
		{"symlinked context", map[string]string{"ctx": "-> " + outside}, "ctx", "Dockerfile", source.ErrOutsideCheckout},
		{"symlink to the parent as context", map[string]string{"up": "-> ..", "Dockerfile": "x"}, "up", "Dockerfile", source.ErrOutsideCheckout},
		{"dotdot dockerfile", map[string]string{"app/a": "a"}, "app", "../../Dockerfile", source.ErrOutsideCheckout},
		{"absolute dockerfile", nil, ".", filepath.Join(outside, "Dockerfile"), source.ErrOutsideCheckout},
		{"symlinked dockerfile", map[string]string{"Dockerfile": "-> " + filepath.Join(outside, "Dockerfile")}, ".", "Dockerfile", source.ErrOutsideCheckout},
		{"symlinked dockerignore", map[string]string{"Dockerfile": "FROM scratch\n", ".dockerignore": "-> " + filepath.Join(outside, "secret")}, ".", "Dockerfile", source.ErrOutsideCheckout},
		{"missing dockerfile", map[string]string{"a": "a"}, ".", "Dockerfile", fs.ErrNotExist},
		{"missing context", map[string]string{"Dockerfile": "x"}, "nope", "Dockerfile", fs.ErrNotExist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := makeTree(t, tc.files)
			rc, _, err := source.Context(t.Context(), dir, tc.context, tc.dockerfile)
			if err == nil {
				rc.Close()
				t.Fatal("Context succeeded, want an error")
			}
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("error = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestContextCloseEarlyAndCancel(t *testing.T) {
	t.Parallel()
	dir := makeTree(t, map[string]string{"Dockerfile": "FROM scratch\n"})
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, 16<<20); err != nil { // sparse: cheap
		t.Fatal(err)
	}

	t.Run("close", func(t *testing.T) {
		t.Parallel()
		rc, _, err := source.Context(t.Context(), dir, ".", "Dockerfile")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(rc, make([]byte, 4096)); err != nil {
			t.Fatal(err)
		}
		// Close returns only once the writer has stopped.
		if err := rc.Close(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(t.Context())
		rc, _, err := source.Context(ctx, dir, ".", "Dockerfile")
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		if _, err := io.ReadFull(rc, make([]byte, 4096)); err != nil {
			t.Fatal(err)
		}
		cancel()
		_, err = io.Copy(io.Discard, rc)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("read after cancel: %v, want context.Canceled", err)
		}
	})
}

// TestContextStreams checks that a 64 MiB file goes through the pipe without
// being held in memory: far fewer bytes are allocated than are sent.
func TestContextStreams(t *testing.T) {
	// Not parallel: it measures the process's allocations.
	const size = 64 << 20
	dir := largeContext(t, size)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	rc, _, err := source.Context(t.Context(), dir, ".", "Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, rc)
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	runtime.ReadMemStats(&after)
	if n < size {
		t.Fatalf("tar is %d bytes, want more than %d", n, size)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
		t.Errorf("sending %d bytes allocated %d bytes; the context is buffered, not streamed", n, alloc)
	}
}

// largeContext is a context with one sparse file of size bytes.
func largeContext(t testing.TB, size int64) string {
	t.Helper()
	dir := makeTree(t, map[string]string{"Dockerfile": "FROM scratch\n"})
	big := filepath.Join(dir, "big.bin")
	if err := os.WriteFile(big, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, size); err != nil {
		t.Fatal(err)
	}
	return dir
}

// BenchmarkContext sends a context of one 64 MiB file; allocs/op and B/op
// stay small and independent of the file's size.
func BenchmarkContext(b *testing.B) {
	const size = 64 << 20
	dir := largeContext(b, size)
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		rc, _, err := source.Context(b.Context(), dir, ".", "Dockerfile")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			b.Fatal(err)
		}
		rc.Close()
	}
}

package source

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// maxDockerignore bounds the .dockerignore file, the only file of the context
// read into memory.
const maxDockerignore = 1 << 20

// Context streams the build context of a checkout as an uncompressed tar,
// the body docker build sends to the engine. It returns the stream and the
// Dockerfile's path inside it, as ImageBuildOptions.Dockerfile wants it.
//
// contextPath is the context directory relative to checkoutDir ("" or "."
// for the checkout itself) and dockerfile the Dockerfile relative to the
// context directory ("" means "Dockerfile"), as projects[].context and
// projects[].dockerfile say. Both are resolved with symlinks evaluated; an
// absolute path, or one that ends outside the checkout through ".." or a
// symlink, fails with ErrOutsideCheckout, a missing one with an error that
// matches fs.ErrNotExist.
//
// The tar follows docker build (the CLI plus moby's TarWithOptions):
//   - .dockerignore of the context directory is honoured with its exact
//     semantics: comments, a leading "/", "**", "!" exceptions, and a
//     directory is pruned only when no exception could re-include something
//     below it;
//   - the Dockerfile and .dockerignore are always sent, even when ignored;
//   - a Dockerfile outside the context directory (but inside the checkout)
//     is added as ".dockerfile.<random>", which is returned as its path and
//     appended to the sent .dockerignore so COPY . never picks it up;
//   - symlinks are sent as symlinks, never followed; directories end in "/";
//   - owners are 0:0, modes and modification times come from disk.
//
// Nothing is held in memory but .dockerignore: a goroutine writes the tar
// into a pipe as it is read. The caller must Close the stream (or cancel
// ctx); Close stops the goroutine and waits for it, so the checkout can be
// removed right after. A read after ctx is canceled returns ctx's cause.
func Context(ctx context.Context, checkoutDir, contextPath, dockerfile string) (io.ReadCloser, string, error) {
	p, err := planContext(checkoutDir, contextPath, dockerfile)
	if err != nil {
		return nil, "", err
	}
	pr, pw := io.Pipe()
	done := make(chan struct{})
	stop := context.AfterFunc(ctx, func() { pw.CloseWithError(context.Cause(ctx)) })
	go func() {
		defer close(done)
		err := p.write(ctx, pw)
		stop()
		pw.CloseWithError(err) // nil: the reader sees io.EOF
	}()
	return &tarStream{PipeReader: pr, done: done}, p.dockerfile, nil
}

// tarStream is the reading end of Context's pipe.
type tarStream struct {
	*io.PipeReader
	done chan struct{}
}

// Close stops the writer and waits until it has let go of every file.
func (s *tarStream) Close() error {
	s.PipeReader.Close()
	<-s.done
	return nil
}

// contextPlan is everything Context decides before it starts writing: pure
// path and pattern work, so errors come back from Context itself.
type contextPlan struct {
	dir        string // resolved context directory
	dockerfile string // the Dockerfile's name in the tar
	external   string // resolved path of a Dockerfile outside dir, or ""
	ignore     []byte // .dockerignore as read; nil when there is none
	hasIgnore  bool
	pm         *patternmatcher.PatternMatcher // nil when nothing is excluded
}

func planContext(checkoutDir, contextPath, dockerfile string) (*contextPlan, error) {
	root, err := filepath.Abs(checkoutDir)
	if err == nil {
		root, err = filepath.EvalSymlinks(root)
	}
	if err != nil {
		return nil, fmt.Errorf("build context: checkout %s: %w", checkoutDir, err)
	}
	if contextPath == "" {
		contextPath = "."
	}
	if dockerfile == "" {
		dockerfile = "Dockerfile"
	}
	dir, err := confine(root, root, contextPath, "context")
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("build context: context %q is not a directory of the checkout (check projects[].context)", contextPath)
	}
	df, err := confine(root, dir, dockerfile, "dockerfile")
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(df); err != nil || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("build context: dockerfile %q is not a file (check projects[].dockerfile)", dockerfile)
	}

	p := &contextPlan{dir: dir}
	if rel, ok := within(dir, df); ok {
		p.dockerfile = filepath.ToSlash(rel)
	} else {
		b := make([]byte, 10)
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("build context: %w", err)
		}
		p.external = df
		p.dockerfile = ".dockerfile." + hex.EncodeToString(b)
	}

	if _, err := os.Lstat(filepath.Join(dir, ".dockerignore")); err == nil {
		ign, err := confine(root, dir, ".dockerignore", ".dockerignore")
		if err != nil {
			return nil, err
		}
		if p.ignore, err = readSmall(ign, maxDockerignore); err != nil {
			return nil, fmt.Errorf("build context: .dockerignore: %w", err)
		}
		p.hasIgnore = true
	}
	patterns, err := ignorefile.ReadAll(bytes.NewReader(p.ignore))
	if err != nil {
		return nil, fmt.Errorf("build context: read .dockerignore: %w", err)
	}
	if len(patterns) == 0 {
		return p, nil
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, fmt.Errorf("build context: .dockerignore: %w", err)
	}
	// Like the docker CLI: the engine needs both files, so an ignored one
	// gets an exception (which also keeps its directories from being
	// pruned).
	forced := []string{".dockerignore"}
	if p.external == "" {
		forced = append(forced, p.dockerfile)
	}
	for _, f := range forced {
		if m, _ := pm.MatchesOrParentMatches(f); m {
			patterns = append(patterns, "!"+f)
		}
	}
	if p.pm, err = patternmatcher.New(patterns); err != nil {
		return nil, fmt.Errorf("build context: .dockerignore: %w", err)
	}
	return p, nil
}

// confine resolves rel against base with symlinks evaluated and refuses a
// result outside root. what names the setting in errors.
func confine(root, base, rel, what string) (string, error) {
	if filepath.IsAbs(rel) {
		return "", errorKind(ErrOutsideCheckout, "build context: %s %q is absolute; it must be a path inside the repository", what, rel)
	}
	joined := filepath.Join(base, rel)
	if _, ok := within(root, joined); !ok {
		return "", errorKind(ErrOutsideCheckout, "build context: %s %q leaves the repository", what, rel)
	}
	resolved, err := filepath.EvalSymlinks(joined)
	if err != nil {
		return "", fmt.Errorf("build context: %s %q not found in the repository: %w", what, rel, err)
	}
	if _, ok := within(root, resolved); !ok {
		return "", errorKind(ErrOutsideCheckout, "build context: %s %q goes through a symlink that leaves the repository", what, rel)
	}
	return resolved, nil
}

// within returns p relative to dir and whether it is dir or below it.
func within(dir, p string) (string, bool) {
	rel, err := filepath.Rel(dir, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return "", false
	}
	return rel, true
}

// readSmall reads a regular file of at most limit bytes.
func readSmall(name string, limit int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return b, nil
}

// excluder tracks the walk's parent directories and their match results so
// each path is matched once, as moby's TarWithOptions does.
type excluder struct {
	pm      *patternmatcher.PatternMatcher
	parents []string
	infos   []patternmatcher.MatchInfo
}

// visit decides whether the walk keeps rel (a slash path), and whether a
// skipped directory may be pruned or must still be walked for exceptions.
func (e *excluder) visit(rel string, isDir bool) (skip bool, prune bool, err error) {
	if e.pm == nil {
		return false, false, nil
	}
	for len(e.parents) > 0 && !strings.HasPrefix(rel, e.parents[len(e.parents)-1]+"/") {
		e.parents = e.parents[:len(e.parents)-1]
		e.infos = e.infos[:len(e.infos)-1]
	}
	var parent patternmatcher.MatchInfo
	if len(e.infos) > 0 {
		parent = e.infos[len(e.infos)-1]
	}
	skip, info, err := e.pm.MatchesUsingParentResults(rel, parent)
	if err != nil {
		return false, false, fmt.Errorf("match %s against .dockerignore: %w", rel, err)
	}
	if isDir {
		e.parents = append(e.parents, rel)
		e.infos = append(e.infos, info)
	}
	if !skip || !isDir {
		return skip, false, nil
	}
	if !e.pm.Exclusions() {
		return true, true, nil
	}
	for _, pat := range e.pm.Patterns() {
		if pat.Exclusion() && strings.HasPrefix(pat.String()+"/", rel+"/") {
			return true, false, nil
		}
	}
	return true, true, nil
}

// write writes the whole tar to w.
func (p *contextPlan) write(ctx context.Context, w io.Writer) error {
	tw := tar.NewWriter(w)
	buf := make([]byte, 64<<10)
	ex := excluder{pm: p.pm}
	err := filepath.WalkDir(p.dir, func(full string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		rel, err := filepath.Rel(p.dir, full)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		skip, prune, err := ex.visit(rel, d.IsDir())
		switch {
		case err != nil:
			return err
		case prune:
			return filepath.SkipDir
		case skip:
			return nil
		}
		return p.add(tw, full, rel, d, buf)
	})
	if err != nil {
		return fmt.Errorf("build context: %w", err)
	}
	if p.external != "" {
		if err := p.addExternal(tw, buf); err != nil {
			return fmt.Errorf("build context: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("build context: %w", err)
	}
	return nil
}

// add writes one walked entry.
func (p *contextPlan) add(tw *tar.Writer, full, rel string, d fs.DirEntry, buf []byte) error {
	fi, err := d.Info()
	if err != nil {
		return err
	}
	var link string
	switch {
	case fi.Mode().IsRegular(), fi.IsDir():
	case fi.Mode()&fs.ModeSymlink != 0:
		if link, err = os.Readlink(full); err != nil {
			return err
		}
	default:
		return nil // devices, fifos, sockets: never written by a checkout
	}
	if rel == ".dockerignore" && p.external != "" && !fi.IsDir() {
		return p.addIgnore(tw, fi.Mode().Perm(), fi.ModTime())
	}
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return err
	}
	hdr.Name = rel
	if fi.IsDir() {
		hdr.Name += "/"
	}
	return writeEntry(tw, hdr, full, buf)
}

// addExternal adds a Dockerfile from outside the context directory under its
// generated name, and a .dockerignore naming it when the context has none.
func (p *contextPlan) addExternal(tw *tar.Writer, buf []byte) error {
	fi, err := os.Stat(p.external)
	if err != nil {
		return err
	}
	hdr, err := tar.FileInfoHeader(fi, "")
	if err != nil {
		return err
	}
	hdr.Name = p.dockerfile
	if err := writeEntry(tw, hdr, p.external, buf); err != nil {
		return err
	}
	if !p.hasIgnore {
		return p.addIgnore(tw, 0o644, fi.ModTime())
	}
	return nil
}

// addIgnore writes .dockerignore with the generated Dockerfile's name added,
// as the docker CLI does, so the engine leaves it out of COPY.
func (p *contextPlan) addIgnore(tw *tar.Writer, perm fs.FileMode, mtime time.Time) error {
	content := p.ignore
	if !p.hasIgnore {
		content = []byte(".dockerignore")
	}
	content = append(append(bytes.Clone(content), '\n'), p.dockerfile+"\n"...)
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     ".dockerignore",
		Mode:     int64(perm),
		Size:     int64(len(content)),
		ModTime:  mtime,
	}
	return writeEntry(tw, hdr, "", nil, content...)
}

// writeEntry writes hdr with owner 0:0 and, for a regular file, the content
// of src (streamed) or the given bytes.
func writeEntry(tw *tar.Writer, hdr *tar.Header, src string, buf []byte, content ...byte) error {
	hdr.Uid, hdr.Gid = 0, 0
	hdr.Uname, hdr.Gname = "", ""
	hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("%s: %w", hdr.Name, err)
	}
	if hdr.Typeflag != tar.TypeReg || hdr.Size == 0 {
		return nil
	}
	if content != nil {
		_, err := tw.Write(content)
		return err
	}
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	// Hiding *os.File's WriterTo makes io.CopyBuffer use buf instead of
	// allocating its own for every file.
	n, err := io.CopyBuffer(tw, struct{ io.Reader }{io.LimitReader(f, hdr.Size)}, buf)
	if err != nil {
		return fmt.Errorf("%s: %w", hdr.Name, err)
	}
	if n != hdr.Size {
		return fmt.Errorf("%s: changed size while being sent", hdr.Name)
	}
	return nil
}

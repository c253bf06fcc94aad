package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// maxSymlinkTarget bounds a symlink blob (PATH_MAX on Linux).
const maxSymlinkTarget = 4096

// treeWriter writes a commit's tree into a directory under the limits of
// Options, counting as it goes so a git bomb stops at the first entry over a
// limit rather than after filling the disk.
//
// Files are created exclusively and without following symlinks, so a tree
// cannot write through a symlink it created itself (two entries of one name).
// Modes are set explicitly (0644, 0755 for executables, 0755 directories) so
// the build context does not depend on the service's umask. Submodules
// (gitlink entries) become empty directories, like a clone without
// --recursive; with submodules set they are collected in links for
// Cache.writeSubmodules to fill.
type treeWriter struct {
	ctx    context.Context
	s      storer.EncodedObjectStorer
	opts   Options
	commit string
	files  int
	bytes  int64
	// git, when not nil, collects the objects and index entries of the
	// checkout's .git (Request.GitDir).
	git *gitDirPlan
	// submodules collects the gitlinks met into links (Request.Submodules);
	// prefix is the slash path of the submodule the tree is of ("" for the
	// repository's own).
	submodules bool
	prefix     string
	links      []gitlink
}

// write writes tree t into dir; rel is dir's slash path inside the work tree
// and depth its number of components.
func (w *treeWriter) write(dir string, t *object.Tree, depth int, rel string) error {
	if depth+1 > w.opts.MaxDepth && len(t.Entries) > 0 {
		return errorKind(ErrTooLarge, "checkout of %s: %s is deeper than %d path components (raise git.max_depth if the repository really needs it)", w.commit, path.Join(rel, t.Entries[0].Name), w.opts.MaxDepth)
	}
	if w.files+len(t.Entries) > w.opts.MaxFiles {
		return w.tooManyFiles()
	}
	seen := make(map[string]bool, len(t.Entries))
	for _, e := range t.Entries {
		if err := w.ctx.Err(); err != nil {
			return fmt.Errorf("checkout of %s: %w", w.commit, context.Cause(w.ctx))
		}
		name := path.Join(rel, e.Name)
		if err := checkEntryName(e.Name); err != nil || seen[e.Name] {
			if err == nil {
				err = errors.New("appears twice")
			}
			return errorKind(ErrUnsafePath, "checkout of %s: tree entry %q under %q refused: %v (the commit was crafted to escape the work tree)", w.commit, e.Name, "/"+rel, err)
		}
		seen[e.Name] = true
		w.files++
		if w.files > w.opts.MaxFiles {
			return w.tooManyFiles()
		}
		p := filepath.Join(dir, e.Name)
		switch e.Mode {
		case filemode.Dir:
			sub, err := object.GetTree(w.s, e.Hash)
			if err != nil {
				return corrupt(fmt.Errorf("read tree %s (%s): %w", name, e.Hash, err))
			}
			if err := os.Mkdir(p, 0o755); err != nil {
				return fmt.Errorf("write %s: %w", name, err)
			}
			w.git.addObject(e.Hash)
			if err := w.write(p, sub, depth+1, name); err != nil {
				return err
			}
		case filemode.Regular, filemode.Deprecated, filemode.Executable:
			perm := fs.FileMode(0o644)
			if e.Mode == filemode.Executable {
				perm = 0o755
			}
			if err := w.writeFile(p, name, e, perm); err != nil {
				return err
			}
		case filemode.Symlink:
			if err := w.writeSymlink(p, name, e); err != nil {
				return err
			}
		case filemode.Submodule:
			if err := os.Mkdir(p, 0o755); err != nil {
				return fmt.Errorf("write %s: %w", name, err)
			}
			w.git.addEntry(name, e.Hash, filemode.Submodule, 0)
			if w.submodules {
				w.links = append(w.links, gitlink{rel: name, dir: p, commit: e.Hash, depth: depth + 1})
			}
		default:
			return fmt.Errorf("checkout of %s: %s has unsupported mode %s", w.commit, name, e.Mode)
		}
	}
	return nil
}

func (w *treeWriter) tooManyFiles() error {
	return errorKind(ErrTooLarge, "checkout of %s: more than %d files (raise git.max_files if the repository really needs it)", w.commit, w.opts.MaxFiles)
}

// addBytes accounts for a blob before it is read.
func (w *treeWriter) addBytes(name string, size int64) error {
	w.bytes += size
	if size < 0 || w.bytes > w.opts.MaxBytes {
		return errorKind(ErrTooLarge, "checkout of %s: more than %d bytes of files at %s (raise git.max_bytes if the repository really needs it)", w.commit, w.opts.MaxBytes, name)
	}
	return nil
}

func (w *treeWriter) writeFile(p, name string, e object.TreeEntry, perm fs.FileMode) (err error) {
	blob, err := object.GetBlob(w.s, e.Hash)
	if err != nil {
		return corrupt(fmt.Errorf("read blob %s (%s): %w", name, e.Hash, err))
	}
	if err := w.addBytes(name, blob.Size); err != nil {
		return err
	}
	w.git.addObject(e.Hash)
	mode := e.Mode
	if mode == filemode.Deprecated {
		mode = filemode.Regular
	}
	w.git.addEntry(name, e.Hash, mode, blob.Size)
	r, err := blob.Reader()
	if err != nil {
		return corrupt(fmt.Errorf("read blob %s (%s): %w", name, e.Hash, err))
	}
	defer r.Close()
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, perm)
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("write %s: %w", name, cerr)
		}
	}()
	// The blob's declared size bounds the copy: a lying pack cannot write
	// past what was counted against MaxBytes.
	n, err := io.Copy(f, storeReader{io.LimitReader(r, blob.Size)})
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if n != blob.Size {
		return corrupt(fmt.Errorf("write %s: blob %s is %d bytes, want %d", name, e.Hash, n, blob.Size))
	}
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// writeSymlink writes a symlink as a symlink. Its target is not checked here:
// Context refuses configured paths that resolve outside the checkout, and the
// symlink itself is sent as a symlink, which the engine resolves inside the
// build context.
func (w *treeWriter) writeSymlink(p, name string, e object.TreeEntry) error {
	blob, err := object.GetBlob(w.s, e.Hash)
	if err != nil {
		return corrupt(fmt.Errorf("read blob %s (%s): %w", name, e.Hash, err))
	}
	if blob.Size > maxSymlinkTarget {
		return errorKind(ErrUnsafePath, "checkout of %s: symlink %s has a %d-byte target (at most %d)", w.commit, name, blob.Size, maxSymlinkTarget)
	}
	if err := w.addBytes(name, blob.Size); err != nil {
		return err
	}
	r, err := blob.Reader()
	if err != nil {
		return corrupt(fmt.Errorf("read blob %s (%s): %w", name, e.Hash, err))
	}
	defer r.Close()
	target, err := io.ReadAll(io.LimitReader(r, maxSymlinkTarget))
	if err != nil {
		return corrupt(fmt.Errorf("read blob %s (%s): %w", name, e.Hash, err))
	}
	if len(target) == 0 || strings.IndexByte(string(target), 0) >= 0 {
		return errorKind(ErrUnsafePath, "checkout of %s: symlink %s has an empty target or one with a NUL byte", w.commit, name)
	}
	if err := os.Symlink(string(target), p); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	w.git.addObject(e.Hash)
	w.git.addEntry(name, e.Hash, filemode.Symlink, blob.Size)
	return nil
}

// checkEntryName refuses tree entry names that could leave the directory
// they are written to or touch git's own metadata. A tree entry is a single
// path component; a slash in it is a crafted object.
func checkEntryName(name string) error {
	switch {
	case name == "":
		return errors.New("empty name")
	case name == "." || name == "..":
		return errors.New("a relative path component")
	case strings.HasPrefix(name, "/"):
		return errors.New("an absolute path")
	case strings.ContainsAny(name, "/\x00"):
		return errors.New("contains a slash or a NUL byte")
	case strings.EqualFold(name, ".git"):
		return errors.New("a .git component")
	}
	return nil
}

// storeReader marks read errors of the object store as corruption, so they
// are told apart from write errors of the work tree (a full disk) and answered
// by a fresh clone.
type storeReader struct{ r io.Reader }

func (s storeReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		err = corrupt(err)
	}
	return n, err
}

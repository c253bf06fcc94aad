package source

import (
	"bufio"
	"compress/zlib"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/go-git/go-git/v5/plumbing/format/index"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// A checkout's .git (Request.GitDir) is what `docker build` on a fresh clone
// sends, minus everything that differs between two clones of one commit: it
// holds exactly the built commit, its tree and, for a tag, the tag object,
// in one pack, with HEAD on the branch (detached at a tag or another ref), a
// shallow boundary at the commit, and an index of the tree. Nothing in it
// depends on when or where it was written: no reflogs, no FETCH_HEAD, index
// entries without stat data (git compares content when stat data differs, so
// `git status` is clean), a pack named by its content and written the same
// way every time, every modification time set to the commit time. An
// unchanged commit therefore gives a byte-identical .git, and the engine's
// layer cache still hits.

// gitDirPlan collects, during the tree walk, what the .git needs: the tree
// and blob objects in walk order and one index entry per tree entry.
type gitDirPlan struct {
	objects []plumbing.Hash
	entries []*index.Entry
}

// addObject notes an object the pack must hold.
func (g *gitDirPlan) addObject(h plumbing.Hash) {
	if g != nil {
		g.objects = append(g.objects, h)
	}
}

// addEntry notes an index entry of the work tree.
func (g *gitDirPlan) addEntry(name string, h plumbing.Hash, mode filemode.FileMode, size int64) {
	if g != nil {
		g.entries = append(g.entries, &index.Entry{Name: name, Hash: h, Mode: mode, Size: uint32(min(size, 1<<32-1))})
	}
}

// gitDirSpec is the rest of what the .git says: which commit, under which
// name.
type gitDirSpec struct {
	commit  plumbing.Hash
	when    time.Time
	shallow bool // the commit has parents, which the .git does not hold
	// ref is the full ref the build is of; tagObjects the annotated tag
	// objects from the ref down to the commit (none for a branch or a
	// lightweight tag).
	ref        plumbing.ReferenceName
	refTarget  plumbing.Hash
	tagObjects []plumbing.Hash
	origin     string // remote URL without credentials, or ""
}

// writeGitDir writes dir/.git for spec from the objects of s and the plan
// the tree walk filled.
func writeGitDir(ctx context.Context, s storer.EncodedObjectStorer, dir string, spec gitDirSpec, plan *gitDirPlan) error {
	gitDir := filepath.Join(dir, ".git")
	for _, d := range []string{"objects/pack", "refs/heads", "refs/tags"} {
		if err := os.MkdirAll(filepath.Join(gitDir, filepath.FromSlash(d)), 0o755); err != nil {
			return fmt.Errorf("write .git: %w", err)
		}
	}
	head := spec.commit.String() + "\n"
	files := map[string]string{"config": gitConfig(spec.origin)}
	switch {
	case spec.ref.IsBranch():
		head = "ref: " + spec.ref.String() + "\n"
		files[spec.ref.String()] = spec.commit.String() + "\n"
	case spec.ref.IsTag():
		files[spec.ref.String()] = spec.refTarget.String() + "\n"
	}
	files["HEAD"] = head
	if spec.shallow {
		files["shallow"] = spec.commit.String() + "\n"
	}
	for name, content := range files {
		p := filepath.Join(gitDir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("write .git/%s: %w", name, err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return fmt.Errorf("write .git/%s: %w", name, err)
		}
	}

	objs := append([]plumbing.Hash{spec.commit}, spec.tagObjects...)
	objs = append(objs, plan.objects...)
	seen := make(map[plumbing.Hash]bool, len(objs))
	objs = slices.DeleteFunc(objs, func(h plumbing.Hash) bool {
		dup := seen[h]
		seen[h] = true
		return dup
	})
	if err := writePack(ctx, s, filepath.Join(gitDir, "objects", "pack"), objs); err != nil {
		return fmt.Errorf("write .git pack: %w", err)
	}
	if err := writeIndex(filepath.Join(gitDir, "index"), plan.entries); err != nil {
		return fmt.Errorf("write .git/index: %w", err)
	}
	return setTimes(gitDir, spec.when)
}

// gitConfig is the .git/config of a plain non-bare clone of origin.
func gitConfig(origin string) string {
	var b strings.Builder
	b.WriteString("[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n\tlogallrefupdates = false\n")
	if origin != "" {
		fmt.Fprintf(&b, "[remote \"origin\"]\n\turl = %s\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n", origin)
	}
	return b.String()
}

// originURL is raw without credentials, query or fragment, as a .git may
// show it; "" when it cannot be written safely into a config file.
func originURL(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Scheme != "" {
		u.User, u.RawQuery, u.Fragment = nil, "", ""
		raw = u.String()
	} else if i := strings.LastIndex(raw, "@"); i >= 0 && strings.Contains(raw[i:], ":") {
		raw = raw[i+1:] // scp-like user@host:path: drop the user
	}
	if strings.ContainsAny(raw, "\"\\\n\r\x00") {
		return ""
	}
	return raw
}

// writePack writes objs, whole (no deltas) and in the order given, as one
// pack with its .idx in packDir. Objects are streamed from s, so a large
// blob costs no memory.
func writePack(ctx context.Context, s storer.EncodedObjectStorer, packDir string, objs []plumbing.Hash) (err error) {
	tmp, err := os.CreateTemp(packDir, "tmp_pack_")
	if err != nil {
		return err
	}
	defer func() {
		tmp.Close()
		if err != nil {
			os.Remove(tmp.Name())
		}
	}()
	sum := sha1.New()
	bw := bufio.NewWriterSize(tmp, 64<<10)
	pw := &countWriter{w: io.MultiWriter(bw, sum)}
	var hdr [12]byte
	copy(hdr[:], "PACK")
	binary.BigEndian.PutUint32(hdr[4:], 2)
	binary.BigEndian.PutUint32(hdr[8:], uint32(len(objs)))
	if _, err := pw.Write(hdr[:]); err != nil {
		return err
	}
	idx := new(idxfile.Writer)
	if err := idx.OnHeader(uint32(len(objs))); err != nil {
		return err
	}
	crc := crc32.NewIEEE()
	// One compressor, reset per object: a new one costs ~1 MiB to set up.
	zw, err := zlib.NewWriterLevel(io.Discard, zlib.BestSpeed)
	if err != nil {
		return err
	}
	for _, h := range objs {
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		offset := pw.n
		crc.Reset()
		if err := packObject(s, h, io.MultiWriter(pw, crc), zw); err != nil {
			return err
		}
		idx.Add(h, uint64(offset), crc.Sum32())
	}
	var trailer plumbing.Hash
	copy(trailer[:], sum.Sum(nil))
	if _, err := bw.Write(trailer[:]); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := idx.OnFooter(trailer); err != nil {
		return err
	}
	mi, err := idx.Index()
	if err != nil {
		return err
	}
	base := filepath.Join(packDir, "pack-"+hex.EncodeToString(trailer[:]))
	idxFile, err := os.OpenFile(base+".idx", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	ib := bufio.NewWriter(idxFile)
	if _, err := idxfile.NewEncoder(ib).Encode(mi); err != nil {
		idxFile.Close()
		return err
	}
	if err := ib.Flush(); err != nil {
		idxFile.Close()
		return err
	}
	if err := idxFile.Close(); err != nil {
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), base+".pack")
}

// packObject writes object h as a pack entry: type and size, then its
// content deflated with zw.
func packObject(s storer.EncodedObjectStorer, h plumbing.Hash, w io.Writer, zw *zlib.Writer) error {
	obj, err := s.EncodedObject(plumbing.AnyObject, h)
	if err != nil {
		return corrupt(fmt.Errorf("read object %s: %w", h, err))
	}
	size := obj.Size()
	var hdr [16]byte
	n := 0
	c := byte(obj.Type())<<4 | byte(size&0x0f)
	size >>= 4
	for size > 0 {
		hdr[n] = c | 0x80
		n++
		c = byte(size & 0x7f)
		size >>= 7
	}
	hdr[n] = c
	n++
	if _, err := w.Write(hdr[:n]); err != nil {
		return err
	}
	r, err := obj.Reader()
	if err != nil {
		return corrupt(fmt.Errorf("read object %s: %w", h, err))
	}
	defer r.Close()
	zw.Reset(w)
	got, err := io.Copy(zw, storeReader{r})
	if err != nil {
		return err
	}
	if got != obj.Size() {
		return corrupt(fmt.Errorf("object %s is %d bytes, want %d", h, got, obj.Size()))
	}
	return zw.Close()
}

// writeIndex writes the index of entries, without stat data.
func writeIndex(name string, entries []*index.Entry) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	err = index.NewEncoder(bw).Encode(&index.Index{Version: 2, Entries: entries})
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// setTimes sets the modification time of everything under dir, and dir
// itself, to t: the tar of the context then says the same for the same
// commit.
func setTimes(dir string, t time.Time) error {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		paths = append(paths, p)
		return err
	})
	if err != nil {
		return fmt.Errorf("write .git: %w", err)
	}
	// Children first: setting a directory's time is the last change to it.
	for _, p := range slices.Backward(paths) {
		if err := os.Chtimes(p, t, t); err != nil {
			return fmt.Errorf("write .git: %w", err)
		}
	}
	return nil
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

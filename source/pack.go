package source

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// go-git v5 (v5.19.3) indexes a fetched pack with packfile.Parser, whose
// resolveDeltas inflates every object of the pack into a buffer the size of
// the object, deltified or not and whether or not anything is based on it: a
// 1 GiB blob costs 1 GiB of heap during a fetch, whatever
// filesystem.Options.LargeObjectThreshold says (that option only applies to
// reading objects back). fetchStorage replaces that step with packWriter,
// which hashes plain objects while they stream in and, to resolve deltas,
// holds in memory only the chain of bases being applied. Git never deltifies
// blobs over core.bigFileThreshold (512 MiB), so a large file costs no memory
// at all; a delta chain costs the sum of its objects' sizes, as in git's own
// index-pack.

// maxDeltaDepth is the longest delta chain accepted, git's own ceiling
// (pack-objects' OE_DEPTH_BITS).
const maxDeltaDepth = 4095

// unpackLimit and unpackMaxBytes bound the received packs that a cache
// stores as loose objects: fewer objects than unpackLimit (git's own
// fetch.unpackLimit) in at most unpackMaxBytes. Each fetch would otherwise
// add a pack, and go-git reads the index of every pack each time it opens
// the cache, that is every checkout: a cache fetched by thousands of builds
// would pay for thousands of indexes. The byte bound keeps unpacking's
// memory small (an object is inflated whole to be written loose).
const (
	unpackLimit    = 100
	unpackMaxBytes = 1 << 20
)

// fetchStorage is a project's object store as go-git's fetch sees it: the
// filesystem storage, whose received packs are written and indexed by
// packWriter instead of go-git's PackWriter.
type fetchStorage struct {
	*filesystem.Storage
	packDir string // objects/pack of the repository
	// unpack stores small received packs as loose objects (see
	// unpackLimit), as git's fetch does; off (a first clone, as git's
	// clone), every pack is kept as received.
	unpack bool
}

// PackfileWriter implements storer.PackfileWriter: go-git's fetch writes the
// received pack into it and then closes it.
func (s fetchStorage) PackfileWriter() (io.WriteCloser, error) {
	w, err := newPackWriter(s.Storage, s.packDir)
	if err != nil {
		return nil, err
	}
	w.unpack = s.unpack
	return w, nil
}

// packWriter receives a pack, writes it to a temporary file and indexes it as
// it arrives (a goroutine reads the pipe Write feeds). Close resolves the
// deltas, writes the .idx, moves both files in place and makes the storage
// see the new pack. Nothing is kept when Close fails or nothing was written.
type packWriter struct {
	st      *filesystem.Storage
	packDir string
	tmp     *os.File
	pw      *io.PipeWriter
	written int64
	unpack  bool // small packs become loose objects
	done    chan struct{}
	// Set by the goroutine before done is closed.
	scan *packScan
	err  error
	// idx is the received pack's index, set by Close once it is resolved.
	idx *idxfile.MemoryIndex
}

func newPackWriter(st *filesystem.Storage, packDir string) (*packWriter, error) {
	if err := os.MkdirAll(packDir, 0o755); err != nil {
		return nil, fmt.Errorf("receive pack: %w", err)
	}
	tmp, err := os.CreateTemp(packDir, "tmp_pack_")
	if err != nil {
		return nil, fmt.Errorf("receive pack: %w", err)
	}
	pr, pw := io.Pipe()
	w := &packWriter{st: st, packDir: packDir, tmp: tmp, pw: pw, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		w.scan, w.err = w.receive(pr)
		// Unblocks Write with the reason when receive stopped early.
		pr.CloseWithError(w.err)
	}()
	return w, nil
}

// Write passes p to the indexing goroutine; it fails once the pack has
// proved malformed.
func (w *packWriter) Write(p []byte) (int, error) {
	n, err := w.pw.Write(p)
	w.written += int64(n)
	return n, err
}

// receive copies the pack from r into the temporary file while scanning it.
func (w *packWriter) receive(r io.Reader) (*packScan, error) {
	file := bufio.NewWriterSize(w.tmp, 256<<10)
	scan, err := scanPack(io.TeeReader(r, file))
	if err != nil {
		return nil, err
	}
	// Whatever follows the checksum is junk, found out by finish; it must
	// still be read for Write to return.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return nil, err
	}
	if err := file.Flush(); err != nil {
		return nil, fmt.Errorf("write pack: %w", err)
	}
	return scan, nil
}

// Close finishes the pack: see packWriter.
func (w *packWriter) Close() error {
	w.pw.Close()
	<-w.done
	err := w.finish()
	w.tmp.Close()
	os.Remove(w.tmp.Name()) // a no-op once the pack is saved
	return err
}

func (w *packWriter) finish() error {
	switch {
	case w.written == 0:
		return nil // nothing was sent: go-git reports that itself
	case w.err != nil:
		return fmt.Errorf("index received pack: %w", w.err)
	case len(w.scan.entries) == 0:
		return nil
	}
	sc := packfile.NewScanner(w.tmp)
	// Like git index-pack: anything after the checksum is an error.
	end, err := w.scan.end(sc)
	if err != nil {
		return fmt.Errorf("index received pack: %w", err)
	}
	if end != w.written {
		return fmt.Errorf("index received pack: %w: %d bytes of junk after the pack", packfile.ErrMalformedPackFile, w.written-end)
	}
	idx, err := w.scan.resolve(sc, w.st)
	if err != nil {
		return fmt.Errorf("index received pack: %w", err)
	}
	w.idx = idx
	if w.unpack && w.scan.small(w.written) {
		return w.storeLoose(idx)
	}
	if err := w.tmp.Close(); err != nil {
		return fmt.Errorf("write pack: %w", err)
	}
	base := filepath.Join(w.packDir, "pack-"+w.scan.checksum.String())
	if _, err := os.Stat(base + ".pack"); err == nil {
		return nil // the very same pack is already there
	}
	if err := writeIdx(base+".idx", idx); err != nil {
		return err
	}
	// The .pack appears last: go-git lists packs by their .pack file.
	if err := os.Rename(w.tmp.Name(), base+".pack"); err != nil {
		return fmt.Errorf("save pack: %w", err)
	}
	_ = os.Chmod(base+".pack", 0o444)
	// The storage caches the list of pack indexes it has read.
	w.st.Reindex()
	return nil
}

// small reports whether a pack of size bytes is one to store loose (see
// unpackLimit): no object in it stored plain is larger than unpackMaxBytes
// inflated (a delta's result is in memory while the pack is indexed
// anyway).
func (ps *packScan) small(size int64) bool {
	if len(ps.entries) >= unpackLimit || size > unpackMaxBytes {
		return false
	}
	for _, e := range ps.entries {
		if !e.delta && e.size > unpackMaxBytes {
			return false
		}
	}
	return true
}

// storeLoose stores every object of the received pack, indexed by idx, as a
// loose object (those resolved from bases outside the pack already are);
// the pack itself is dropped by Close.
func (w *packWriter) storeLoose(idx *idxfile.MemoryIndex) error {
	f, err := osfs.New(w.packDir).Open(filepath.Base(w.tmp.Name()))
	if err != nil {
		return fmt.Errorf("unpack received pack: %w", err)
	}
	p := packfile.NewPackfile(idx, nil, f, 0)
	defer p.Close()
	for _, e := range w.scan.entries {
		if e.loose {
			continue
		}
		obj, err := p.GetByOffset(e.offset)
		if err != nil {
			return fmt.Errorf("unpack received pack: object at %d: %w", e.offset, err)
		}
		content, err := readAll(obj)
		if err != nil {
			return fmt.Errorf("unpack received pack: object %s: %w", e.hash, err)
		}
		out := w.st.NewEncodedObject()
		out.SetType(obj.Type())
		out.SetSize(int64(len(content)))
		if err := writeObject(out, content); err != nil {
			return fmt.Errorf("store object %s: %w", e.hash, err)
		}
		if _, err := w.st.SetEncodedObject(out); err != nil {
			return fmt.Errorf("store object %s: %w", e.hash, err)
		}
	}
	return nil
}

// writeIdx writes idx to name through a temporary file.
func writeIdx(name string, idx *idxfile.MemoryIndex) error {
	f, err := os.CreateTemp(filepath.Dir(name), "tmp_idx_")
	if err != nil {
		return fmt.Errorf("write pack index: %w", err)
	}
	defer os.Remove(f.Name())
	bw := bufio.NewWriter(f)
	_, err = idxfile.NewEncoder(bw).Encode(idx)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o444)
	}
	if err == nil {
		err = os.Rename(f.Name(), name)
	}
	if err != nil {
		return fmt.Errorf("write pack index: %w", err)
	}
	return nil
}

// packEntry is one object of a pack.
type packEntry struct {
	offset int64
	size   int64 // inflated size of the data stored: an object or a delta
	crc    uint32
	typ    plumbing.ObjectType // the object's type, known for deltas once resolved
	delta  bool
	ref    plumbing.Hash // a REF delta's base
	hash   plumbing.Hash // zero until known
	// children are the OFS deltas based on this entry.
	children []*packEntry
	// loose marks an object resolved from a base outside the pack (a thin
	// pack): it is stored as a loose object and left out of the index, as
	// go-git cannot read such an entry back from the pack.
	loose bool
}

// packScan is what one sequential pass over a pack learns.
type packScan struct {
	entries  []*packEntry
	checksum plumbing.Hash
}

// scanPack reads a whole pack from r once, in order: it hashes every plain
// object while inflating it (never holding it), records where each delta is
// and checks the pack's trailing checksum.
func scanPack(r io.Reader) (*packScan, error) {
	sc := packfile.NewScanner(r)
	_, count, err := sc.Header()
	if err != nil {
		return nil, err
	}
	byOffset := make(map[int64]*packEntry, min(count, 1<<16))
	ps := &packScan{entries: make([]*packEntry, 0, min(count, 1<<16))}
	for range count {
		oh, err := sc.NextObjectHeader()
		if err != nil {
			return nil, malformed(err)
		}
		e := &packEntry{offset: oh.Offset, size: oh.Length, typ: oh.Type}
		var h plumbing.Hasher
		w := io.Discard
		switch oh.Type {
		case plumbing.CommitObject, plumbing.TreeObject, plumbing.BlobObject, plumbing.TagObject:
			h = plumbing.NewHasher(oh.Type, oh.Length)
			w = h
		case plumbing.OFSDeltaObject:
			base, ok := byOffset[oh.OffsetReference]
			if !ok {
				return nil, fmt.Errorf("%w: delta at %d refers to no object at %d", packfile.ErrMalformedPackFile, oh.Offset, oh.OffsetReference)
			}
			e.delta = true
			base.children = append(base.children, e)
		case plumbing.REFDeltaObject:
			e.delta, e.ref = true, oh.Reference
		default:
			return nil, fmt.Errorf("%w: object at %d has type %d", packfile.ErrMalformedPackFile, oh.Offset, oh.Type)
		}
		n, crc, err := sc.NextObject(w)
		if err != nil {
			return nil, malformed(err)
		}
		if n != oh.Length {
			return nil, fmt.Errorf("%w: object at %d has %d bytes, its header says %d", packfile.ErrMalformedPackFile, oh.Offset, n, oh.Length)
		}
		e.crc = crc
		if !e.delta {
			e.hash = h.Sum()
		}
		byOffset[e.offset] = e
		ps.entries = append(ps.entries, e)
	}
	if ps.checksum, err = sc.Checksum(); err != nil {
		return nil, malformed(err)
	}
	return ps, nil
}

// malformed makes a pack that ends early an ErrMalformedPackFile.
func malformed(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: truncated: %w", packfile.ErrMalformedPackFile, err)
	}
	return err
}

// end returns the pack's length: the end of its last object, read back
// through sc (seekable), and the checksum.
func (ps *packScan) end(sc *packfile.Scanner) (int64, error) {
	last := ps.entries[len(ps.entries)-1]
	if _, err := sc.SeekObjectHeader(last.offset); err != nil {
		return 0, malformed(err)
	}
	if _, _, err := sc.NextObject(io.Discard); err != nil {
		return 0, malformed(err)
	}
	pos, err := sc.SeekFromStart(0)
	if err != nil {
		return 0, err
	}
	return pos + int64(len(ps.checksum)), nil
}

// resolve computes the hash of every delta by applying it to its base, read
// back from the pack through sc (seekable). Only the bases of the chain being
// resolved are in memory: objects nothing is based on are never read again.
// REF deltas on objects outside the pack (a thin pack) take their base from
// st and are stored there as loose objects. It returns the pack's index.
func (ps *packScan) resolve(sc *packfile.Scanner, st *filesystem.Storage) (*idxfile.MemoryIndex, error) {
	refs := make(map[plumbing.Hash][]*packEntry)
	for _, e := range ps.entries {
		if e.typ == plumbing.REFDeltaObject {
			refs[e.ref] = append(refs[e.ref], e)
		}
	}
	r := resolver{sc: sc, st: st, refs: refs}
	for _, e := range ps.entries {
		if e.delta || (len(e.children) == 0 && len(refs[e.hash]) == 0) {
			continue
		}
		content, err := r.read(e)
		if err != nil {
			return nil, err
		}
		if err := r.walk(e, content, 0); err != nil {
			return nil, err
		}
	}
	// What is left is based on objects the pack does not hold.
	for len(r.refs) > 0 {
		var base plumbing.Hash
		for base = range r.refs {
			break
		}
		obj, err := st.EncodedObject(plumbing.AnyObject, base)
		if err != nil {
			return nil, fmt.Errorf("base %s of a delta in the pack: %w", base, err)
		}
		content, err := readAll(obj)
		if err != nil {
			return nil, fmt.Errorf("base %s of a delta in the pack: %w", base, err)
		}
		root := &packEntry{typ: obj.Type(), hash: base, loose: true}
		if err := r.walk(root, content, 0); err != nil {
			return nil, err
		}
	}

	iw := new(idxfile.Writer)
	for _, e := range ps.entries {
		if e.hash == plumbing.ZeroHash {
			return nil, fmt.Errorf("%w: delta at %d has no base", packfile.ErrMalformedPackFile, e.offset)
		}
		if !e.loose {
			iw.Add(e.hash, uint64(e.offset), e.crc)
		}
	}
	if err := iw.OnFooter(ps.checksum); err != nil {
		return nil, err
	}
	return iw.Index()
}

// resolver applies deltas to their bases.
type resolver struct {
	sc   *packfile.Scanner
	st   *filesystem.Storage
	refs map[plumbing.Hash][]*packEntry // REF deltas by base, until resolved
}

// read inflates the data of e (an object or a delta) from the pack.
func (r *resolver) read(e *packEntry) ([]byte, error) {
	if _, err := r.sc.SeekObjectHeader(e.offset); err != nil {
		return nil, malformed(err)
	}
	var b bytes.Buffer
	b.Grow(int(min(e.size, 64<<20)))
	if _, _, err := r.sc.NextObject(&b); err != nil {
		return nil, malformed(err)
	}
	return b.Bytes(), nil
}

// walk resolves every delta based on e, whose content is given, depth first.
func (r *resolver) walk(e *packEntry, content []byte, depth int) error {
	kids := e.children
	if refs, ok := r.refs[e.hash]; ok {
		kids = append(kids[:len(kids):len(kids)], refs...)
		delete(r.refs, e.hash)
	}
	if len(kids) == 0 {
		return nil
	}
	if depth >= maxDeltaDepth {
		return fmt.Errorf("%w: delta chain deeper than %d", packfile.ErrMalformedPackFile, maxDeltaDepth)
	}
	for _, k := range kids {
		delta, err := r.read(k)
		if err != nil {
			return err
		}
		out, err := packfile.PatchDelta(content, delta)
		if err != nil {
			return fmt.Errorf("%w: delta at %d: %w", packfile.ErrMalformedPackFile, k.offset, err)
		}
		k.typ, k.loose = e.typ, e.loose
		h := plumbing.NewHasher(k.typ, int64(len(out)))
		h.Write(out)
		k.hash = h.Sum()
		if k.loose {
			obj := r.st.NewEncodedObject()
			obj.SetType(k.typ)
			obj.SetSize(int64(len(out)))
			if err := writeObject(obj, out); err != nil {
				return err
			}
			if _, err := r.st.SetEncodedObject(obj); err != nil {
				return fmt.Errorf("store object %s: %w", k.hash, err)
			}
		}
		if err := r.walk(k, out, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// writeObject fills obj with content.
func writeObject(obj plumbing.EncodedObject, content []byte) error {
	w, err := obj.Writer()
	if err != nil {
		return err
	}
	if _, err := w.Write(content); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// readAll reads a whole object (a delta base) into memory.
func readAll(obj plumbing.EncodedObject) ([]byte, error) {
	rc, err := obj.Reader()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, obj.Size()))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) != obj.Size() {
		return nil, fmt.Errorf("object is %d bytes, want %d", len(b), obj.Size())
	}
	return b, nil
}

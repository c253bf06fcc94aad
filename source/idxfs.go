package source

import (
	"bufio"
	"io"
	"path/filepath"

	"github.com/go-git/go-billy/v5"
)

// idxBufferSize is the read buffer of a pack index file.
const idxBufferSize = 8 << 10

// idxBufferedFS is a cache's filesystem whose pack index files (.idx) are
// read through a buffer. go-git decodes an index with one read per 4-byte
// field (a system call each on a bare file: over 1,000 for the smallest
// pack), and it decodes the index of every pack of the cache each time the
// cache is opened, which is every checkout; each fetch adds a pack. The
// decoder keeps the whole index in memory anyway, so the buffer costs
// nothing more.
type idxBufferedFS struct {
	billy.Filesystem
}

// Open opens name, buffered when it is a pack index.
func (fs idxBufferedFS) Open(name string) (billy.File, error) {
	f, err := fs.Filesystem.Open(name)
	if err != nil || filepath.Ext(name) != ".idx" {
		return f, err
	}
	return &bufferedFile{File: f, r: bufio.NewReaderSize(f, idxBufferSize)}, nil
}

// bufferedFile reads its File through r; Seek drops what r holds.
type bufferedFile struct {
	billy.File
	r *bufio.Reader
}

func (f *bufferedFile) Read(p []byte) (int, error) { return f.r.Read(p) }

func (f *bufferedFile) Seek(offset int64, whence int) (int64, error) {
	if whence == io.SeekCurrent {
		// The file is ahead of the reader by what r holds.
		offset -= int64(f.r.Buffered())
	}
	n, err := f.File.Seek(offset, whence)
	f.r.Reset(f.File)
	return n, err
}

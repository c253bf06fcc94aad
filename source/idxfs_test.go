package source

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-git/go-billy/v5/osfs"
)

// A buffered index file reads and seeks as the bare file would: go-git
// only reads an index from its start, but nothing else may break.
func TestIdxBufferedFS(t *testing.T) {
	dir := t.TempDir()
	data := make([]byte, 3*idxBufferSize)
	for i := range data {
		data[i] = byte(i % 251)
	}
	for _, name := range []string{"pack-1.idx", "pack-1.pack"} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fs := idxBufferedFS{osfs.New(dir)}
	for _, name := range []string{"pack-1.idx", "pack-1.pack"} {
		t.Run(name, func(t *testing.T) {
			f, err := fs.Open(name)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, buffered := f.(*bufferedFile); buffered != (filepath.Ext(name) == ".idx") {
				t.Errorf("Open(%s) buffered = %v", name, buffered)
			}
			head := make([]byte, 10)
			if _, err := io.ReadFull(f, head); err != nil || head[9] != data[9] {
				t.Fatalf("first 10 bytes = %v, %v", head, err)
			}
			pos, err := f.Seek(5, io.SeekCurrent)
			if err != nil || pos != 15 {
				t.Fatalf("Seek(5, current) = %d, %v; want 15", pos, err)
			}
			b := make([]byte, 1)
			if _, err := io.ReadFull(f, b); err != nil || b[0] != data[15] {
				t.Errorf("byte at 15 = %v, %v; want %d", b, err, data[15])
			}
			if pos, err := f.Seek(2*idxBufferSize, io.SeekStart); err != nil || pos != 2*idxBufferSize {
				t.Fatalf("Seek(start) = %d, %v", pos, err)
			}
			rest, err := io.ReadAll(f)
			if err != nil || len(rest) != idxBufferSize || rest[0] != data[2*idxBufferSize] {
				t.Errorf("rest: %d bytes, %v", len(rest), err)
			}
		})
	}
}

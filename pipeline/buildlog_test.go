package pipeline

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLogKeepsHeadAndTail(t *testing.T) {
	tests := []struct {
		name   string
		limit  int64
		writes []string
		want   string
	}{
		{name: "under the limit", limit: 1024, writes: []string{"a\n", "b\n"}, want: "a\nb\n"},
		{
			name:   "over the limit in small writes",
			limit:  1024,
			writes: append([]string{strings.Repeat("h", 512)}, append(repeat("x", 2000), strings.Repeat("t", 100))...),
			want:   strings.Repeat("h", 512) + "\n[slipway: 1588 bytes of output omitted; the log keeps its head and tail (log_limit)]\n" + strings.Repeat("x", 412) + strings.Repeat("t", 100),
		},
		{
			name:   "one huge write",
			limit:  1024,
			writes: []string{strings.Repeat("h", 512) + strings.Repeat("m", 5000) + strings.Repeat("t", 512)},
			want:   strings.Repeat("h", 512) + "\n[slipway: 5000 bytes of output omitted; the log keeps its head and tail (log_limit)]\n" + strings.Repeat("t", 512),
		},
		{
			name:   "tail that fits without omission",
			limit:  1024,
			writes: []string{strings.Repeat("h", 600)},
			want:   strings.Repeat("h", 600),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "1.log")
			var echo bytes.Buffer
			l, err := OpenLog(path, tt.limit, &echo)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.writes {
				if n, err := l.Write([]byte(w)); err != nil || n != len(w) {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("log file:\n got %q\nwant %q", got, tt.want)
			}
			if echo.String() != strings.Join(tt.writes, "") {
				t.Errorf("echo got %d bytes, want every byte written", echo.Len())
			}
		})
	}
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func BenchmarkLogWrite1GiB(b *testing.B) {
	line := []byte(strings.Repeat("y", 99) + "\n")
	for b.Loop() {
		l, err := OpenLog(filepath.Join(b.TempDir(), "x.log"), 10<<20, nil)
		if err != nil {
			b.Fatal(err)
		}
		for written := 0; written < 1<<30; written += len(line) {
			l.Write(line)
		}
		l.Close()
	}
}

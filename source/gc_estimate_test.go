package source

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// The loose-object estimate samples objects/17 as git's gc --auto does at
// git's threshold (27 objects there: 6912 > 6700; 26: 6656, not more), and
// counts every fan-out directory at a small threshold.
func TestLooseEstimate(t *testing.T) {
	t.Parallel()
	fill := func(t *testing.T, counts map[string]int) string {
		t.Helper()
		objDir := t.TempDir()
		for fan, n := range counts {
			d := filepath.Join(objDir, fan)
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
			for i := range n {
				if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("%038x", i)), nil, 0o444); err != nil {
					t.Fatal(err)
				}
			}
		}
		// Not objects: a temporary file, a pack directory.
		if err := os.WriteFile(filepath.Join(objDir, "17", "tmp_obj_x"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		return objDir
	}
	for _, tc := range []struct {
		name      string
		counts    map[string]int
		threshold int
		want      int
	}{
		{"git's sample, above", map[string]int{"17": 27, "00": 500}, DefaultGCAuto, 6912},
		{"git's sample, below", map[string]int{"17": 26, "ff": 500}, DefaultGCAuto, 6656},
		{"small threshold, exact", map[string]int{"17": 1, "00": 5, "ff": 15}, 20, 21},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := looseEstimate(fill(t, tc.counts), tc.threshold)
			if err != nil || got != tc.want {
				t.Errorf("looseEstimate(threshold %d) = %d, %v; want %d", tc.threshold, got, err, tc.want)
			}
		})
	}
}

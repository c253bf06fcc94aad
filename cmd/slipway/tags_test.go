package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipwayci/slipway/source/gitfixture"
)

// TestTagsPrintsWhatWouldBePushed runs `slipway tags` against a config
// whose repository has the git tags v1.2.3 and v2.0.0; nothing is built or
// pushed, so no engine or registry is needed.
func TestTagsPrintsWhatWouldBePushed(t *testing.T) {
	t.Parallel()
	repo := gitfixture.New(t)
	head := repo.Commit(t, "main", map[string]string{"Dockerfile": "FROM scratch\n"}, "first")
	repo.Tag(t, "v1.2.3", head)
	repo.Tag(t, "v2.0.0", head)
	const image = "registry.example.com/acme/web"
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "slipway.yaml")
	cfg := fmt.Sprintf(`data_dir: %q
projects:
  - name: fixture
    repo: %q
    image: %q
    schedules:
      - {name: weekly, cron: "0 3 * * MON"}
      - {name: monthly, cron: "0 4 1 * *"}
      - {name: nightly, cron: "@daily", timezone: "Europe/Berlin"}
`, filepath.Join(dir, "data"), repo.URL(), image)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		args []string
		want []string
	}{
		{name: "weekly in ISO week 53", args: []string{"--schedule", "weekly", "--at", "2026-12-31T03:00:00Z"}, want: []string{"2026-W53", "weekly"}},
		{name: "weekly on new year's day is still week 53", args: []string{"--schedule", "weekly", "--at", "2027-01-01T03:00:00Z"}, want: []string{"2026-W53", "weekly"}},
		{name: "monthly", args: []string{"--schedule", "monthly", "--at", "2026-11-01T04:00:00Z"}, want: []string{"2026-11", "monthly"}},
		{name: "other schedule dated in its time zone", args: []string{"--schedule", "nightly", "--at", "2026-11-22T23:30:00Z"}, want: []string{"nightly-20261123", "nightly"}},
		{name: "default branch", args: []string{"--ref", "main", "--commit", head}, want: []string{"main-" + head[:7], "main", "latest"}},
		{name: "backport release keeps latest", args: []string{"--ref", "refs/tags/v1.2.3"}, want: []string{"1.2.3", "1.2", "1"}},
		{name: "highest release", args: []string{"--ref", "refs/tags/v2.0.0"}, want: []string{"2.0.0", "2.0", "2", "latest"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			argv := append([]string{"tags", "--config", cfgPath, "fixture"}, tt.args...)
			if code := run(t.Context(), argv, &stdout, &stderr); code != 0 {
				t.Fatalf("slipway %s exited %d:\n%s", strings.Join(argv, " "), code, stderr.String())
			}
			want := make([]string, len(tt.want))
			for i, tag := range tt.want {
				want[i] = image + ":" + tag
			}
			got := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("slipway tags %s (-want +got):\n%s", strings.Join(tt.args, " "), diff)
			}
		})
	}
}

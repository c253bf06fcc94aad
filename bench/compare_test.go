// Package bench holds the side-by-side benchmarks of issue 17: each
// comparison runs slipway and a reference (the docker and git CLIs doing the
// same work) in one invocation, alternating which goes first, and prints
//
//	name: slipway X, reference Y, ratio Z
//
// with the medians of the timed rounds (a warm-up round of each is not
// counted). bench/compare.sh runs them all; see bench/README.md.
package bench

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var (
	rounds    = flag.Int("rounds", 5, "timed rounds of each comparison (after one warm-up round)")
	dockerCLI = flag.String("docker", defaultDockerCLI(), "the docker CLI of the reference")
)

// defaultDockerCLI is the engine's own CLI where Debian's docker.io
// installed it (its DOCKER_BUILDKIT=1 builds with BuildKit, where a newer
// CLI needs the buildx plugin), else the docker on PATH.
func defaultDockerCLI() string {
	if _, err := os.Stat("/usr/bin/docker"); err == nil {
		return "/usr/bin/docker"
	}
	return "docker"
}

// compare runs one warm-up round and n timed rounds of slipway and ref,
// alternating which runs first, and prints the medians and their ratio.
// Each function gets the round's number (0 is the warm-up) and returns the
// time of the work it was asked to time (setup outside it is its own
// business). Comparisons of single stages, which take well under a second,
// run 3 × -rounds rounds: the load of the shared machine swings them most.
func compare(b *testing.B, name string, n int, slipway, ref func(round int) time.Duration) {
	b.Helper()
	var s, r []time.Duration
	for i := 0; i <= n; i++ {
		var ds, dr time.Duration
		if i%2 == 0 {
			ds, dr = slipway(i), ref(i)
		} else {
			dr, ds = ref(i), slipway(i)
		}
		note("%s round %d: slipway %s, reference %s", name, i, ds.Round(time.Millisecond), dr.Round(time.Millisecond))
		if i > 0 {
			s, r = append(s, ds), append(r, dr)
		}
	}
	ms, mr := median(s), median(r)
	ratio := float64(ms) / float64(mr)
	fmt.Printf("%s: slipway %s, reference %s, ratio %.2f\n", name, ms.Round(time.Millisecond), mr.Round(time.Millisecond), ratio)
	b.ReportMetric(float64(ms.Milliseconds()), "slipway-ms")
	b.ReportMetric(float64(mr.Milliseconds()), "reference-ms")
	b.ReportMetric(ratio, "ratio")
}

// note writes a detail of a round to stderr (go test truncates a
// benchmark's own log).
func note(format string, args ...any) { fmt.Fprintf(os.Stderr, "  "+format+"\n", args...) }

func median(d []time.Duration) time.Duration {
	d = slices.Clone(d)
	slices.Sort(d)
	if len(d) == 0 {
		return 0
	}
	if len(d)%2 == 1 {
		return d[len(d)/2]
	}
	return (d[len(d)/2-1] + d[len(d)/2]) / 2
}

// timed returns how long f took; f failing fails the benchmark.
func timed(b *testing.B, what string, f func() error) time.Duration {
	b.Helper()
	start := time.Now()
	if err := f(); err != nil {
		b.Fatalf("%s: %v", what, err)
	}
	return time.Since(start)
}

// run runs a command as a user would (its output read and dropped, as a
// terminal would), in dir ("" = here), with extra environment.
func run(ctx context.Context, dir string, env []string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return nil
}

// docker runs the reference's docker CLI.
func docker(ctx context.Context, args ...string) error {
	return run(ctx, "", nil, *dockerCLI, args...)
}

// dockerBuild builds dir as tags with the docker CLI; buildkit picks
// DOCKER_BUILDKIT=1 (the 20.10 CLI's default is the classic builder).
func dockerBuild(ctx context.Context, dir string, buildkit bool, tags ...string) error {
	env := []string{"DOCKER_BUILDKIT=0"}
	if buildkit {
		env = []string{"DOCKER_BUILDKIT=1"}
	}
	args := []string{"build", "-q"}
	for _, t := range tags {
		args = append(args, "-t", t)
	}
	return run(ctx, "", env, *dockerCLI, append(args, dir)...)
}

// buildUncached builds dir as tag with the classic builder and no cache,
// for the images a benchmark times something else with: a cached step's
// intermediate image may be removed meanwhile by the shared engine's other
// users, which fails the build.
func buildUncached(ctx context.Context, dir, tag string) error {
	return run(ctx, "", []string{"DOCKER_BUILDKIT=0"}, *dockerCLI, "build", "-q", "--no-cache", "-t", tag, dir)
}

// removeLocal removes local tags (untimed cleanup).
func removeLocal(refs ...string) {
	for _, ref := range refs {
		_ = exec.Command(*dockerCLI, "rmi", "-f", ref).Run()
	}
}

// scratchImage writes a FROM scratch build context holding the program at
// bin as /app (its ENTRYPOINT) and a file stamp (unique content, so each
// image has a layer no registry holds yet) and returns its directory.
func scratchImage(b *testing.B, bin, stamp string) string {
	b.Helper()
	dir := b.TempDir()
	data, err := os.ReadFile(bin)
	if err != nil {
		b.Fatal(err)
	}
	files := map[string]string{
		"app":        string(data),
		"stamp":      stamp,
		"Dockerfile": "FROM scratch\nCOPY app /app\nCOPY stamp /stamp\nENTRYPOINT [\"/app\"]\n",
	}
	for n, c := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o755); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

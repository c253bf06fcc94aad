package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"github.com/slipwayci/slipway/builder"
	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/registry"
)

// helloBinary is examples/hello built static: its -selftest prints a line
// and exits 0.
func helloBinary(b *testing.B) string {
	b.Helper()
	src, err := os.ReadFile("../examples/hello/main.go")
	if err != nil {
		b.Fatal(err)
	}
	return testenv.StaticBinary(b, string(src))
}

// BenchmarkCompareTest is goal 2 of issue 17: slipway's test stage
// (builder.Test: a container run to its end, its output captured, the
// container removed) against `docker run --rm IMAGE -selftest`, same image.
func BenchmarkCompareTest(b *testing.B) {
	ctx := context.Background()
	cli := testenv.Docker(b)
	img := testenv.Name(b, "slipway-bench-test")
	if err := buildUncached(ctx, scratchImage(b, helloBinary(b), img), img); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { removeLocal(img) })
	bld := builder.New(cli, builder.ModeAuto)
	b.ResetTimer()
	compare(b, "test", 3**rounds, func(int) time.Duration {
		return timed(b, "slipway test", func() error {
			return bld.Test(ctx, builder.TestOptions{Image: img, Command: []string{"-selftest"}, Timeout: time.Minute}, io.Discard)
		})
	}, func(int) time.Duration {
		return timed(b, "docker run", func() error { return docker(ctx, "run", "--rm", img, "-selftest") })
	})
}

// BenchmarkComparePush is goal 3: slipway's push of a new image under 3
// tags (main-<sha>, then the moving main and latest), each read back,
// against one `docker push` of one tag of an image of the same shape. Each
// round pushes images with a layer the registry does not hold yet; each
// side pushes to a repository of its own.
func BenchmarkComparePush(b *testing.B) {
	ctx := context.Background()
	cli := testenv.Docker(b)
	reg := testenv.StartRegistry(b, testenv.RegistryOptions{})
	bin := helloBinary(b)
	slipRepo, cliRepo := reg.Host+"/"+testenv.Name(b, "bench-slipway"), reg.Host+"/"+testenv.Name(b, "bench-cli")
	pusher := registry.NewPusher(cli, nil, registry.PushOptions{})
	// image builds a fresh image of repo, untimed, and returns its local
	// name.
	image := func(repo string, round int) string {
		ref := fmt.Sprintf("%s:build%d", repo, round)
		if err := buildUncached(ctx, scratchImage(b, bin, ref+time.Now().String()), ref); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { removeLocal(ref) })
		return ref
	}
	b.ResetTimer()
	compare(b, "push, 3 tags vs 1", 3**rounds, func(round int) time.Duration {
		img := image(slipRepo, round)
		sha := fmt.Sprintf("main-%07d", round)
		tags := []registry.Tag{{Name: sha}, {Name: "main", Moving: true}, {Name: "latest", Moving: true}}
		return timed(b, "slipway push", func() error {
			_, err := pusher.Push(ctx, img, slipRepo, tags, io.Discard)
			return err
		})
	}, func(round int) time.Duration {
		img := image(cliRepo, round)
		return timed(b, "docker push", func() error { return docker(ctx, "push", "-q", img) })
	})
}

// Command slipway-probe is the HTTP check of a deploy's probe, on its own:
// `slipway-probe [probe] URL [-status N] [-timeout D]`. slipway runs its own
// executable for probes by default; point probe_executable at a static
// build of this command (CGO_ENABLED=0 go build ./cmd/slipway-probe) when
// slipway's own executable cannot run in a FROM scratch container (a cgo
// build, another architecture than the swarm manager's).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/slipwayci/slipway/deploy/probe"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "probe" {
		args = args[1:]
	}
	code := probe.Main(ctx, args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

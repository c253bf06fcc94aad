#!/usr/bin/env bash
# Times deploy.Rollout (update to converged) against `docker service update
# --image` for the same change on the local engine's single-node swarm
# (initialised if needed, and left so). Needs the engine, the registry
# binary and the docker CLI. Extra arguments go to `go test`
# (e.g. -benchtime 5x).
set -euo pipefail
cd "$(dirname "$0")/.."
go test -run '^$' -bench '^BenchmarkRollout$' -benchtime 2x -count 1 "$@" ./deploy/

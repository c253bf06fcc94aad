#!/usr/bin/env bash
# Side-by-side benchmarks of issue 17: slipway against the docker and git
# CLIs doing the same work, in one invocation, alternating which goes first
# each round. Prints one line per comparison:
#   name: slipway X, reference Y, ratio Z
# (medians of the timed rounds; ratio = slipway / reference) after each
# round's details (indented). Usage: bench/compare.sh [rounds] [regexp]
# (defaults: 5 rounds, every Benchmark whose name matches Compare; the
# single-stage comparisons, test and push, run 3 × rounds). Needs
# root, the engine, docker-registry and, for the Debian fixture's base image
# (made once with debootstrap from a Debian mirror, then kept as
# slipway-bench/debian:bookworm), debootstrap.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
filter=${2:-Compare}
log=$(mktemp /tmp/slipway-compare.XXXXXX)
trap 'rm -f "$log"' EXIT
if ! go test -run '^$' -bench "$filter" -benchtime 1x -count 1 -timeout 60m ./bench -args -rounds "$rounds" >"$log" 2>&1; then
  tail -40 "$log" >&2
  exit 1
fi
grep -E '^  ' "$log" || true
grep -E '^[^ ].*: slipway .*, reference .*, ratio ' "$log"

#!/usr/bin/env bash
# The test command of the README: sets up the engine and registry when they
# are missing (scripts/test-env.sh), then runs every test with the race
# detector and a short bounded fuzz run of the webhook handler. Downloads
# every module of go.mod first (the self-build test vendors offline).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/test-env.sh
export CI="${CI:-}"

# Every module of go.mod, for every platform: `go test` alone fetches only
# what linux builds import, while the self-build test vendors the whole
# module graph offline (GOPROXY=off) from this cache.
echo "test: go mod download"
go mod download

go vet ./...
go test -race -count=1 -timeout 40m ./... "$@"
if [ -d webhook ] && grep -q "func FuzzHandler" webhook/*_test.go 2>/dev/null; then
  go test -run '^$' -fuzz '^FuzzHandler$' -fuzztime 20000x -parallel 2 ./webhook
fi

#!/usr/bin/env bash
# The test command of the README: sets up the engine and registry when they
# are missing (scripts/test-env.sh), then runs every test with the race
# detector and a short bounded fuzz run of the webhook handler.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/test-env.sh
export CI="${CI:-}"

go vet ./...
go test -race -count=1 -timeout 40m ./... "$@"
if [ -d webhook ] && grep -q "func FuzzHandler" webhook/*_test.go 2>/dev/null; then
  go test -run '^$' -fuzz '^FuzzHandler$' -fuzztime 20000x -parallel 2 ./webhook
fi

#!/usr/bin/env bash
# Quick start: on a fresh Debian machine, sets up the engine and a registry on
# 127.0.0.1:5000, makes the example repository data/examples/hello.git (a
# static Go binary in a FROM scratch image, so nothing is pulled from any
# hub) and runs `slipway build hello` on config.example.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

bash scripts/test-env.sh

# A registry on loopback (the engine treats 127.0.0.0/8 as insecure).
if ! curl -fs http://127.0.0.1:5000/v2/ >/dev/null 2>&1; then
  mkdir -p data/registry
  cat > data/registry/config.yml <<YAML
version: 0.1
storage:
  filesystem: {rootdirectory: $root/data/registry/storage}
  delete: {enabled: true}
http: {addr: 127.0.0.1:5000}
YAML
  nohup docker-registry serve data/registry/config.yml >data/registry/registry.log 2>&1 &
  for _ in $(seq 1 30); do curl -fs http://127.0.0.1:5000/v2/ >/dev/null && break; sleep 0.5; done
fi

# The example repository.
repo=data/examples/hello.git
if [ ! -d "$repo/.git" ]; then
  mkdir -p "$repo"
  cp examples/hello/Dockerfile examples/hello/.dockerignore "$repo/"
  (cd examples/hello && CGO_ENABLED=0 go build -trimpath -o "$root/$repo/hello" .)
  git -C "$repo" -c init.defaultBranch=main init -q
  git -C "$repo" add -A
  git -C "$repo" -c user.name=slipway -c user.email=slipway@localhost commit -qm "hello"
fi

go build -o slipway ./cmd/slipway
export GITHUB_WEBHOOK_SECRET="${GITHUB_WEBHOOK_SECRET:-quickstart-secret}"
./slipway validate --config config.example.yaml
exec ./slipway build --config config.example.yaml hello "$@"

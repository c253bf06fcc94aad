#!/usr/bin/env bash
# Benchmarks of `slipway build` (issue 2), on the local engine:
#  1. peak RSS of `slipway build` with a 1 GiB build context (target: under
#     100 MiB): the context must stream, never be held in memory;
#  2. wall time of slipway's stages against the same steps done by hand with
#     `git clone --depth 1 && docker build && docker push`, for one small
#     fixture.
# Usage: bench/build.sh [context-MiB]   (default 1024). Needs root, the engine
# and docker-registry (scripts/test-env.sh sets them up). Writes nothing
# outside a temp dir; prints a results table on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
mib=${1:-1024}
work=$(mktemp -d /tmp/slipway-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  docker image ls --format '{{.Repository}}:{{.Tag}}' | grep "^127.0.0.1:$port/bench" | xargs -r docker rmi -f >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

command -v /usr/bin/time >/dev/null || { echo "bench: needs GNU time (apt-get install time)" >&2; exit 1; }

# Registry on a free loopback port.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/registry"
cat > "$work/registry/config.yml" <<YAML
version: 0.1
storage: {filesystem: {rootdirectory: $work/registry/data}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$port}
log: {level: warn}
YAML
docker-registry serve "$work/registry/config.yml" >"$work/registry/log" 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.2; done

go build -o "$work/slipway" ./cmd/slipway
(cd examples/hello && CGO_ENABLED=0 go build -trimpath -o "$work/hello" .)

mkrepo() { # dir, with-big-file
  local dir=$1
  mkdir -p "$dir"
  cp "$work/hello" "$dir/hello"
  printf 'FROM scratch\nCOPY hello /hello\nENTRYPOINT ["/hello"]\n' > "$dir/Dockerfile"
  if [ "$2" = yes ]; then
    head -c "$((mib << 20))" /dev/urandom > "$dir/big.bin"
  fi
  git -C "$dir" -c init.defaultBranch=main init -q
  git -C "$dir" add -A
  git -C "$dir" -c user.name=bench -c user.email=bench@localhost -c core.compression=0 commit -qm bench
}
mkrepo "$work/big" yes
mkrepo "$work/small" no

cat > "$work/slipway.yaml" <<YAML
data_dir: $work/data
projects:
  - {name: big,   repo: "file://$work/big",   image: "127.0.0.1:$port/bench-big",   test: {command: ["/hello", "-selftest"]}}
  - {name: small, repo: "file://$work/small", image: "127.0.0.1:$port/bench-small", test: {command: ["/hello", "-selftest"]}}
YAML

echo "== peak RSS, ${mib} MiB context"
/usr/bin/time -f '%M %e' -o "$work/rss" "$work/slipway" build --config "$work/slipway.yaml" big --json > "$work/big.json" 2> "$work/big.log"
read -r rss_kib big_s < "$work/rss"
echo "slipway build big: peak RSS $((rss_kib / 1024)) MiB, ${big_s}s"

echo "== stages vs docker CLI, small fixture"
"$work/slipway" build --config "$work/slipway.yaml" small --json > "$work/small.json" 2>/dev/null
python3 - "$work/small.json" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
total = sum(s["duration_ms"] for s in b["stages"])
print("slipway stages: " + ", ".join(f'{s["name"]} {s["duration_ms"]} ms' for s in b["stages"]) + f"; total {total} ms")
PY
start=$(date +%s%N)
git clone -q --depth 1 "file://$work/small" "$work/clone"
t1=$(date +%s%N)
docker build -q -t "127.0.0.1:$port/bench-cli:main" "$work/clone" >/dev/null
t2=$(date +%s%N)
docker run --rm "127.0.0.1:$port/bench-cli:main" -selftest >/dev/null
t3=$(date +%s%N)
docker push -q "127.0.0.1:$port/bench-cli:main" >/dev/null
t4=$(date +%s%N)
ms() { echo $(( ($2 - $1) / 1000000 )); }
echo "docker CLI: clone $(ms $start $t1) ms, build $(ms $t1 $t2) ms, test $(ms $t2 $t3) ms, push $(ms $t3 $t4) ms; total $(ms $start $t4) ms"

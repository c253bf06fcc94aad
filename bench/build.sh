#!/usr/bin/env bash
# Benchmarks of `slipway build` (issue 2), on the local engine:
#  1. peak RSS of `slipway build` with a 1 GiB build context (target: under
#     100 MiB): the context must stream, never be held in memory. Measured
#     twice: over file:// (go-git runs git-upload-pack as a child, whose
#     memory /usr/bin/time counts too: see bench/README.md) and over smart
#     HTTP (git http-backend in a separate process, as with a real remote),
#     where the figure is slipway's alone;
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
port=
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -n "$port" ]; then
    docker image ls --format '{{.Repository}}:{{.Tag}}' | grep "^127.0.0.1:$port/bench" | xargs -r docker rmi -f >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
# shellcheck source=bench/lib.sh
. bench/lib.sh

command -v /usr/bin/time >/dev/null || { echo "bench: needs GNU time (apt-get install time)" >&2; exit 1; }

start_registry

go build -o "$work/slipway" ./cmd/slipway
(cd examples/hello && CGO_ENABLED=0 go build -trimpath -o "$work/hello" .)

build_githttp

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

start_githttp

cat > "$work/slipway.yaml" <<YAML
data_dir: $work/data
projects:
  - {name: big,   repo: "file://$work/big",   image: "127.0.0.1:$port/bench-big",   test: {command: ["-selftest"]}}
  - {name: bighttp, repo: "http://$httpaddr/big", image: "127.0.0.1:$port/bench-bighttp", test: {command: ["-selftest"]}}
  - {name: small, repo: "file://$work/small", image: "127.0.0.1:$port/bench-small", test: {command: ["-selftest"]}}
YAML

stages() { # build result JSON -> one line of stage durations
  python3 - "$1" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
if b["status"] != "succeeded":
    sys.exit(f'build {b["id"]} {b["status"]}: {b["error"]}')
total = sum(s["duration_ms"] for s in b["stages"])
print("slipway stages: " + ", ".join(f'{s["name"]} {s["duration_ms"]} ms' for s in b["stages"]) + f"; total {total} ms")
PY
}

echo "== peak RSS, ${mib} MiB context"
for p in big bighttp; do
  /usr/bin/time -f '%M %e' -o "$work/rss" "$work/slipway" build --config "$work/slipway.yaml" "$p" --json > "$work/$p.json" 2> "$work/$p.log" ||
    { echo "bench: slipway build $p failed:" >&2; tail -20 "$work/$p.log" >&2; exit 1; }
  read -r rss_kib wall_s < "$work/rss"
  case $p in
    big) what="file:// (slipway + git-upload-pack child)" ;;
    *) what="http:// (slipway alone)" ;;
  esac
  echo "slipway build $p, $what: peak RSS $((rss_kib / 1024)) MiB, ${wall_s}s"
  echo "  $(stages "$work/$p.json")"
done

echo "== stages vs docker CLI, small fixture"
"$work/slipway" build --config "$work/slipway.yaml" small --json > "$work/small.json" 2>"$work/small.log" ||
  { echo "bench: slipway build small failed:" >&2; tail -20 "$work/small.log" >&2; exit 1; }
stages "$work/small.json"
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

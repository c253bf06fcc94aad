#!/usr/bin/env bash
# Memory of `slipway serve` (issue 17, goal 6): a real serve process, its
# resident memory read from /proc/PID/status (VmRSS now, VmHWM the peak
# since it started):
#  1. idle, 5 s after it answers /healthz;
#  2. during a build queued through the API whose build context holds one
#     random file of [context-MiB] (default 1024), fetched over smart HTTP
#     (git http-backend in a process of its own, as with a real remote), so
#     that the context streams through serve to the engine. VmRSS is
#     sampled every 200 ms while the build runs; VmHWM is read at the end.
# Target: peak under 100 MiB.
# Usage: bench/serve-memory.sh [context-MiB]. Needs root, the engine and
# docker-registry (scripts/test-env.sh). Writes nothing outside a temp dir.
set -euo pipefail
cd "$(dirname "$0")/.."
mib=${1:-1024}
work=$(mktemp -d /tmp/slipway-servemem.XXXXXX)
pids=()
port=
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ -n "$port" ]; then
    docker image ls --format '{{.Repository}}:{{.Tag}}' | grep "^127.0.0.1:$port/" | xargs -r docker rmi -f >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
# shellcheck source=bench/lib.sh
. bench/lib.sh

# status PID FIELD: the field of /proc/PID/status in MiB (one decimal).
status() { awk -v f="$2:" '$1 == f { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

start_registry

go build -o "$work/slipway" ./cmd/slipway
(cd examples/hello && CGO_ENABLED=0 go build -trimpath -o "$work/hello" .)

build_githttp

repo=$work/big
mkdir -p "$repo"
cp "$work/hello" "$repo/hello"
printf 'FROM scratch\nCOPY hello /hello\nENTRYPOINT ["/hello"]\n' > "$repo/Dockerfile"
head -c "$((mib << 20))" /dev/urandom > "$repo/big.bin"
git -C "$repo" -c init.defaultBranch=main init -q
git -C "$repo" add -A
git -C "$repo" -c user.name=bench -c user.email=bench@localhost -c core.compression=0 commit -qm bench

start_githttp

token=bench-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
echo "bench:$token" > "$work/tokens"
listen=127.0.0.1:$(freeport)
cat > "$work/slipway.yaml" <<YAML
listen: $listen
data_dir: $work/data
api_tokens_file: $work/tokens
reconcile_interval: "off"
projects:
  - {name: big, repo: "http://$httpaddr/big", image: "127.0.0.1:$port/servemem-big", test: {command: ["-selftest"]}}
YAML

"$work/slipway" serve --config "$work/slipway.yaml" --log-format json 2>"$work/serve.log" &
serve=$!
pids+=($serve)
for _ in $(seq 1 150); do curl -fs "http://$listen/healthz" >/dev/null && break; sleep 0.2; done
curl -fs "http://$listen/healthz" >/dev/null || { echo "bench: serve did not start:" >&2; tail -20 "$work/serve.log" >&2; exit 1; }
sleep 5
echo "serve idle: VmRSS $(status $serve VmRSS) MiB (RssAnon $(status $serve RssAnon), RssFile $(status $serve RssFile)), VmHWM $(status $serve VmHWM) MiB"

start=$(date +%s)
id=$(curl -fs -X POST -H "Authorization: Bearer $token" "http://$listen/api/v1/projects/big/builds" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
peak=0
while :; do
  rss=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$serve/status")
  [ "$rss" -gt "$peak" ] && peak=$rss
  st=$(curl -fs -H "Authorization: Bearer $token" "http://$listen/api/v1/builds/$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
  case $st in succeeded | failed | canceled | superseded) break ;; esac
  sleep 0.2
done
wall=$(($(date +%s) - start))
[ "$st" = succeeded ] || { echo "bench: build $id $st:" >&2; curl -fs -H "Authorization: Bearer $token" "http://$listen/api/v1/builds/$id" >&2; exit 1; }
stages=$(curl -fs -H "Authorization: Bearer $token" "http://$listen/api/v1/builds/$id" | python3 -c '
import json, sys
b = json.load(sys.stdin)
print(", ".join(s["name"] + " " + str(s["duration_ms"]) + " ms" for s in b["stages"]))')
echo "serve during a ${mib} MiB-context build over http (${wall}s; $stages):" \
  "sampled VmRSS peak $(awk -v k="$peak" 'BEGIN { printf "%.1f", k / 1024 }') MiB, VmHWM $(status $serve VmHWM) MiB, VmRSS after $(status $serve VmRSS) MiB (RssAnon $(status $serve RssAnon), RssFile $(status $serve RssFile))"

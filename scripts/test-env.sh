#!/usr/bin/env bash
# Installs and starts what slipway's tests need on a Debian machine, when it
# is missing: the Docker engine (docker.io), a registry binary
# (docker-registry), git, Chromium for the dashboard's browser tests and a
# static busybox for the self-build test's base image, PostgreSQL (server
# binaries only: the tests start their own cluster), and QEMU user emulation
# registered with binfmt_misc (qemu-user-static, binfmt-support) so that the
# builder pool's multi-platform test runs arm64 images. Safe to run again: it only
# does what is not done yet. Needs root (or sudo) for apt-get and dockerd.
set -euo pipefail

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
command -v git >/dev/null 2>&1 || need+=(git)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v busybox >/dev/null 2>&1 || need+=(busybox-static)
command -v curl >/dev/null 2>&1 || need+=(curl)
# The store's tests start a throwaway PostgreSQL cluster with initdb/pg_ctl.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
# The builder pool's platforms test runs linux/arm64 containers.
command -v qemu-aarch64-static >/dev/null 2>&1 || need+=(qemu-user-static)
command -v update-binfmts >/dev/null 2>&1 || need+=(binfmt-support)
if [ ${#need[@]} -gt 0 ]; then
  echo "test-env: installing ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  echo "test-env: starting dockerd (log: /tmp/slipway-dockerd.log)"
  # A session of its own: a kill of the caller's process group (a job
  # runner stopping the shell that ran this script) must not take the engine.
  $SUDO sh -c 'setsid nohup dockerd >/tmp/slipway-dockerd.log 2>&1 </dev/null &'
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  if ! docker info >/dev/null 2>&1; then
    echo "test-env: dockerd did not start; its log:" >&2
    tail -50 /tmp/slipway-dockerd.log >&2 || true
    exit 1
  fi
fi
echo "test-env: docker engine $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})')"

# arm64 binaries run through QEMU; the F flag lets containers use it too.
if ! grep -qs enabled /proc/sys/fs/binfmt_misc/qemu-aarch64; then
  mountpoint -q /proc/sys/fs/binfmt_misc || $SUDO mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  $SUDO update-binfmts --enable qemu-aarch64
fi
echo "test-env: $(grep -s -m1 . /proc/sys/fs/binfmt_misc/qemu-aarch64 || echo 'qemu-aarch64 not registered') (arm64 emulation)"

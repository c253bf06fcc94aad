#!/usr/bin/env bash
# Installs and starts what slipway's tests need on a Debian machine, when it
# is missing: the Docker engine (docker.io), a registry binary
# (docker-registry), git, Chromium for the dashboard's browser tests and a
# static busybox for the self-build test's base image, PostgreSQL (server
# binaries only: the tests start their own cluster). Safe to run again: it only
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
if [ ${#need[@]} -gt 0 ]; then
  echo "test-env: installing ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  echo "test-env: starting dockerd (log: /tmp/slipway-dockerd.log)"
  $SUDO sh -c 'nohup dockerd >/tmp/slipway-dockerd.log 2>&1 &'
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

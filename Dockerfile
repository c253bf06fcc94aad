# slipway's image: a static binary on a small base with CA certificates and
# an ssh client and git.
#
# The base images are build arguments so offline and mirrored setups can
# substitute them (any Go >= go.mod's toolchain for GO_IMAGE; for BASE_IMAGE
# anything with /bin/sh, wget for the health check, git, and, unless PACKAGES
# is set empty, apk):
#
#   docker build --build-arg GO_IMAGE=mirror.example/golang:1.26 \
#                --build-arg BASE_IMAGE=mirror.example/alpine:3.22 .
#
# Modules: a vendor/ directory in the build context is used as it is (go
# build picks it up), so `go mod vendor` before the build makes it work
# without network; otherwise they come through GOPROXY.
ARG GO_IMAGE=golang:1.26
ARG BASE_IMAGE=alpine:3.22

FROM ${GO_IMAGE} AS build
ARG VERSION=dev
ARG GOPROXY
WORKDIR /src
COPY . .
# Static (no cgo: modernc.org/sqlite is pure Go), reproducible paths, and the
# time zone database built in so schedules' timezones work on any base. The
# Go caches are dropped so the builder's cache does not keep a copy of them.
RUN CGO_ENABLED=0 GOTOOLCHAIN=local go build -trimpath -tags timetzdata \
      -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/slipway ./cmd/slipway \
 && /out/slipway version \
 && go clean -cache -modcache

FROM ${BASE_IMAGE}
# ca-certificates: registries, GitHub and https clones. openssh-client: the
# docker CLI's connection helper behind ssh:// deploy targets runs the local
# `ssh` binary (the remote side runs `docker system dial-stdio`, so the docker
# CLI is needed there, not here). git: clones of file:// repositories (a
# mounted directory) run git-upload-pack; https and ssh clones need no git.
# Set PACKAGES="" for a base that already has them and no apk; the build
# fails when git-upload-pack is missing. A mounted repository belongs to
# whoever made it on the host, never to the image's user: git's ownership
# check (safe.directory) is turned off for every directory, since slipway
# only reads repositories (git-upload-pack) that the operator mounted.
ARG PACKAGES="ca-certificates openssh-client git"
RUN if [ -n "$PACKAGES" ]; then apk add --no-cache $PACKAGES; fi \
 && if ! command -v git-upload-pack >/dev/null && ! [ -x "$(git --exec-path 2>/dev/null)/git-upload-pack" ]; then \
      echo "the image needs git (git-upload-pack) for file:// repositories: add git to PACKAGES or to the base image" >&2; exit 1; \
    fi \
 && git config --system --add safe.directory '*' \
 && echo 'slipway:x:10001:10001:slipway:/home/slipway:/sbin/nologin' >> /etc/passwd \
 && echo 'slipway:x:10001:' >> /etc/group \
 && mkdir -p /home/slipway /data /etc/slipway \
 && chown 10001:10001 /home/slipway /data
COPY --from=build /out/slipway /usr/local/bin/slipway

# Non-root by default. Builds and deploys go through the Docker engine's
# socket, which only root and the socket's group may use: run with that group
# added (docker run --group-add "$(stat -c %g /var/run/docker.sock)", or in a
# stack file user: "10001:<docker gid>"; deploy/stack.yml does that), or as
# root (--user 0) where the group cannot be added.
USER 10001:10001
ENV HOME=/home/slipway SLIPWAY_CONFIG=/etc/slipway/slipway.yaml
# data_dir: mount a volume here (config data_dir: /data).
WORKDIR /data
EXPOSE 8080
# Liveness only (/readyz would also fail while the engine is away). The
# check assumes the default listen port 8080.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD wget -q -O /dev/null http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["slipway"]
CMD ["serve", "--config", "/etc/slipway/slipway.yaml"]

# Shared setup of the bench scripts (sourced): a throw-away registry on a
# loopback port, and a smart-HTTP git server (git http-backend behind
# net/http/cgi) in a process of its own, so that its memory is not counted
# as slipway's. The caller sets work (a temp dir) and pids (an array its
# cleanup kills).

# freeport prints a free TCP port on 127.0.0.1.
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_registry starts docker-registry on a free port and sets port.
start_registry() {
  port=$(freeport)
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
}

# build_githttp builds the git HTTP server as $work/githttp/githttp; run
# it with the directory it serves, it prints its address.
build_githttp() {
  mkdir -p "$work/githttp"
  cat > "$work/githttp/main.go" <<'GO'
package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
)

func main() {
	h := &cgi.Handler{
		Path:       "/usr/bin/env",
		Args:       []string{"git", "http-backend"},
		Env:        []string{"GIT_PROJECT_ROOT=" + os.Args[1], "GIT_HTTP_EXPORT_ALL=1"},
		InheritEnv: []string{"PATH", "HOME"},
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(l.Addr())
	fmt.Fprintln(os.Stderr, http.Serve(l, h))
	os.Exit(1)
}
GO
  go build -o "$work/githttp/githttp" "$work/githttp/main.go"
}

# start_githttp serves $work over git HTTP and sets httpaddr.
start_githttp() {
  mkfifo "$work/githttp/addr"
  "$work/githttp/githttp" "$work" >"$work/githttp/addr" 2>"$work/githttp/log" &
  pids+=($!)
  read -r httpaddr < "$work/githttp/addr"
}

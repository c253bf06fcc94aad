package deploy_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/system"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/deploy"
	"github.com/slipwayci/slipway/deploy/swarmtest"
)

// fakeEngine answers /_ping and /info as an engine in the given swarm
// state would: a non-manager endpoint, which one real engine cannot be
// at the same time as a manager.
func fakeEngine(t *testing.T, s swarm.Info) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.41")
		switch {
		case strings.HasSuffix(r.URL.Path, "/_ping"):
			w.Write([]byte("OK"))
		case strings.HasSuffix(r.URL.Path, "/info"):
			json.NewEncoder(w).Encode(system.Info{Swarm: s})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return "tcp://" + srv.Listener.Addr().String()
}

func TestConnect(t *testing.T) {
	t.Parallel()
	cli := swarmtest.Manager(t)
	engine := cli.DaemonHost()
	notSwarm := fakeEngine(t, swarm.Info{LocalNodeState: swarm.LocalNodeStateInactive})
	worker := fakeEngine(t, swarm.Info{LocalNodeState: swarm.LocalNodeStateActive, NodeID: "w1"})

	tests := []struct {
		name     string
		hosts    []string
		wantHost string
		wantErrs []string // each host's failure, in the one error
		notMgr   bool
	}{
		{name: "the first host", hosts: []string{engine}, wantHost: engine},
		{
			name:     "unreachable hosts are skipped",
			hosts:    []string{"unix:///nonexistent.sock", "tcp://127.0.0.1:1", "ssh://nobody@127.0.0.1:1", engine},
			wantHost: engine,
		},
		{name: "a non-manager is skipped", hosts: []string{worker, engine}, wantHost: engine},
		{
			name:     "every host fails",
			hosts:    []string{"unix:///nonexistent.sock", "tcp://127.0.0.1:1", "http://x"},
			wantErrs: []string{`deploy target "t"`, "unix:///nonexistent.sock: no answer", "tcp://127.0.0.1:1: no answer", "unsupported scheme"},
		},
		{
			name:     "not in swarm mode",
			hosts:    []string{notSwarm},
			wantErrs: []string{notSwarm + ": not a swarm manager", "docker swarm init"},
			notMgr:   true,
		},
		{
			name:     "a worker",
			hosts:    []string{worker},
			wantErrs: []string{worker + ": not a swarm manager", "node w1 is a swarm worker", "docker node promote"},
			notMgr:   true,
		},
		{name: "no hosts", wantErrs: []string{"has no hosts"}},
		{name: "a password in a host URL", hosts: []string{"tcp://ops:hunter2@127.0.0.1:1"}, wantErrs: []string{"tcp://***@127.0.0.1:1: no answer"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target, err := deploy.Connect(t.Context(), "t", config.DeployTarget{Hosts: tt.hosts})
			if tt.wantErrs == nil {
				if err != nil {
					t.Fatalf("Connect: %v", err)
				}
				defer target.Close()
				if got := target.Host(); got != tt.wantHost {
					t.Errorf("Host() = %q, want %q", got, tt.wantHost)
				}
				if got := target.Name(); got != "t" {
					t.Errorf("Name() = %q, want t", got)
				}
				return
			}
			if err == nil {
				target.Close()
				t.Fatal("Connect succeeded, want an error")
			}
			for _, want := range tt.wantErrs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q shows a host's password", err)
			}
			if got := errors.Is(err, deploy.ErrNotManager); got != tt.notMgr {
				t.Errorf("errors.Is(err, ErrNotManager) = %v, want %v", got, tt.notMgr)
			}
		})
	}
}

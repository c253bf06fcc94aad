package deploy

import (
	"errors"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/system"

	"github.com/slipwayci/slipway/config"
)

func TestCheckManager(t *testing.T) {
	tests := []struct {
		name    string
		info    system.Info
		wantErr string
	}{
		{"manager", system.Info{Swarm: swarm.Info{LocalNodeState: swarm.LocalNodeStateActive, ControlAvailable: true}}, ""},
		{"not in swarm mode", system.Info{Swarm: swarm.Info{LocalNodeState: swarm.LocalNodeStateInactive}}, "docker swarm init"},
		{"worker", system.Info{Swarm: swarm.Info{LocalNodeState: swarm.LocalNodeStateActive, NodeID: "n1"}}, "node n1 is a swarm worker"},
		{"locked", system.Info{Swarm: swarm.Info{LocalNodeState: swarm.LocalNodeStateLocked}}, `state "locked"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkManager(tt.info)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("checkManager = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrNotManager) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("checkManager = %v, want ErrNotManager saying %q", err, tt.wantErr)
			}
		})
	}
}

func TestDial(t *testing.T) {
	tests := []struct {
		name    string
		host    string
		tls     config.TLS
		wantErr string
	}{
		{"unix", "unix:///var/run/docker.sock", config.TLS{}, ""},
		{"tcp with insecure: true", "tcp://manager-1:2375", config.TLS{Insecure: true}, ""},
		{"tcp without tls", "tcp://manager-1:2375", config.TLS{}, "deploy_targets.t.tls: {insecure: true}"},
		{"ssh", "ssh://ops@manager-3", config.TLS{}, ""},
		{"ssh with a port and a socket path", "ssh://ops@manager-3:2222/run/docker.sock", config.TLS{}, ""},
		{"tcp with missing TLS files", "tcp://manager-1:2376", config.TLS{CertFile: "/nonexistent/cert.pem", KeyFile: "/nonexistent/key.pem"}, "tls"},
		{"unsupported scheme", "http://manager-1:2375", config.TLS{}, "unsupported scheme"},
		{"not a URL", "tcp://[::1", config.TLS{}, "invalid host URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cli, err := dial(tt.host, tt.tls, "deploy_targets.t.tls")
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("dial(%q) = %v", tt.host, err)
				}
				cli.Close()
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("dial(%q) = %v, want an error containing %q", tt.host, err, tt.wantErr)
			}
		})
	}
}

func TestRedactHost(t *testing.T) {
	tests := []struct{ host, want string }{
		{"tcp://manager-1:2376", "tcp://manager-1:2376"},
		{"ssh://ops@manager-3", "ssh://ops@manager-3"},
		{"tcp://ops:hunter2@manager-1:2376", "tcp://***@manager-1:2376"},
		{"tcp://[::1", "(invalid host URL)"},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			if got := redactHost(tt.host); got != tt.want {
				t.Errorf("redactHost(%q) = %q, want %q", tt.host, got, tt.want)
			}
		})
	}
}

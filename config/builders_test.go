package config

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestBuilderPool: without builders: the pool is docker_host as builder
// "local" running concurrency builds; with them, each builder's concurrency
// defaults to concurrency and the slots add up.
func TestBuilderPool(t *testing.T) {
	tests := []struct {
		name      string
		yaml      string
		want      []Builder
		wantSlots int
	}{
		{"default is docker_host", top("docker_host: unix:///run/other.sock\nconcurrency: 3\n"),
			[]Builder{{Name: "local", Host: "unix:///run/other.sock", Concurrency: 3}}, 3},
		{"default without docker_host", minimal, []Builder{{Name: "local", Concurrency: 2}}, 2},
		{"builders", top("concurrency: 3\nbuilders:\n  - {name: a, host: \"unix:///a.sock\"}\n  - {name: b, host: \"ssh://ops@b\", concurrency: 1, labels: {arch: arm64}}\n"),
			[]Builder{
				{Name: "a", Host: "unix:///a.sock", Concurrency: 3},
				{Name: "b", Host: "ssh://ops@b", Concurrency: 1, Labels: map[string]string{"arch": "arm64"}},
			}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := LoadWithEnv(writeConfig(t, tt.yaml), env(nil))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.BuilderPool(), tt.want); diff != "" {
				t.Errorf("BuilderPool() (-got +want):\n%s", diff)
			}
			if got := c.BuildSlots(); got != tt.wantSlots {
				t.Errorf("BuildSlots() = %d, want %d", got, tt.wantSlots)
			}
		})
	}
}

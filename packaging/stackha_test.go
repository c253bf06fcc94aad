package packaging

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestStackHAFile loads deploy/stack.yml with deploy/stack-ha.yml on top,
// as `docker stack deploy -c stack.yml -c stack-ha.yml` does: two replicas,
// at most one per manager node, the database password as a secret, and
// everything else of stack.yml kept.
func TestStackHAFile(t *testing.T) {
	cfg := loadStackFiles(t, map[string]string{"DOCKER_GID": "106"}, stackFile, "../deploy/stack-ha.yml")
	s := service(t, cfg, "slipway")
	if s.Deploy.Replicas == nil || *s.Deploy.Replicas != 2 {
		t.Errorf("replicas = %v, want 2", s.Deploy.Replicas)
	}
	if got := s.Deploy.Placement.MaxReplicas; got != 1 {
		t.Errorf("max_replicas_per_node = %d, want 1 (losing a node loses one replica)", got)
	}
	if !slices.Contains(s.Deploy.Placement.Constraints, "node.role == manager") {
		t.Errorf("placement constraints = %v, want node.role == manager kept", s.Deploy.Placement.Constraints)
	}
	if u := s.Deploy.UpdateConfig; u == nil || u.Parallelism == nil || *u.Parallelism != 1 || u.Order != "stop-first" {
		t.Errorf("update_config = %+v, want one task at a time, stop-first", u)
	}
	var secrets []string
	for _, sec := range s.Secrets {
		secrets = append(secrets, sec.Source)
		if _, ok := cfg.Secrets[sec.Source]; !ok {
			t.Errorf("secret %s is used but not declared", sec.Source)
		}
		if sec.Mode == nil || *sec.Mode&0o077 != 0 || sec.UID != "10001" {
			t.Errorf("secret %s: mode %v uid %q, want readable by uid 10001 only", sec.Source, sec.Mode, sec.UID)
		}
	}
	slices.Sort(secrets)
	if diff := cmp.Diff([]string{"github_webhook_secret", "pgpass"}, secrets); diff != "" {
		t.Errorf("secrets (-want +got):\n%s", diff)
	}
	env := map[string]string{}
	for k, v := range s.Environment {
		if v != nil {
			env[k] = *v
		}
	}
	if diff := cmp.Diff(map[string]string{"SLIPWAY_CONFIG": "/etc/slipway/slipway.yaml", "PGPASSFILE": "/run/secrets/pgpass"}, env); diff != "" {
		t.Errorf("environment (-want +got):\n%s", diff)
	}
	if s.User != "10001:106" || len(s.Volumes) != 2 || s.HealthCheck == nil {
		t.Errorf("user %q, %d volumes, healthcheck %v: want stack.yml's kept", s.User, len(s.Volumes), s.HealthCheck)
	}
	if cfg := loadStackFiles(t, map[string]string{"SLIPWAY_REPLICAS": "3"}, stackFile, "../deploy/stack-ha.yml"); *service(t, cfg, "slipway").Deploy.Replicas != 3 {
		t.Errorf("SLIPWAY_REPLICAS=3 does not set the replicas")
	}
}

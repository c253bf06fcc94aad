package packaging

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/cli/cli/compose/loader"
	composetypes "github.com/docker/cli/cli/compose/types"
	"github.com/google/go-cmp/cmp"
)

// stackFile is the stack file under test, relative to this package.
const stackFile = "../deploy/stack.yml"

// loadStack loads deploy/stack.yml as `docker stack deploy` does, with env
// answering its ${VAR} references.
func loadStack(t *testing.T, env map[string]string) *composetypes.Config {
	t.Helper()
	return loadStackFiles(t, env, stackFile)
}

// loadStackFiles loads stack files merged in order, as `docker stack
// deploy -c FILE -c FILE…` does.
func loadStackFiles(t *testing.T, env map[string]string, files ...string) *composetypes.Config {
	t.Helper()
	var details []composetypes.ConfigFile
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dict, err := loader.ParseYAML(src)
		if err != nil {
			t.Fatalf("parse %s: %v", f, err)
		}
		details = append(details, composetypes.ConfigFile{Filename: filepath.Base(f), Config: dict})
	}
	dir, err := filepath.Abs(filepath.Dir(stackFile))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := loader.Load(composetypes.ConfigDetails{
		WorkingDir:  dir,
		ConfigFiles: details,
		Environment: env,
	})
	if err != nil {
		t.Fatalf("load %v as a stack: %v", files, err)
	}
	return cfg
}

func service(t *testing.T, cfg *composetypes.Config, name string) composetypes.ServiceConfig {
	t.Helper()
	for _, s := range cfg.Services {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("the stack has no service %q", name)
	return composetypes.ServiceConfig{}
}

func TestStackFile(t *testing.T) {
	cfg := loadStack(t, map[string]string{"DOCKER_GID": "106", "SLIPWAY_IMAGE": "registry.example/slipway:1.0"})
	s := service(t, cfg, "slipway")

	t.Run("image and user", func(t *testing.T) {
		if s.Image != "registry.example/slipway:1.0" {
			t.Errorf("image = %q, want SLIPWAY_IMAGE", s.Image)
		}
		if s.User != "10001:106" {
			t.Errorf("user = %q, want the image's user with DOCKER_GID", s.User)
		}
	})

	t.Run("placement on a manager", func(t *testing.T) {
		if !slices.Contains(s.Deploy.Placement.Constraints, "node.role == manager") {
			t.Errorf("placement constraints = %v, want node.role == manager", s.Deploy.Placement.Constraints)
		}
		if s.Deploy.Replicas == nil || *s.Deploy.Replicas != 1 {
			t.Errorf("replicas = %v, want exactly 1 (one writer of the SQLite data_dir)", s.Deploy.Replicas)
		}
	})

	t.Run("docker socket and data volume", func(t *testing.T) {
		var mounts []string
		for _, v := range s.Volumes {
			mounts = append(mounts, v.Type+":"+v.Source+":"+v.Target)
		}
		for _, want := range []string{"bind:/var/run/docker.sock:/var/run/docker.sock", "volume:data:/data"} {
			if !slices.Contains(mounts, want) {
				t.Errorf("mounts = %v, want %s", mounts, want)
			}
		}
		if _, ok := cfg.Volumes["data"]; !ok {
			t.Errorf("the named volume data is not declared: %v", cfg.Volumes)
		}
	})

	t.Run("secrets and config", func(t *testing.T) {
		var got []string
		for _, sec := range s.Secrets {
			got = append(got, sec.Source+"->/run/secrets/"+sec.Target)
			if _, ok := cfg.Secrets[sec.Source]; !ok {
				t.Errorf("secret %s is used but not declared", sec.Source)
			}
			if sec.Mode == nil || *sec.Mode&0o077 != 0 || sec.UID != "10001" {
				t.Errorf("secret %s: mode %v uid %q, want readable by uid 10001 only", sec.Source, sec.Mode, sec.UID)
			}
		}
		// Only the webhook secret is required: Docker refuses an empty
		// secret, so the optional ones come in files of their own.
		want := []string{"github_webhook_secret->/run/secrets/github_webhook_secret"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("secrets (-want +got):\n%s", diff)
		}
		if c := cfg.Configs["slipway_yaml"]; c.Name != "slipway_slipway_yaml_1" {
			t.Errorf("config name = %q, want the stack's name (default slipway) first", c.Name)
		}
		for key, sec := range cfg.Secrets {
			if sec.Name != "" {
				t.Errorf("secret %s has the name %q: docker stack deploy then does not prefix it with the stack's name", key, sec.Name)
			}
		}
		if len(s.Configs) != 1 || s.Configs[0].Target != "/etc/slipway/slipway.yaml" {
			t.Fatalf("configs = %+v, want slipway.yaml at /etc/slipway/slipway.yaml", s.Configs)
		}
		if c := cfg.Configs[s.Configs[0].Source]; !strings.HasSuffix(c.File, "/slipway.yaml") {
			t.Errorf("config %s comes from %q, want ./slipway.yaml by default", s.Configs[0].Source, c.File)
		}
		if !slices.Contains(s.Command, "/etc/slipway/slipway.yaml") {
			t.Errorf("command %v does not use the delivered config", s.Command)
		}
	})

	t.Run("port and healthcheck", func(t *testing.T) {
		if len(s.Ports) != 1 || s.Ports[0].Target != 8080 || s.Ports[0].Published != 8080 {
			t.Errorf("ports = %+v, want 8080 published", s.Ports)
		}
		hc := s.HealthCheck
		if hc == nil || !slices.Contains(hc.Test, "http://127.0.0.1:8080/healthz") {
			t.Fatalf("healthcheck = %+v, want a check of /healthz", hc)
		}
		if hc.Interval == nil || time.Duration(*hc.Interval) <= 0 || hc.Retries == nil || *hc.Retries < 1 {
			t.Errorf("healthcheck interval %v retries %v, want both set", hc.Interval, hc.Retries)
		}
	})

	t.Run("update and restart policies", func(t *testing.T) {
		u := s.Deploy.UpdateConfig
		if u == nil || u.Order != "stop-first" || u.FailureAction != "rollback" {
			t.Errorf("update_config = %+v, want order stop-first (SQLite on a node-local volume) and rollback on failure", u)
		}
		if r := s.Deploy.RollbackConfig; r == nil || r.Order != "stop-first" {
			t.Errorf("rollback_config = %+v, want order stop-first", r)
		}
		rp := s.Deploy.RestartPolicy
		if rp == nil || rp.Condition != "any" {
			t.Errorf("restart_policy = %+v, want condition any", rp)
		}
		if s.StopGracePeriod == nil || time.Duration(*s.StopGracePeriod) <= 30*time.Second {
			t.Errorf("stop_grace_period = %v, want more than serve's 30s grace for running builds", s.StopGracePeriod)
		}
	})

	t.Run("variables substitute", func(t *testing.T) {
		cfg := loadStack(t, map[string]string{
			"SLIPWAY_PORT": "9090", "SLIPWAY_SECRETS_DIR": "/srv/slipway/secrets",
			"SLIPWAY_CONFIG_FILE": "/srv/slipway/slipway.yaml", "SLIPWAY_CONFIG_VERSION": "7",
		})
		s := service(t, cfg, "slipway")
		if s.Ports[0].Published != 9090 {
			t.Errorf("published port = %d, want SLIPWAY_PORT 9090", s.Ports[0].Published)
		}
		if got := cfg.Secrets["github_webhook_secret"].File; got != "/srv/slipway/secrets/github_webhook_secret" {
			t.Errorf("github_webhook_secret file = %q, want it in SLIPWAY_SECRETS_DIR", got)
		}
		c := cfg.Configs["slipway_yaml"]
		if c.File != "/srv/slipway/slipway.yaml" || c.Name != "slipway_slipway_yaml_7" {
			t.Errorf("config = file %q name %q, want SLIPWAY_CONFIG_FILE and a name with SLIPWAY_CONFIG_VERSION", c.File, c.Name)
		}
		if s.User != "10001:999" {
			t.Errorf("user without DOCKER_GID = %q, want 10001:999", s.User)
		}
		if c := loadStack(t, map[string]string{"SLIPWAY_STACK": "slipway-ci", "SLIPWAY_CONFIG_VERSION": "3"}).Configs["slipway_yaml"]; c.Name != "slipway-ci_slipway_yaml_3" {
			t.Errorf("config name with SLIPWAY_STACK=slipway-ci = %q, want slipway-ci_slipway_yaml_3", c.Name)
		}
	})

	t.Run("optional secrets on top", func(t *testing.T) {
		cfg := loadStackFiles(t, map[string]string{"SLIPWAY_SECRETS_DIR": "/srv/s"}, stackFile,
			"../deploy/stack-api-tokens.yml", "../deploy/stack-github-token.yml", "../deploy/stack-registry-password.yml")
		s := service(t, cfg, "slipway")
		var got []string
		for _, sec := range s.Secrets {
			got = append(got, sec.Source+"->/run/secrets/"+sec.Target)
			decl, ok := cfg.Secrets[sec.Source]
			if !ok || decl.File != "/srv/s/"+sec.Source || decl.Name != "" {
				t.Errorf("secret %s declared as %+v, want the file in SLIPWAY_SECRETS_DIR and no name of its own", sec.Source, decl)
			}
			if sec.Mode == nil || *sec.Mode&0o077 != 0 || sec.UID != "10001" {
				t.Errorf("secret %s: mode %v uid %q, want readable by uid 10001 only", sec.Source, sec.Mode, sec.UID)
			}
		}
		slices.Sort(got)
		want := []string{
			"api_tokens->/run/secrets/api_tokens",
			"github_token->/run/secrets/github_token",
			"github_webhook_secret->/run/secrets/github_webhook_secret",
			"registry_password->/run/secrets/registry_password",
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("secrets (-want +got):\n%s", diff)
		}
		if s.User != "10001:999" || len(s.Configs) != 1 || s.HealthCheck == nil {
			t.Errorf("user %q, configs %v, healthcheck %v: want stack.yml's kept", s.User, s.Configs, s.HealthCheck)
		}
	})
}

package registry

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	dockerregistry "github.com/docker/docker/api/types/registry"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/slipwayci/slipway/config"
)

func TestCredentialsNeverPrint(t *testing.T) {
	c := Credentials{Username: "acme", Password: "hunter2-secret", IdentityToken: "tok-secret"}
	for _, format := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d", "%T %v"} {
		t.Run(format, func(t *testing.T) {
			got := fmt.Sprintf(format, c)
			if strings.Contains(got, "secret") {
				t.Errorf("Sprintf(%q) = %q shows a secret", format, got)
			}
		})
	}
	t.Run("nested", func(t *testing.T) {
		got := fmt.Sprintf("%+v", struct{ C Credentials }{c})
		if strings.Contains(got, "secret") || !strings.Contains(got, "acme") {
			t.Errorf("nested %%+v = %q", got)
		}
	})
	t.Run("json", func(t *testing.T) {
		b, err := json.Marshal(map[string]Credentials{"x": c})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "secret") {
			t.Errorf("json = %s shows a secret", b)
		}
	})
	t.Run("keychain", func(t *testing.T) {
		k := NewKeychain(map[string]Credentials{"ghcr.io": c}, t.TempDir())
		for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
			for _, v := range []any{k, *k, struct{ K *Keychain }{k}, struct{ k *Keychain }{k}, struct{ k Keychain }{*k}} {
				if got := fmt.Sprintf(format, v); strings.Contains(got, "secret") {
					t.Errorf("Sprintf(%q, %T) = %q shows a secret", format, v, got)
				}
			}
		}
	})
	t.Run("empty password prints empty", func(t *testing.T) {
		got := fmt.Sprint(Credentials{Username: "u"})
		if want := "{Username:u Password: IdentityToken:}"; got != want {
			t.Errorf("Sprint = %q, want %q", got, want)
		}
	})
}

// writeDockerConfig writes a docker CLI config.json with auths entries
// (key -> user:password) into a new directory and returns it.
func writeDockerConfig(t *testing.T, auths map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	entries := map[string]map[string]string{}
	for key, userpass := range auths {
		entries[key] = map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(userpass))}
	}
	b, err := json.Marshal(map[string]any{"auths": entries})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestKeychainLookup(t *testing.T) {
	dockerDir := writeDockerConfig(t, map[string]string{
		"https://index.docker.io/v1/": "hubuser:hubpass",
		"ghcr.io":                     "ghuser:ghpass",
		"https://legacy.example/v1/":  "leguser:legpass",
		"127.0.0.1:5000":              "fileuser:filepass",
	})
	configured := map[string]Credentials{
		"127.0.0.1:5000": {Username: "cfguser", Password: "cfgpass"},
		"Quay.IO":        {Username: "quser", Password: "qpass"},
	}
	k := NewKeychain(configured, dockerDir)
	tests := []struct {
		name   string
		host   string
		want   Credentials
		wantOK bool
	}{
		{"configured wins over docker config", "127.0.0.1:5000", Credentials{Username: "cfguser", Password: "cfgpass"}, true},
		{"configured host case-insensitive", "quay.io", Credentials{Username: "quser", Password: "qpass"}, true},
		{"docker hub under its legacy key", "docker.io", Credentials{Username: "hubuser", Password: "hubpass"}, true},
		{"docker hub alias", "index.docker.io", Credentials{Username: "hubuser", Password: "hubpass"}, true},
		{"docker hub registry alias", "registry-1.docker.io", Credentials{Username: "hubuser", Password: "hubpass"}, true},
		{"plain host key", "ghcr.io", Credentials{Username: "ghuser", Password: "ghpass"}, true},
		{"URL key matched by hostname", "legacy.example", Credentials{Username: "leguser", Password: "legpass"}, true},
		{"URL asked", "https://ghcr.io/v2/", Credentials{Username: "ghuser", Password: "ghpass"}, true},
		{"unknown host", "registry.example.com", Credentials{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := k.Lookup(tt.host)
			if err != nil {
				t.Fatalf("Lookup(%q): %v", tt.host, err)
			}
			if ok != tt.wantOK {
				t.Errorf("Lookup(%q) found = %v, want %v", tt.host, ok, tt.wantOK)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Lookup(%q) mismatch (-want +got):\n%s", tt.host, diff)
			}
		})
	}
}

func TestKeychainDockerConfigEnv(t *testing.T) {
	dir := writeDockerConfig(t, map[string]string{"registry.example": "envuser:envpass"})
	t.Setenv("DOCKER_CONFIG", dir)
	got, ok, err := NewKeychain(nil, "").Lookup("registry.example")
	if err != nil || !ok {
		t.Fatalf("Lookup: ok=%v err=%v", ok, err)
	}
	if want := (Credentials{Username: "envuser", Password: "envpass"}); got != want {
		t.Errorf("Lookup = %v, want %v", got, want)
	}
}

func TestKeychainMissingAndBrokenConfig(t *testing.T) {
	t.Run("missing config.json means no credentials", func(t *testing.T) {
		_, ok, err := NewKeychain(nil, t.TempDir()).Lookup("ghcr.io")
		if err != nil || ok {
			t.Errorf("Lookup: ok=%v err=%v, want no credentials and no error", ok, err)
		}
	})
	t.Run("malformed config.json is an error naming the file", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"auths": {"x": {"auth": "not base64!!"}}`), 0o600); err != nil {
			t.Fatal(err)
		}
		_, _, err := NewKeychain(nil, dir).Lookup("x")
		if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "config.json")) {
			t.Errorf("Lookup error = %v, want one naming config.json", err)
		}
	})
	t.Run("nil keychain is anonymous", func(t *testing.T) {
		var k *Keychain
		_, ok, err := k.Lookup("ghcr.io")
		if err != nil || ok {
			t.Errorf("Lookup: ok=%v err=%v", ok, err)
		}
	})
}

func TestKeychainResolve(t *testing.T) {
	k := NewKeychain(map[string]Credentials{"docker.io": {Username: "u", Password: "p"}}, t.TempDir())
	tests := []struct {
		name string
		ref  string
		want authn.AuthConfig
	}{
		{"docker hub short name", "acme/web", authn.AuthConfig{Username: "u", Password: "p"}},
		{"unknown registry is anonymous", "ghcr.io/acme/web", authn.AuthConfig{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ref, err := name.ParseReference(tt.ref)
			if err != nil {
				t.Fatal(err)
			}
			a, err := k.Resolve(ref.Context())
			if err != nil {
				t.Fatal(err)
			}
			got, err := a.Authorization()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, *got); diff != "" {
				t.Errorf("Authorization mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestKeychainRegistryAuth(t *testing.T) {
	k := NewKeychain(map[string]Credentials{"127.0.0.1:5000": {Username: "u", Password: "p"}}, t.TempDir())
	tests := []struct {
		name string
		host string
		want dockerregistry.AuthConfig
	}{
		{"configured", "127.0.0.1:5000", dockerregistry.AuthConfig{Username: "u", Password: "p", ServerAddress: "127.0.0.1:5000"}},
		{"none", "ghcr.io", dockerregistry.AuthConfig{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := k.RegistryAuth(tt.host)
			if err != nil {
				t.Fatal(err)
			}
			got, err := dockerregistry.DecodeAuthConfig(s)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, *got); diff != "" {
				t.Errorf("decoded X-Registry-Auth mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConfiguredCredentials(t *testing.T) {
	got := ConfiguredCredentials([]config.Registry{
		{Host: "docker.io", Username: "acme", Password: config.Secret("tok")},
		{Host: "ghcr.io"},
	})
	want := map[string]Credentials{"docker.io": {Username: "acme", Password: "tok"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ConfiguredCredentials mismatch (-want +got):\n%s", diff)
	}
}

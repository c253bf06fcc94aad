package builder_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/client"

	"github.com/slipwayci/slipway/builder"
	"github.com/slipwayci/slipway/internal/testenv"
)

// TestBuildSecretMount: a RUN step reads a secret mount, so the build
// succeeds and its layer holds the value's SHA-256; the value itself is in
// no history entry, no file of the saved image (config, every layer tar),
// no label and no line of the build log, where a step that prints it shows
// ***.
func TestBuildSecretMount(t *testing.T) {
	cli := testenv.Docker(t)
	base := testenv.Busybox(t, cli)
	name := testenv.Name(t, "slipway-builder")
	tag := "slipway-local/" + name + ":build-1"
	secret := "//registry.npmjs.org/:_authToken=" + testenv.RandomHex(t)
	dockerfile := fmt.Sprintf(`FROM %s
RUN --mount=type=secret,id=npmrc cat /run/secrets/npmrc && sha256sum /run/secrets/npmrc | cut -d' ' -f1 > /npmrc.sha256
RUN --mount=type=secret,id=npmrc,required=true test -s /run/secrets/npmrc
`, base)
	log := &syncBuffer{}
	removeImage(t, cli, tag)
	img, err := builder.New(cli, builder.ModeBuildKit).Build(t.Context(), builder.BuildOptions{
		Context: contextTar(t, dockerfile, nil),
		Secrets: map[string]string{"npmrc": secret},
		Labels:  map[string]string{"io.slipway.test.name": name},
		Tags:    []string{tag},
		NoCache: true,
	}, log)
	if err != nil {
		t.Fatalf("Build: %v\nlog:\n%s", err, log)
	}
	out := log.String()
	t.Logf("build log:\n%s", out)
	if strings.Contains(out, secret) {
		t.Errorf("the build log holds the secret's value:\n%s", out)
	}
	if !strings.Contains(out, "***") {
		t.Errorf("the build log does not show the printed secret as ***:\n%s", out)
	}

	hist, err := cli.ImageHistory(t.Context(), img.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hist {
		if strings.Contains(h.CreatedBy+h.Comment, secret) {
			t.Errorf("history entry %q holds the secret's value", h.CreatedBy)
		}
	}
	files := savedFiles(t, cli, img.ID)
	sum := sha256.Sum256([]byte(secret))
	if got, want := strings.TrimSpace(string(files["npmrc.sha256"])), hex.EncodeToString(sum[:]); got != want {
		t.Errorf("/npmrc.sha256 = %q, want the secret's SHA-256 %q: the RUN step did not read the secret", got, want)
	}
	for path, body := range files {
		if bytes.Contains(body, []byte(secret)) {
			t.Errorf("%s of the saved image holds the secret's value", path)
		}
	}
}

// TestBuildNeedsBuildKit: the classic builder refuses secret mounts and
// SSH forwarding with ErrNeedsBuildKit before any engine work, naming what
// needs BuildKit and never the secret's value.
func TestBuildNeedsBuildKit(t *testing.T) {
	cli := testenv.Docker(t)
	for _, tt := range []struct {
		name string
		opts builder.BuildOptions
		want string
	}{
		{"secret", builder.BuildOptions{Secrets: map[string]string{"npmrc": "v4lue-never-printed"}}, "secret npmrc: needs BuildKit"},
		{"ssh", builder.BuildOptions{SSHAgent: "/run/agent.sock"}, "ssh: needs BuildKit"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Context = contextTar(t, "FROM scratch\n", nil)
			_, err := builder.New(cli, builder.ModeClassic).Build(t.Context(), tt.opts, io.Discard)
			if !errors.Is(err, builder.ErrNeedsBuildKit) {
				t.Fatalf("Build = %v, want ErrNeedsBuildKit", err)
			}
			if !strings.HasPrefix(err.Error(), tt.want) || strings.Contains(err.Error(), "v4lue") {
				t.Errorf("error %q, want it to start with %q and hold no secret", err, tt.want)
			}
		})
	}
}

// TestBuildSSHForward: a RUN --mount=type=ssh step lists the keys of the
// agent the test serves (as ssh-add -l does), so it sees the forwarded
// agent; without an agent socket the build fails saying what to do.
func TestBuildSSHForward(t *testing.T) {
	cli := testenv.Docker(t)
	agent := testenv.StartSSHAgent(t)
	bin, err := os.ReadFile(testenv.SSHList(t))
	if err != nil {
		t.Fatal(err)
	}
	const dockerfile = "FROM scratch\nCOPY app /sshlist\nRUN --mount=type=ssh [\"/sshlist\"]\n"
	b := builder.New(cli, builder.ModeBuildKit)
	t.Run("agent", func(t *testing.T) {
		tag := "slipway-local/" + testenv.Name(t, "slipway-builder") + ":build-1"
		removeImage(t, cli, tag)
		log := &syncBuffer{}
		if _, err := b.Build(t.Context(), builder.BuildOptions{
			Context: contextTar(t, dockerfile, bin), SSHAgent: agent.Socket, Tags: []string{tag}, NoCache: true,
		}, log); err != nil {
			t.Fatalf("Build: %v\nlog:\n%s", err, log)
		}
		t.Logf("build log:\n%s", log)
		if !strings.Contains(log.String(), agent.Key) {
			t.Errorf("the RUN step did not list the agent's key %q; log:\n%s", agent.Key, log)
		}
	})
	t.Run("no agent", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "agent.sock")
		_, err := b.Build(t.Context(), builder.BuildOptions{Context: contextTar(t, dockerfile, bin), SSHAgent: missing, NoCache: true}, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "start an agent and set SSH_AUTH_SOCK") {
			t.Fatalf("Build = %v, want an error saying to start an agent", err)
		}
	})
}

// savedFiles returns every file of `docker save` of image: the archive's
// own files and the files of each layer tar in it (see testenv.TarFiles).
func savedFiles(t *testing.T, cli *client.Client, image string) map[string][]byte {
	t.Helper()
	rc, err := cli.ImageSave(t.Context(), []string{image})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files, err := testenv.TarFiles(rc)
	if err != nil {
		t.Fatalf("docker save of %s: %v", image, err)
	}
	return files
}

// TestClassicBuildIgnoresCache: the classic builder builds a project with
// cache: as it would without, and its log says the registry cache is not
// used.
func TestClassicBuildIgnoresCache(t *testing.T) {
	cli := testenv.Docker(t)
	tag := "slipway-local/" + testenv.Name(t, "slipway-builder") + ":build-1"
	removeImage(t, cli, tag)
	log := &syncBuffer{}
	_, err := builder.New(cli, builder.ModeClassic).Build(t.Context(), builder.BuildOptions{
		Context:   contextTar(t, "FROM scratch\nLABEL io.slipway.test=cache\n", nil),
		CacheFrom: []string{"127.0.0.1:5000/web:main"}, InlineCache: true, Tags: []string{tag},
	}, log)
	if err != nil {
		t.Fatalf("Build: %v\nlog:\n%s", err, log)
	}
	if want := "cache: the classic builder neither reads nor writes a registry cache"; !strings.Contains(log.String(), want) {
		t.Errorf("log does not say %q:\n%s", want, log)
	}
}

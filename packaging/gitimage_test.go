package packaging

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/source/gitfixture"
)

// hostGit is the stand-in for alpine's `apk add git`: the host's git with
// git-upload-pack in its exec path and the shared libraries ldd names
// (glibc's loader included) at their host paths.
func hostGit(t *testing.T) rootFS {
	t.Helper()
	gitPath, err := exec.LookPath("git")
	if err != nil {
		t.Fatalf("the base image needs the host's git (Debian's git package): %v", err)
	}
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatalf("git --exec-path: %v", err)
	}
	execPath := strings.TrimSpace(string(out))
	ldd, err := exec.Command("ldd", gitPath).Output()
	if err != nil {
		t.Fatalf("ldd %s: %v", gitPath, err)
	}
	// "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)" and the
	// loader "/lib64/ld-linux-x86-64.so.2 (0x...)".
	libs := regexp.MustCompile(`(?m)(?:=> )?(/\S+) \(0x`).FindAllStringSubmatch(string(ldd), -1)
	if len(libs) == 0 {
		t.Fatalf("ldd %s names no library:\n%s", gitPath, ldd)
	}
	files := []string{gitPath}
	for _, m := range libs {
		files = append(files, m[1])
	}
	return func(tw *tar.Writer) error {
		dirs := map[string]bool{}
		for _, f := range files {
			if err := addHostFile(tw, dirs, f, strings.TrimPrefix(f, "/")); err != nil {
				return err
			}
		}
		// git runs its helpers from its exec path: git itself (pack-objects
		// is a built-in) and git-upload-pack, a link to it.
		ep := strings.TrimPrefix(execPath, "/")
		if err := addParents(tw, dirs, ep+"/git"); err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeLink, Name: ep + "/git", Linkname: strings.TrimPrefix(gitPath, "/"), Mode: 0o755}); err != nil {
			return err
		}
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: ep + "/git-upload-pack", Linkname: "git", Mode: 0o777})
	}
}

// addHostFile writes the host file path (symlinks followed) as name, with
// its parent directories not in dirs yet (docker import refuses a path
// twice).
func addHostFile(tw *tar.Writer, dirs map[string]bool, path, name string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if err := addParents(tw, dirs, name); err != nil {
		return err
	}
	return addFile(tw, path, name, fs.FileInfoToDirEntry(fi))
}

// addParents writes the directories above name that dirs does not hold,
// and adds them to it.
func addParents(tw *tar.Writer, dirs map[string]bool, name string) error {
	dir := filepath.Dir(name)
	if dir == "." || dirs[dir] {
		return nil
	}
	if err := addParents(tw, dirs, dir); err != nil {
		return err
	}
	dirs[dir] = true
	return addDir(tw, dir, 0o755)
}

// cloneInImage runs `slipway validate` in image ref on a config whose
// project is a file:// repository mounted into the container, owned by
// another user than the image's: its secret_build_args check clones the
// repository (git-upload-pack) and reads the Dockerfile, whose RUN step
// records the arg. The warning naming that step proves the clone worked.
func cloneInImage(t *testing.T, docker *client.Client, ref string) {
	t.Helper()
	ctx := t.Context()
	repo := gitfixture.New(t)
	repo.Commit(t, "main", map[string]string{
		"Dockerfile": "FROM scratch\nARG NPM_TOKEN\nRUN echo \"$NPM_TOKEN\" > /token\n",
	}, "a Dockerfile that records a secret arg")
	cfgDir := t.TempDir()
	conf := `data_dir: /tmp/slipway
projects:
  - name: hello
    repo: file:///repo
    default_branch: main
    image: registry.invalid/hello
    secret_build_args: {NPM_TOKEN: "not-a-real-token"}
`
	if err := os.WriteFile(filepath.Join(cfgDir, "slipway.yaml"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	// The image's user reads both; neither is its own.
	for _, dir := range []string{repo.Dir, cfgDir} {
		if out, err := exec.Command("chmod", "-R", "a+rX", dir).CombinedOutput(); err != nil {
			t.Fatalf("chmod %s: %v %s", dir, err, out)
		}
	}
	created, err := docker.ContainerCreate(ctx, &container.Config{
		Image: ref,
		Cmd:   []string{"validate", "--config", "/cfg/slipway.yaml"},
	}, &container.HostConfig{
		Binds: []string{repo.Dir + ":/repo:ro", cfgDir + ":/cfg:ro"},
	}, nil, nil, testenv.Name(t, "slipway-git"))
	if err != nil {
		t.Fatalf("create a container of %s: %v", ref, err)
	}
	t.Cleanup(func() {
		docker.ContainerRemove(context.Background(), created.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
	})
	if err := docker.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		t.Fatalf("start slipway validate in %s: %v", ref, err)
	}
	waitCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	statusCh, errCh := docker.ContainerWait(waitCtx, created.ID, container.WaitConditionNotRunning)
	var code int64
	select {
	case st := <-statusCh:
		code = st.StatusCode
	case err := <-errCh:
		t.Fatalf("wait for slipway validate: %v", err)
	}
	rc, err := docker.ContainerLogs(ctx, created.ID, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var stdout, stderr bytes.Buffer
	if _, err := stdcopy.StdCopy(&stdout, &stderr, rc); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	if code != 0 || !strings.Contains(stdout.String(), ": ok (1 projects)") {
		t.Fatalf("slipway validate in the image: exit %d\nstdout: %s\nstderr: %s", code, stdout.String(), stderr.String())
	}
	if w := stderr.String(); !strings.Contains(w, "NPM_TOKEN") || !strings.Contains(w, "history") || strings.Contains(w, "cannot check") {
		t.Errorf("validate did not read the Dockerfile of the file:// repository inside the image (git missing?):\n%s", w)
	}
}

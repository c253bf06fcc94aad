package testenv

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// busyboxBinary is the static busybox of the Debian package busybox-static.
const busyboxBinary = "/bin/busybox"

// Busybox imports a base image holding the host's static busybox as
// /bin/busybox with a symlink in /bin for each of its applets (sh, cat,
// grep, sha256sum, …), so that RUN steps work without pulling anything.
// The image, named after the test, is removed when the test ends. A
// missing busybox fails the test.
func Busybox(t testing.TB, cli *client.Client) string {
	t.Helper()
	bin, err := os.ReadFile(busyboxBinary)
	if err != nil {
		t.Fatalf("no busybox at %s (%v): apt-get install busybox-static", busyboxBinary, err)
	}
	out, err := exec.Command(busyboxBinary, "--list").Output()
	if err != nil {
		t.Fatalf("%s --list: %v", busyboxBinary, err)
	}
	applets := strings.Fields(string(out))
	return ImportImage(t, cli, "busybox", func(tw *tar.Writer) error {
		return writeBusybox(tw, bin, applets)
	}, []string{`CMD ["/bin/sh"]`})
}

// writeBusybox writes the root file system of the busybox image.
func writeBusybox(tw *tar.Writer, bin []byte, applets []string) error {
	for _, dir := range []string{"bin/", "tmp/", "etc/"} {
		if err := tw.WriteHeader(&tar.Header{Name: dir, Mode: 0o755, Typeflag: tar.TypeDir}); err != nil {
			return err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Name: "bin/busybox", Mode: 0o755, Size: int64(len(bin)), Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	if _, err := tw.Write(bin); err != nil {
		return err
	}
	for _, a := range applets {
		if a == "busybox" || strings.Contains(a, "/") {
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Name: "bin/" + a, Linkname: "busybox", Mode: 0o777, Typeflag: tar.TypeSymlink}); err != nil {
			return err
		}
	}
	return nil
}

// ImportImage makes an image named prefix-<test>-<random>:import with
// `docker import` of the root file system fs writes (ImportImage closes
// the tar writer) and the Dockerfile instructions changes. It is removed
// when the test ends.
func ImportImage(t testing.TB, cli *client.Client, prefix string, fs func(tw *tar.Writer) error, changes []string) string {
	t.Helper()
	ref := Name(t, prefix) + ":import"
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		tw := tar.NewWriter(pw)
		err := fs(tw)
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
		done <- err
	}()
	rc, err := cli.ImageImport(t.Context(), image.ImportSource{Source: pr, SourceName: "-"}, ref, image.ImportOptions{Changes: changes})
	if err == nil {
		err = StreamError(rc)
		rc.Close()
	}
	pr.CloseWithError(errors.New("import ended"))
	if werr := <-done; werr != nil && err == nil {
		err = werr
	}
	if err != nil {
		t.Fatalf("docker import %s: %v", ref, err)
	}
	t.Cleanup(func() {
		cli.ImageRemove(context.Background(), ref, image.RemoveOptions{Force: true, PruneChildren: true})
	})
	return ref
}

// StreamError reads an engine progress stream (JSON messages) to its end
// and returns the error it reports, if any.
func StreamError(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var msg struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
		if msg.Error != "" {
			return errors.New(msg.Error)
		}
	}
}

// TarFiles reads the tar stream r and returns the content of each regular
// file by its name (a later entry of the same name replaces an earlier
// one). A tar inside it whose name ends in "layer.tar" (`docker save`) is
// read too: its files are added as "<layer>/<name>" and as "<name>".
func TarFiles(r io.Reader) (map[string][]byte, error) {
	files := map[string][]byte{}
	if err := tarFiles(r, "", files); err != nil {
		return nil, err
	}
	return files, nil
}

func tarFiles(r io.Reader, prefix string, files map[string][]byte) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read tar: %w", err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			return fmt.Errorf("read %s: %w", h.Name, err)
		}
		files[h.Name] = body
		if prefix != "" {
			files[prefix+"/"+h.Name] = body
		}
		if prefix == "" && strings.HasSuffix(h.Name, "layer.tar") {
			if err := tarFiles(bytes.NewReader(body), h.Name, files); err != nil {
				return fmt.Errorf("%s: %w", h.Name, err)
			}
		}
	}
}

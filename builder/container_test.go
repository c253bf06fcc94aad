package builder_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/slipwayci/slipway/builder"
	"github.com/slipwayci/slipway/internal/testenv"
)

// testImage builds a FROM scratch image holding the fixture program as
// /app, its ENTRYPOINT, with a CMD that exits 42.
func testImage(t *testing.T, cli *client.Client) string {
	t.Helper()
	const dockerfile = `FROM scratch
COPY app /app
ENTRYPOINT ["/app"]
CMD ["exit", "42"]
`
	log := &syncBuffer{}
	// A label of its own: the same build is otherwise the same image
	// (from the cache) in every test, and one test's cleanup would remove
	// the image another test's container runs.
	img, err := builder.New(cli, builder.ModeBuildKit).Build(t.Context(), builder.BuildOptions{
		Context: contextTar(t, dockerfile, fixture(t)),
		Labels:  map[string]string{"test": testenv.Name(t, "img")},
	}, log)
	if err != nil {
		t.Fatalf("build test image: %v\nlog:\n%s", err, log)
	}
	removeImage(t, cli, img.ID)
	return img.ID
}

// assertNoContainer fails the test when a container of the name, labeled
// as a test container, still exists.
func assertNoContainer(t *testing.T, cli *client.Client, name string) {
	t.Helper()
	list, err := cli.ContainerList(context.Background(), container.ListOptions{
		All:     true,
		Filters: filters.NewArgs(filters.Arg("label", builder.TestLabel+"=1"), filters.Arg("name", name)),
	})
	if err != nil {
		t.Fatalf("list containers: %v", err)
	}
	for _, c := range list {
		t.Errorf("container %s %v (%s) still exists", c.ID, c.Names, c.State)
	}
}

func TestTest(t *testing.T) {
	cli := testenv.Docker(t)
	img := testImage(t, cli)
	exitCode := func(code int) func(error) bool {
		return func(err error) bool {
			var tf *builder.TestFailedError
			return errors.As(err, &tf) && tf.ExitCode == code
		}
	}
	tests := []struct {
		name       string
		command    []string
		entrypoint []string
		timeout    time.Duration
		wantErr    func(error) bool
		wantLog    []string
		notLog     string
	}{
		{
			name:    "exit 0: the command follows the image's ENTRYPOINT",
			command: []string{"hello"},
			timeout: time.Minute,
			wantErr: func(err error) bool { return err == nil },
			wantLog: []string{"hello from stdout\n", "hello from stderr\n"},
		},
		{
			name:    "exit 3",
			command: []string{"exit", "3"},
			timeout: time.Minute,
			wantErr: func(err error) bool {
				var tf *builder.TestFailedError
				return errors.As(err, &tf) && tf.ExitCode == 3 && errors.Is(err, builder.ErrTestFailed) &&
					err.Error() == "test command exited with code 3"
			},
			wantLog: []string{"exiting with 3\n"},
		},
		{
			name:    "timeout",
			command: []string{"sleep", "60"},
			// Room for the command to print "sleeping" on a loaded
			// machine before it is killed.
			timeout: 5 * time.Second,
			wantErr: func(err error) bool {
				return errors.Is(err, builder.ErrTestTimeout) && strings.Contains(err.Error(), "5s") &&
					strings.Contains(err.Error(), "test.timeout")
			},
			wantLog: []string{"sleeping\n"},
		},
		{
			name:    "image default command",
			command: nil,
			timeout: time.Minute,
			wantErr: exitCode(42),
			wantLog: []string{"exiting with 42\n"},
		},
		{
			name:       "entrypoint [] clears the image's: the command runs alone",
			command:    []string{"/app", "hello"},
			entrypoint: []string{},
			timeout:    time.Minute,
			wantErr:    func(err error) bool { return err == nil },
			wantLog:    []string{"hello from stdout\n"},
		},
		{
			name:       "entrypoint replaces the image's, the command follows it",
			command:    []string{"7"},
			entrypoint: []string{"/app", "exit"},
			timeout:    time.Minute,
			wantErr:    exitCode(7),
			wantLog:    []string{"exiting with 7\n"},
		},
		{
			name:       "entrypoint without a command drops the image's CMD",
			entrypoint: []string{"/app", "env", "HOME"},
			timeout:    time.Minute,
			wantErr:    func(err error) bool { return err == nil },
			wantLog:    []string{"HOME="},
			notLog:     "exit=",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			name := testenv.Name(t, "slipway-test")
			log := &syncBuffer{}
			start := time.Now()
			err := builder.New(cli, builder.ModeAuto).Test(t.Context(), builder.TestOptions{
				Image:      img,
				Command:    tt.command,
				Entrypoint: tt.entrypoint,
				Timeout:    tt.timeout,
				Name:       name,
			}, log)
			if !tt.wantErr(err) {
				t.Errorf("Test error = %v", err)
			}
			if took := time.Since(start); took > 30*time.Second {
				t.Errorf("Test took %s", took)
			}
			for _, want := range tt.wantLog {
				if !strings.Contains(log.String(), want) {
					t.Errorf("log = %q, want it to contain %q", log, want)
				}
			}
			if tt.notLog != "" && strings.Contains(log.String(), tt.notLog) {
				t.Errorf("log = %q, want no %q", log, tt.notLog)
			}
			assertNoContainer(t, cli, name)
		})
	}
}

func TestTestCanceled(t *testing.T) {
	cli := testenv.Docker(t)
	img := testImage(t, cli)
	name := testenv.Name(t, "slipway-test")
	log := &syncBuffer{}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- builder.New(cli, builder.ModeAuto).Test(ctx, builder.TestOptions{
			Image:   img,
			Command: []string{"sleep", "60"},
			Name:    name,
		}, log)
	}()
	deadline := time.After(30 * time.Second)
	for !strings.Contains(log.String(), "sleeping") {
		select {
		case err := <-done:
			t.Fatalf("Test returned before the command ran: %v", err)
		case <-deadline:
			cancel()
			<-done
			t.Fatalf("the command did not start within 30s; log: %q", log)
		case <-time.After(50 * time.Millisecond):
		}
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Test error = %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Test did not return within 30s of the cancel")
	}
	assertNoContainer(t, cli, name)
}

// Command slipway is the self-hosted image builder: `serve` runs the service,
// `build` runs one build now, `validate` checks a config file, `tags` prints
// what a build would push, `import-hub` translates Docker Hub build settings
// into a project and `version` prints the version.
//
// This package only parses flags and wires packages together; every decision
// lives in the packages it calls.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/deploy/probe"
	"github.com/slipwayci/slipway/pipeline"
	"github.com/slipwayci/slipway/registry"
	"github.com/slipwayci/slipway/server"
	"github.com/slipwayci/slipway/store"
)

// version is set at link time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

const usage = `usage:
  slipway serve    [--config FILE]
  slipway build    [--config FILE] PROJECT [--ref REF] [--commit SHA] [--no-push] [--no-deploy] [--json]
  slipway deploy   [--config FILE] PROJECT --tag TAG [--target NAME] [--json]
  slipway validate [--config FILE]
  slipway tags     [--config FILE] PROJECT (--ref REF | --schedule NAME) [--at RFC3339] [--commit SHA]
  slipway import-hub [FILE]   (Docker Hub build settings, YAML or JSON; stdin without FILE)
  slipway migrate  --from sqlite:DATA_DIR --to postgres://USER@HOST/DB   (copy into an empty PostgreSQL)
  slipway probe    URL [--status N] [--timeout D]   (a deploy's HTTP check; deploys run it in a container)
  slipway version

--config defaults to $SLIPWAY_CONFIG, then ./slipway.yaml.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runWithInput(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one subcommand with no standard input and returns the
// process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runWithInput(ctx, args, strings.NewReader(""), stdout, stderr)
}

// runWithInput executes one subcommand reading stdin and returns the
// process exit code.
func runWithInput(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, args := args[0], args[1:]
	var err error
	switch cmd {
	case "build":
		err = cmdBuild(ctx, args, stdout, stderr)
	case "deploy":
		err = cmdDeploy(ctx, args, stdout, stderr)
	case "validate":
		err = cmdValidate(ctx, args, stdout, stderr)
	case "tags":
		err = cmdTags(ctx, args, stdout, stderr)
	case "import-hub":
		err = cmdImportHub(args, stdin, stdout, stderr)
	case "serve":
		err = cmdServe(ctx, args, stderr)
	case "migrate":
		err = cmdMigrate(ctx, args, stdout, stderr)
	case "probe":
		return probe.Main(ctx, args, stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "slipway", versionString())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "slipway: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "slipway %s: %v\n\n%s", cmd, err, usage)
		return 2
	case errors.Is(err, errQuiet):
		return 1
	default:
		fmt.Fprintf(stderr, "slipway %s: %v\n", cmd, err)
		return 1
	}
}

// errQuiet marks a failure already reported to the user.
var errQuiet = errors.New("failed")

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// parseInterspersed parses flags that may come before or after positional
// arguments, as the docker CLI allows (`build web --ref main`).
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usageError{err.Error()}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func newFlagSet(name string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := fs.String("config", "", "config file (default $SLIPWAY_CONFIG, then ./slipway.yaml)")
	return fs, cfg
}

func configPath(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if env := os.Getenv("SLIPWAY_CONFIG"); env != "" {
		return env
	}
	return "slipway.yaml"
}

// loadConfig is the one way every command loads its config: config's own
// validation (Docker Hub build rules included) and the tag rules rendered
// by registry, each problem with its file:line and key path. `serve`
// therefore refuses exactly what `validate` refuses.
func loadConfig(flagValue string) (*config.Config, error) {
	return config.Load(configPath(flagValue), registry.CheckConfig)
}

func cmdValidate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cfgFlag := newFlagSet("validate", stderr)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", pos[0])}
	}
	cfg, err := loadConfig(*cfgFlag)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return errQuiet
	}
	warnSecretArgsInRun(ctx, cfg, stderr)
	fmt.Fprintf(stdout, "%s: ok (%d projects)\n", cfg.Path, len(cfg.Projects))
	return nil
}

// warnSecretArgsInRun warns, on stderr, about each secret_build_args key
// whose value a RUN step would record in the pushed image's history, for
// every project that has such args (its default branch is cloned into a
// temporary directory to read the Dockerfile). Warnings never fail
// validate; a Dockerfile that cannot be read is a warning too.
func warnSecretArgsInRun(ctx context.Context, cfg *config.Config, stderr io.Writer) {
	for i := range cfg.Projects {
		p := &cfg.Projects[i]
		if len(p.SecretBuildArgs) == 0 {
			continue
		}
		key := fmt.Sprintf("projects[%d].secret_build_args", i)
		uses, err := pipeline.SecretArgsInRun(ctx, cfg, p)
		if err != nil {
			fmt.Fprintf(stderr, "%s: warning: %s: cannot check the Dockerfile for RUN steps that record these args in the image history: %v\n", cfg.Path, key, err)
			continue
		}
		for _, u := range uses {
			fmt.Fprintf(stderr, "%s: warning: %s.%s: %s of %s, so the value is in the pushed image's history (docker history --no-trunc shows it): declare the ARG only in a builder stage the image does not build FROM, and COPY --from that stage what it made\n",
				cfg.Path, key, u.Name, u, path.Join(p.Context, p.Dockerfile))
		}
	}
}

func cmdBuild(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cfgFlag := newFlagSet("build", stderr)
	ref := fs.String("ref", "", "branch (main) or full ref (refs/tags/v1.2.3) to build (default: the project's default_branch)")
	commit := fs.String("commit", "", "exact commit to build (must be on --ref)")
	noPush := fs.Bool("no-push", false, "build and test, push nothing")
	noDeploy := fs.Bool("no-deploy", false, "push, but deploy nothing")
	asJSON := fs.Bool("json", false, "print the build result as JSON on stdout")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"build takes exactly one PROJECT"}
	}
	cfg, err := loadConfig(*cfgFlag)
	if err != nil {
		return err
	}
	logger := newLogger(stderr)
	svc, err := pipeline.Open(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer svc.Close()
	start := time.Now()
	progress := &progressWriter{w: stderr, start: start}
	b, buildErr := svc.BuildNow(ctx, pipeline.BuildRequest{
		Project: pos[0], Ref: *ref, Commit: *commit, NoPush: *noPush, NoDeploy: *noDeploy,
	}, progress)
	if *asJSON {
		if err := printJSON(stdout, b); err != nil {
			return err
		}
	}
	if buildErr != nil {
		if b.ID != 0 {
			fmt.Fprintf(stderr, "slipway build: build %d %s: %v\n", b.ID, b.Status, buildErr)
			return errQuiet
		}
		return buildErr
	}
	fmt.Fprintf(stderr, "slipway build: build %d succeeded in %s: %s %v %s\n", b.ID, time.Since(start).Round(time.Millisecond), b.Image, b.Tags, b.Digest)
	return nil
}

func cmdDeploy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cfgFlag := newFlagSet("deploy", stderr)
	tag := fs.String("tag", "", "image tag in the registry to roll out (required)")
	target := fs.String("target", "", "only this deploy target (default: every binding of the project)")
	asJSON := fs.Bool("json", false, "print the result as JSON on stdout")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *tag == "" {
		return usageError{"deploy takes one PROJECT and --tag TAG"}
	}
	cfg, err := loadConfig(*cfgFlag)
	if err != nil {
		return err
	}
	svc, err := pipeline.Open(ctx, cfg, newLogger(stderr))
	if err != nil {
		return err
	}
	defer svc.Close()
	b, err := svc.Redeploy(ctx, pos[0], *tag, *target, &progressWriter{w: stderr, start: time.Now()})
	if *asJSON {
		if jerr := printJSON(stdout, b); jerr != nil {
			return jerr
		}
	}
	if err != nil && b.ID != 0 {
		fmt.Fprintf(stderr, "slipway deploy: %v\n", err)
		return errQuiet
	}
	return err
}

func printJSON(w io.Writer, b store.Build) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if b.Tags == nil {
		b.Tags = []string{}
	}
	if b.Stages == nil {
		b.Stages = []store.Stage{}
	}
	if b.Deploys == nil {
		b.Deploys = []store.Deploy{}
	}
	return enc.Encode(b)
}

func cmdServe(ctx context.Context, args []string, stderr io.Writer) error {
	fs, cfgFlag := newFlagSet("serve", stderr)
	grace := fs.Duration("grace", 30*time.Second, "how long running builds may finish after SIGTERM")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", pos[0])}
	}
	cfg, err := loadConfig(*cfgFlag)
	if err != nil {
		return err
	}
	return server.Run(ctx, cfg, newLogger(stderr), server.Options{Grace: *grace})
}

// newLogger returns the process logger: JSON by default, console lines when
// stderr is a terminal.
func newLogger(w io.Writer) zerolog.Logger {
	if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	}
	return zerolog.New(w).With().Timestamp().Logger()
}

// progressWriter prefixes each line of the build log echoed on stderr with
// the elapsed time.
type progressWriter struct {
	w       io.Writer
	start   time.Time
	midLine bool
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		if !p.midLine {
			fmt.Fprintf(p.w, "[%6.1fs] ", time.Since(p.start).Seconds())
		}
		i := indexByte(b, '\n')
		if i < 0 {
			p.w.Write(b)
			p.midLine = true
			break
		}
		p.w.Write(b[:i+1])
		p.midLine = false
		b = b[i+1:]
	}
	return n, nil
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

func versionString() string {
	v := version
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 7 {
				v += " (" + s.Value[:7] + ")"
			}
		}
		v += " " + info.GoVersion
	}
	return v
}

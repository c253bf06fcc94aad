// Command slipway is the self-hosted image builder: `serve` runs the service,
// `build` runs one build now, `validate` checks a config file, `tags` prints
// what a build would push, `import-hub` translates Docker Hub build settings
// into a project, the client commands (`builds`, `logs`, `start`, ...) talk
// to a running server and `version` prints the version.
//
// This package only declares the commands and their flags (spf13/cobra) and
// wires packages together; every decision lives in the packages it calls.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/internal/buildinfo"
	"github.com/slipwayci/slipway/registry"
)

// version is set at link time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runWithInput(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command line with no standard input and returns the
// process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runWithInput(ctx, args, strings.NewReader(""), stdout, stderr)
}

// streams is what the commands read and write, and their environment.
type streams struct {
	in          io.Reader
	out, errOut io.Writer
	getenv      func(string) string
}

// runWithInput executes one command line reading stdin and returns the
// process exit code: 0 on success, 1 when the command failed, 2 for a
// usage error (unknown command or flag, wrong arguments).
func runWithInput(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return execute(ctx, args, streams{in: stdin, out: stdout, errOut: stderr, getenv: os.Getenv})
}

// execute runs the command line args with s and returns the exit code.
func execute(ctx context.Context, args []string, s streams) int {
	stderr := s.errOut
	root := newRoot(s)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	var ue usageError
	var ec exitCode
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ec):
		return int(ec)
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "%s: %v\nRun '%s --help' for usage.\n", cmd.CommandPath(), err, cmd.CommandPath())
		return 2
	case errors.Is(err, errQuiet):
		return 1
	default:
		fmt.Fprintf(stderr, "%s: %v\n", cmd.CommandPath(), err)
		return 1
	}
}

// newRoot declares every command.
func newRoot(s streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "slipway",
		Short: "Build, test, push and deploy Docker images from git",
		Long: `slipway builds images from git repositories, tests them, pushes their tags and
rolls them out on Docker Swarm. 'slipway serve' runs the service; the other
commands check a config, run one build here, or talk to a running server.

--config defaults to $SLIPWAY_CONFIG, then ./slipway.yaml.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		// Unknown flags are the subcommand's business: `slipway buidl
		// --config x` is an unknown command, not an unknown flag.
		FParseErrWhitelist: cobra.FParseErrWhitelist{UnknownFlags: true},
		Args:               subcommandArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SetOut(s.errOut)
			cmd.Usage()
			return exitCode(2)
		},
		SuggestionsMinimumDistance: 2,
		Version:                    buildinfo.Read(version).String(),
	}
	root.SetVersionTemplate("slipway {{.Version}}\n")
	root.SetIn(s.in)
	root.SetOut(s.out)
	root.SetErr(s.errOut)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err.Error()} })
	root.SetHelpCommand(helpCommand())
	root.AddGroup(
		&cobra.Group{ID: "local", Title: "Commands that run here:"},
		&cobra.Group{ID: "client", Title: "Commands for a running server (--server or $SLIPWAY_SERVER, --token-file or $SLIPWAY_TOKEN):"},
	)
	root.SetHelpCommandGroupID("local")
	root.SetCompletionCommandGroupID("local")
	for _, c := range []*cobra.Command{
		serveCommand(s), buildCommand(s), deployCommand(s), validateCommand(s), tagsCommand(s),
		importHubCommand(s), migrateCommand(s), backupCommand(s), probeCommand(s), versionCommand(s),
	} {
		c.GroupID = "local"
		root.AddCommand(c)
	}
	for _, c := range clientCommands(s) {
		c.GroupID = "client"
		root.AddCommand(c)
	}
	// Each Use line shows the command's flags itself.
	var noFlagsInUse func(*cobra.Command)
	noFlagsInUse = func(c *cobra.Command) {
		c.DisableFlagsInUseLine = true
		for _, sub := range c.Commands() {
			noFlagsInUse(sub)
		}
	}
	noFlagsInUse(root)
	return root
}

// subcommandArgs refuses an unknown subcommand with the closest names.
func subcommandArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	return usageError{fmt.Sprintf("unknown command %q%s", args[0], suggest(cmd, args[0]))}
}

// suggest is ", did you mean X?" for the subcommands of cmd close to typed.
func suggest(cmd *cobra.Command, typed string) string {
	s := cmd.SuggestionsFor(typed)
	if len(s) == 0 {
		return ""
	}
	return fmt.Sprintf("; did you mean %s?", strings.Join(s, " or "))
}

// helpCommand is `slipway help [COMMAND...]`: the command's help on stdout,
// or a usage error naming an unknown one.
func helpCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "help [COMMAND]",
		Short: "Help about any command",
		RunE: func(c *cobra.Command, args []string) error {
			cmd := c.Root()
			for _, name := range args {
				next, _, err := cmd.Find([]string{name})
				if err != nil || next == cmd {
					return usageError{fmt.Sprintf("unknown help topic %q%s", name, suggest(cmd, name))}
				}
				cmd = next
			}
			cmd.InitDefaultHelpFlag()
			return cmd.Help()
		},
	}
}

// errQuiet marks a failure already reported to the user.
var errQuiet = errors.New("failed")

// usageError is a command line that is wrong: exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// exitCode ends the process with that code, the command having said why.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit code %d", int(e)) }

// args checks the number of positional arguments: n exactly, or at most
// -n when n is negative; msg is the usage error otherwise.
func args(n int, msg string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if n >= 0 && len(args) != n || n < 0 && len(args) > -n {
			return usageError{msg}
		}
		return nil
	}
}

// noArgs refuses any positional argument.
func noArgs(_ *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", args[0])}
	}
	return nil
}

// configFlag adds --config to cmd and returns its value.
func configFlag(cmd *cobra.Command) *string {
	return cmd.Flags().String("config", "", "config file (default $SLIPWAY_CONFIG, then ./slipway.yaml)")
}

// completeProject completes the PROJECT argument with the names of the
// config's projects (read offline: no secret file is read).
func completeProject(cfgFlag *string) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		cfg, err := config.LoadOffline(config.ResolvePath(*cfgFlag))
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		names := make([]string, len(cfg.Projects))
		for i, p := range cfg.Projects {
			names[i] = p.Name
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}

// loadConfig is the one way every command loads its config: config's own
// validation (Docker Hub build rules included) and the tag rules rendered
// by registry, each problem with its file:line and key path. `serve`
// therefore refuses exactly what `validate` refuses.
func loadConfig(flagValue string) (*config.Config, error) {
	return config.Load(config.ResolvePath(flagValue), registry.CheckConfig)
}

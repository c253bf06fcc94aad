package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/slipwayci/slipway/basewatch"
	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/deploy/probe"
	"github.com/slipwayci/slipway/internal/buildinfo"
	"github.com/slipwayci/slipway/internal/logging"
	"github.com/slipwayci/slipway/internal/progress"
	"github.com/slipwayci/slipway/pipeline"
	"github.com/slipwayci/slipway/registry"
	"github.com/slipwayci/slipway/server"
	"github.com/slipwayci/slipway/store"
)

func serveCommand(s streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve [--config FILE] [--grace 30s] [--log-level info] [--log-format json|console]",
		Short: "Run the service: webhooks, schedules, API, dashboard and the build workers",
		Args:  noArgs,
	}
	cfgFlag := configFlag(cmd)
	grace := cmd.Flags().Duration("grace", 30*time.Second, "how long running builds may finish after SIGTERM")
	var logOpts logging.Options
	cmd.Flags().StringVar(&logOpts.Level, "log-level", "info", "least severe log level written: debug, info, warn or error")
	cmd.Flags().StringVar(&logOpts.Format, "log-format", "auto", "log lines as json or console (auto: console on a terminal, else json)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		logger, err := logging.New(s.errOut, logOpts)
		if err != nil {
			return usageError{err.Error()}
		}
		cfg, err := loadConfig(*cfgFlag)
		if err != nil {
			return err
		}
		return server.Run(cmd.Context(), cfg, logger, server.Options{Grace: *grace, Version: buildinfo.Read(version).String()})
	}
	return cmd
}

func buildCommand(s streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "build [--config FILE] PROJECT [--ref REF] [--commit SHA] [--no-push] [--no-deploy] [--json]",
		Short: "Build, test, push and deploy one project now, here (exit 0 only when every stage succeeded)",
		Args:  args(1, "build takes exactly one PROJECT"),
	}
	cfgFlag := configFlag(cmd)
	cmd.ValidArgsFunction = completeProject(cfgFlag)
	ref := cmd.Flags().String("ref", "", "branch (main) or full ref (refs/tags/v1.2.3) to build (default: the project's default_branch)")
	commit := cmd.Flags().String("commit", "", "exact commit to build (must be on --ref)")
	noPush := cmd.Flags().Bool("no-push", false, "build and test, push nothing")
	noDeploy := cmd.Flags().Bool("no-deploy", false, "push, but deploy nothing")
	asJSON := cmd.Flags().Bool("json", false, "print the build result as JSON on stdout")
	show := addProgressFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, pos []string) error {
		display, err := show.display(s)
		if err != nil {
			return err
		}
		defer display.Close()
		svc, err := openService(cmd.Context(), *cfgFlag, s.errOut)
		if err != nil {
			return err
		}
		defer svc.Close()
		b, buildErr := svc.BuildNow(cmd.Context(), pipeline.BuildRequest{
			Project: pos[0], Ref: *ref, Commit: *commit, NoPush: *noPush, NoDeploy: *noDeploy,
		}, display)
		display.Close()
		if *asJSON {
			if err := printBuild(s.out, b); err != nil {
				return err
			}
		}
		if buildErr != nil && b.ID == 0 {
			return buildErr
		}
		fmt.Fprintln(s.errOut, progress.Summary(b, buildErr, display.Elapsed()))
		if buildErr != nil {
			return errQuiet
		}
		return nil
	}
	return cmd
}

func deployCommand(s streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "deploy [--config FILE] PROJECT --tag TAG [--target NAME] [--json]",
		Short: "Roll an image tag of a project out on its deploy targets now",
		Args:  args(1, "deploy takes one PROJECT and --tag TAG"),
	}
	cfgFlag := configFlag(cmd)
	cmd.ValidArgsFunction = completeProject(cfgFlag)
	tag := cmd.Flags().String("tag", "", "image tag in the registry to roll out (required)")
	target := cmd.Flags().String("target", "", "only this deploy target (default: every binding of the project)")
	asJSON := cmd.Flags().Bool("json", false, "print the result as JSON on stdout")
	show := addProgressFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, pos []string) error {
		if *tag == "" {
			return usageError{"deploy takes one PROJECT and --tag TAG"}
		}
		display, err := show.display(s)
		if err != nil {
			return err
		}
		defer display.Close()
		svc, err := openService(cmd.Context(), *cfgFlag, s.errOut)
		if err != nil {
			return err
		}
		defer svc.Close()
		b, err := svc.Redeploy(cmd.Context(), pos[0], *tag, *target, display)
		display.Close()
		if *asJSON {
			if jerr := printBuild(s.out, b); jerr != nil {
				return jerr
			}
		}
		if err != nil && b.ID != 0 {
			fmt.Fprintf(s.errOut, "slipway deploy: %v\n", err)
			return errQuiet
		}
		return err
	}
	return cmd
}

func validateCommand(s streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "validate [--config FILE] [--offline]",
		Short: "Check a config file: every problem with its file:line and key path",
		Args:  noArgs,
	}
	cfgFlag := configFlag(cmd)
	offline := cmd.Flags().Bool("offline", false, "check the file alone: read no *_file secret or other file it names, clone nothing (a stack's config before deploy)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if *offline {
			cfg, err := config.LoadOffline(config.ResolvePath(*cfgFlag), registry.CheckConfig)
			if err != nil {
				fmt.Fprintln(s.errOut, err)
				return errQuiet
			}
			fmt.Fprintf(s.out, "%s: ok (%d projects; offline: the files it names and the repositories were not checked)\n", cfg.Path, len(cfg.Projects))
			return nil
		}
		cfg, err := loadConfig(*cfgFlag)
		if err != nil {
			fmt.Fprintln(s.errOut, err)
			return errQuiet
		}
		for _, w := range pipeline.SecretArgWarnings(cmd.Context(), cfg) {
			fmt.Fprintln(s.errOut, w)
		}
		for _, w := range pipeline.BuildKitWarnings(cfg, os.LookupEnv) {
			fmt.Fprintln(s.errOut, w)
		}
		warnings, err := basewatch.CheckChains(cmd.Context(), cfg)
		for _, w := range warnings {
			fmt.Fprintln(s.errOut, w)
		}
		if err != nil {
			fmt.Fprintln(s.errOut, err)
			return errQuiet
		}
		fmt.Fprintf(s.out, "%s: ok (%d projects)\n", cfg.Path, len(cfg.Projects))
		return nil
	}
	return cmd
}

func versionCommand(s streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "version [--json]",
		Short: "Print the version",
		Args:  noArgs,
	}
	asJSON := cmd.Flags().Bool("json", false, `print {"version", "commit", "go"} as JSON`)
	cmd.RunE = func(*cobra.Command, []string) error {
		info := buildinfo.Read(version)
		if *asJSON {
			return printJSON(s.out, info)
		}
		_, err := fmt.Fprintln(s.out, "slipway", info)
		return err
	}
	return cmd
}

func probeCommand(s streams) *cobra.Command {
	return &cobra.Command{
		Use:   "probe URL [-status N] [-timeout D]",
		Short: "Check a deployed service over HTTP (deploys run it in a container)",
		// probe parses its own flags: it is also cmd/slipway-probe.
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if code := probe.Main(cmd.Context(), args, s.out, s.errOut); code != 0 {
				return exitCode(code)
			}
			return nil
		},
	}
}

// progressFlags are --progress and --verbose of build and deploy.
type progressFlags struct {
	mode    string
	verbose bool
}

func addProgressFlags(cmd *cobra.Command) *progressFlags {
	f := &progressFlags{}
	cmd.Flags().StringVar(&f.mode, "progress", "auto", "progress display: tty (a live line with the running stage), plain (a heartbeat line after 30s of silence), auto (tty on a terminal)")
	cmd.Flags().BoolVar(&f.verbose, "verbose", false, "show every push line (each layer), not one per tag")
	return f
}

// display starts the build log's display on s.errOut.
func (f *progressFlags) display(s streams) (*progress.Display, error) {
	o := progress.Options{Verbose: f.verbose}
	switch f.mode {
	case "auto":
		file, ok := s.errOut.(*os.File)
		o.TTY = ok && isatty.IsTerminal(file.Fd())
	case "tty":
		o.TTY = true
	case "plain":
	default:
		return nil, usageError{fmt.Sprintf("--progress %q: want auto, tty or plain", f.mode)}
	}
	return progress.New(s.errOut, o), nil
}

// openService opens the pipeline of the config for a build or deploy run
// here, logging to w.
func openService(ctx context.Context, cfgFlag string, w io.Writer) (*pipeline.Service, error) {
	cfg, err := loadConfig(cfgFlag)
	if err != nil {
		return nil, err
	}
	// Warnings only: the build's own log is the progress shown.
	logger, err := logging.New(w, logging.Options{Level: "warn"})
	if err != nil {
		return nil, err
	}
	return pipeline.Open(ctx, cfg, logger)
}

// printBuild prints b as the build result JSON of the API.
func printBuild(w io.Writer, b store.Build) error { return printJSON(w, store.Result(b)) }

// printJSON prints v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/slipwayci/slipway/client"
	"github.com/slipwayci/slipway/internal/format"
	"github.com/slipwayci/slipway/pipeline"
)

// clientCommands are the commands that talk to a running server.
func clientCommands(s streams) []*cobra.Command {
	return []*cobra.Command{
		buildsCommand(s), logsCommand(s), startCommand(s), cancelCommand(s), scheduleCommand(s), deploymentsCommand(s),
	}
}

// serverFlags are --server and --token-file of a client command.
type serverFlags struct {
	server, tokenFile string
}

func addServerFlags(cmd *cobra.Command) *serverFlags {
	f := &serverFlags{}
	cmd.Flags().StringVar(&f.server, "server", "", "URL of the slipway server (default $SLIPWAY_SERVER)")
	cmd.Flags().StringVar(&f.tokenFile, "token-file", "", "file holding an API token of the server's api_tokens_file (default: the token in $SLIPWAY_TOKEN)")
	return f
}

// client is the API client of the flags, the environment filling in what
// they leave out.
func (f *serverFlags) client(s streams) (*client.Client, error) {
	server := f.server
	if server == "" {
		server = s.getenv("SLIPWAY_SERVER")
	}
	token, err := client.Token(f.tokenFile, s.getenv("SLIPWAY_TOKEN"))
	if err != nil {
		return nil, err
	}
	return client.New(server, token)
}

// outputFlags are --json and --format.
type outputFlags struct {
	json     bool
	template string
}

func addOutputFlags(cmd *cobra.Command) *outputFlags {
	f := &outputFlags{}
	cmd.Flags().BoolVar(&f.json, "json", false, "print the result as JSON")
	cmd.Flags().StringVar(&f.template, "format", "", "format with a Go template, as docker does: '{{.ID}} {{.Status}}', '{{json .}}', 'table {{.ID}}\\t{{.Status}}', json")
	return f
}

func (f *outputFlags) options(table []format.Column) format.Options {
	return format.Options{JSON: f.json, Template: f.template, Table: table}
}

// buildColumns is the default table of builds.
var buildColumns = []format.Column{
	{Header: "ID", Template: "{{.ID}}"},
	{Header: "PROJECT", Template: "{{.Project}}"},
	{Header: "REF", Template: "{{short .Ref}}"},
	{Header: "COMMIT", Template: "{{short .Commit}}"},
	{Header: "TRIGGER", Template: "{{.Trigger}}"},
	{Header: "STATUS", Template: "{{.Status}}"},
	{Header: "CREATED", Template: "{{ago .CreatedAt}}"},
	{Header: "DURATION", Template: "{{duration .StartedAt .FinishedAt}}"},
}

func buildsCommand(s streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "builds [ls] [--project NAME] [--status STATUS] [--limit N]",
		Short: "List a server's builds, newest first",
		Args:  subcommandArgs,

		SuggestionsMinimumDistance: 2,
	}
	srv := addServerFlags(cmd)
	out := addOutputFlags(cmd)
	var filter client.Filter
	cmd.Flags().StringVar(&filter.Project, "project", "", "only this project's builds")
	cmd.Flags().StringVar(&filter.Status, "status", "", "only builds with this status: queued, running, succeeded, failed, canceled, superseded")
	cmd.Flags().IntVar(&filter.Limit, "limit", 0, "at most N builds (default: the server's, 50)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := srv.client(s)
		if err != nil {
			return err
		}
		builds, err := c.Builds(cmd.Context(), filter)
		if err != nil {
			return err
		}
		return format.Write(s.out, builds, out.options(buildColumns))
	}
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List a server's builds (as builds)",
		Args:  noArgs,
		RunE:  cmd.RunE,
	}
	ls.Flags().AddFlagSet(cmd.Flags())
	cmd.AddCommand(ls)
	return cmd
}

func logsCommand(s streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "logs ID [-f]",
		Short: "Print a build's log; -f follows it until the build ends",
		Args:  args(1, "logs takes one build ID"),
	}
	srv := addServerFlags(cmd)
	follow := cmd.Flags().BoolP("follow", "f", false, "follow the log until the build ends")
	cmd.RunE = func(cmd *cobra.Command, pos []string) error {
		id, err := buildID(pos[0])
		if err != nil {
			return err
		}
		c, err := srv.client(s)
		if err != nil {
			return err
		}
		return c.Log(cmd.Context(), id, *follow, s.out)
	}
	return cmd
}

func startCommand(s streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "start PROJECT [--ref REF]",
		Short: "Queue a build of a project on a server",
		Args:  args(1, "start takes one PROJECT"),
	}
	srv := addServerFlags(cmd)
	out := addOutputFlags(cmd)
	ref := cmd.Flags().String("ref", "", "branch (main) or full ref (refs/tags/v1.2.3) to build (default: the project's default_branch)")
	cmd.RunE = func(cmd *cobra.Command, pos []string) error {
		c, err := srv.client(s)
		if err != nil {
			return err
		}
		b, err := c.Start(cmd.Context(), pos[0], *ref)
		if err != nil {
			return err
		}
		return format.WriteOne(s.out, b, out.options(buildColumns))
	}
	return cmd
}

func cancelCommand(s streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cancel ID",
		Short: "Cancel a queued or running build on a server",
		Args:  args(1, "cancel takes one build ID"),
	}
	srv := addServerFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, pos []string) error {
		id, err := buildID(pos[0])
		if err != nil {
			return err
		}
		c, err := srv.client(s)
		if err != nil {
			return err
		}
		if err := c.Cancel(cmd.Context(), id); err != nil {
			return err
		}
		_, err = fmt.Fprintf(s.out, "build %d: cancel requested\n", id)
		return err
	}
	return cmd
}

func scheduleCommand(s streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schedule run PROJECT NAME",
		Short: "Run a project's schedule now on a server",
		Args:  subcommandArgs,

		SuggestionsMinimumDistance: 2,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SetOut(s.errOut)
			cmd.Usage()
			return exitCode(2)
		},
	}
	run := &cobra.Command{
		Use:   "run PROJECT NAME",
		Short: "Queue a schedule's release now, tagged as at its time",
		Args:  args(2, "schedule run takes PROJECT and the schedule's NAME"),
	}
	srv := addServerFlags(run)
	out := addOutputFlags(run)
	run.RunE = func(cmd *cobra.Command, pos []string) error {
		c, err := srv.client(s)
		if err != nil {
			return err
		}
		b, err := c.RunSchedule(cmd.Context(), pos[0], pos[1])
		if err != nil {
			return err
		}
		return format.WriteOne(s.out, b, out.options(buildColumns))
	}
	cmd.AddCommand(run)
	return cmd
}

// deploymentColumns is the default table of deployments.
var deploymentColumns = []format.Column{
	{Header: "TARGET", Template: "{{.Target}}"},
	{Header: "STACK", Template: "{{.Stack}}"},
	{Header: "SERVICE", Template: "{{.Service}}"},
	{Header: "DIGEST", Template: "{{short .Digest}}"},
	{Header: "BUILD", Template: "{{if .Build}}{{.Build}}{{end}}"},
	{Header: "COMMIT", Template: "{{short .Commit}}"},
	{Header: "SINCE", Template: "{{ago .Since}}"},
	{Header: "NOTE", Template: "{{.Note}}"},
}

func deploymentsCommand(s streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "deployments",
		Short: "List what each deployed service runs, per target and stack",
		Args:  noArgs,
	}
	srv := addServerFlags(cmd)
	out := addOutputFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := srv.client(s)
		if err != nil {
			return err
		}
		states, err := c.Deployments(cmd.Context())
		if err != nil {
			return err
		}
		return format.Write[pipeline.ServiceState](s.out, states, out.options(deploymentColumns))
	}
	return cmd
}

// buildID parses a build ID argument.
func buildID(s string) (int64, error) {
	id, err := strconv.ParseInt(strings.TrimPrefix(s, "#"), 10, 64)
	if err != nil || id <= 0 {
		return 0, usageError{fmt.Sprintf("build ID %q: want a number such as 42", s)}
	}
	return id, nil
}

package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/slipwayci/slipway/internal/gitref"
	"github.com/slipwayci/slipway/pipeline"
	"github.com/slipwayci/slipway/store"
)

func tagsCommand(s streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tags [--config FILE] PROJECT (--ref REF | --schedule NAME) [--at RFC3339] [--commit SHA]",
		Short: "Print the image references a build would push, one per line",
		Args:  args(1, "tags takes exactly one PROJECT"),
	}
	cfgFlag := configFlag(cmd)
	cmd.ValidArgsFunction = completeProject(cfgFlag)
	ref := cmd.Flags().String("ref", "", "branch or tag ref (main, refs/heads/main, refs/tags/v1.2.3)")
	schedule := cmd.Flags().String("schedule", "", "schedule name: the tags of its release")
	at := cmd.Flags().String("at", "", "the schedule's due time, RFC3339 (default now)")
	commit := cmd.Flags().String("commit", "", "commit whose short form appears in tags (default: none, so no sha tags)")
	cmd.RunE = func(cmd *cobra.Command, pos []string) error {
		return printTags(cmd.Context(), s.out, *cfgFlag, pos[0], *ref, *schedule, *at, *commit)
	}
	return cmd
}

func printTags(ctx context.Context, stdout io.Writer, cfgFlag, project, ref, schedule, at, commit string) error {
	if (ref == "") == (schedule == "") {
		return usageError{"give exactly one of --ref or --schedule"}
	}
	var due time.Time
	var err error
	if at != "" {
		if schedule == "" {
			return usageError{"--at goes with --schedule"}
		}
		due, err = time.Parse(time.RFC3339, at)
		if err != nil {
			return usageError{fmt.Sprintf("--at %q: want RFC3339 such as 2026-11-23T03:00:00Z", at)}
		}
	}
	cfg, err := loadConfig(cfgFlag)
	if err != nil {
		return err
	}
	t := pipeline.Trigger{Kind: store.TriggerManual, Project: project, Ref: gitref.Parse(ref), Commit: commit, Schedule: schedule, Due: due}
	if schedule != "" {
		t.Kind = store.TriggerSchedule
	}
	plan, err := pipeline.Preview(ctx, cfg, t, time.Now())
	if err != nil {
		return err
	}
	for _, r := range plan.Refs() {
		fmt.Fprintln(stdout, r)
	}
	return nil
}
